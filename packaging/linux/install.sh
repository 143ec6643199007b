#!/usr/bin/env bash
# Install MAML Studio for the current user (no root needed).
#   bundle    $XDG_DATA_HOME/maml-studio/bundle   (default ~/.local/share)
#   launcher  ~/.local/bin/maml-studio
#   menu      $XDG_DATA_HOME/applications/io.github.mamlstudio.MAMLStudio.desktop
#   icons     $XDG_DATA_HOME/icons/hicolor/*/apps/io.github.mamlstudio.MAMLStudio.*
#   metadata  $XDG_DATA_HOME/metainfo/io.github.mamlstudio.MAMLStudio.metainfo.xml
# Every file and folder it creates is listed in $XDG_DATA_HOME/maml-studio/installed.txt,
# which uninstall.sh reads to remove exactly those.
set -euo pipefail
APP_ID=io.github.mamlstudio.MAMLStudio
src=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=${MAML_STUDIO_BIN_DIR:-$HOME/.local/bin}
appdir=$data/maml-studio
manifest=$appdir/installed.txt

if [ -f "$manifest" ]; then
  echo "Replacing the installed MAML Studio…"
  bash "$appdir/uninstall.sh" --quiet
fi

created=()
make_dir() {  # mkdir -p, remembering each folder that did not exist before
  local dir=$1 missing=()
  while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir=$(dirname "$dir"); done
  for dir in "${missing[@]}"; do mkdir "$dir"; created+=("$dir"); done
}
files=()
put() {  # put SOURCE TARGET: copy a file, remembering it
  make_dir "$(dirname "$2")"
  cp "$1" "$2"
  files+=("$2")
}

make_dir "$appdir"
cp -a "$src/maml-studio" "$appdir/bundle"
exe=$appdir/bundle/maml-studio
put "$src/uninstall.sh" "$appdir/uninstall.sh"
chmod +x "$appdir/uninstall.sh"

make_dir "$bin"
ln -sf "$exe" "$bin/maml-studio"
files+=("$bin/maml-studio")

make_dir "$data/applications"
sed "s|@EXEC@|$exe|g" "$src/share/applications/$APP_ID.desktop" > "$data/applications/$APP_ID.desktop"
files+=("$data/applications/$APP_ID.desktop")
put "$src/share/metainfo/$APP_ID.metainfo.xml" "$data/metainfo/$APP_ID.metainfo.xml"
while IFS= read -r icon; do
  put "$src/share/icons/$icon" "$data/icons/$icon"
done < <(cd "$src/share/icons" && find . -type f | sed 's|^\./||' | sort)

{
  echo "# MAML Studio install manifest: files, then folders this install created"
  echo "dir $appdir/bundle"
  for f in "${files[@]}"; do echo "file $f"; done
  for (( i=${#created[@]}-1; i>=0; i-- )); do echo "folder ${created[$i]}"; done
} > "$manifest"

echo "Installed MAML Studio in $appdir"
echo "Start it from your applications menu, or run: $bin/maml-studio"
case ":$PATH:" in *":$bin:"*) ;; *) echo "(add $bin to your PATH to run maml-studio by name)";; esac
