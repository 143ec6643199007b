#!/usr/bin/env bash
# Remove exactly what install.sh installed, as listed in its manifest.
set -euo pipefail
data=${XDG_DATA_HOME:-$HOME/.local/share}
appdir=$data/maml-studio
manifest=$appdir/installed.txt
quiet=${1:-}
if [ ! -f "$manifest" ]; then
  echo "MAML Studio is not installed here (no $manifest)." >&2
  exit 1
fi
folders=()
while read -r kind path; do
  case "$kind" in
    dir) rm -rf -- "$path" ;;
    file) rm -f -- "$path" ;;
    folder) folders+=("$path") ;;
  esac
done < "$manifest"
rm -f -- "$manifest"
for folder in "${folders[@]}"; do
  rmdir -- "$folder" 2>/dev/null || true  # kept if something else lives there now
done
[ "$quiet" = "--quiet" ] || echo "Removed MAML Studio."
