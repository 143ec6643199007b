#!/usr/bin/env bash
# Build the MAML Studio desktop bundle and its release archive from a checkout:
#   packaging/build-linux.sh            → build/linux/dist/maml-studio/ and
#                                          build/linux/maml-studio-VERSION-linux-ARCH.tar.gz
# Environment: BUILD_DIR (default build/linux), PYTHON (default python3),
# TORCH_REQUIREMENT (default torch==2.13.0; use a CPU build: where PyPI's default
# is a CUDA build, also set PIP_EXTRA_INDEX_URL to PyTorch's CPU wheel index).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=${BUILD_DIR:-$root/build/linux}
python=${PYTHON:-python3}
app_id=io.github.mamlstudio.MAMLStudio
started=$(date +%s)

mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ]; then
  "$python" -m venv "$work/venv"
fi
pip=("$work/venv/bin/pip" install --quiet --disable-pip-version-check)
"${pip[@]}" "${TORCH_REQUIREMENT:-torch==2.13.0}" "pyinstaller>=6.10"
"${pip[@]}" --force-reinstall --no-deps "$root"
"${pip[@]}" "$root"
version=$("$work/venv/bin/python" -c "import maml_studio; print(maml_studio.__version__)")

echo "rendering icons…"
"$work/venv/bin/python" "$here/render_icons.py" "$root/resources/icons/maml-studio.svg" "$work/icons"

echo "bundling (a few minutes)…"
"$work/venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$work/dist" --workpath "$work/pyinstaller" "$here/maml-studio.spec"

# torch's own libraries carry ~100 MB of symbols; strip them (not numpy's OpenBLAS,
# which stripping breaks, so PyInstaller's own strip option stays off).
if command -v strip >/dev/null; then
  strip --strip-unneeded "$work"/dist/maml-studio/_internal/torch/lib/*.so*
fi

name=maml-studio-$version-linux-$(uname -m)
stage=$work/stage/$name
rm -rf "$work/stage"
mkdir -p "$stage/share/applications" "$stage/share/metainfo" "$stage/share/icons"
cp -a "$work/dist/maml-studio" "$stage/maml-studio"
cp "$here/linux/$app_id.desktop" "$stage/share/applications/"
cp "$here/linux/$app_id.metainfo.xml" "$stage/share/metainfo/"
cp -a "$work/icons/hicolor" "$stage/share/icons/"
cp "$here/linux/install.sh" "$here/linux/uninstall.sh" "$stage/"
chmod +x "$stage/install.sh" "$stage/uninstall.sh"
tar -C "$work/stage" -czf "$work/$name.tar.gz" "$name"

echo "bundle:  $work/dist/maml-studio ($(du -sh "$work/dist/maml-studio" | cut -f1))"
echo "archive: $work/$name.tar.gz ($(du -sh "$work/$name.tar.gz" | cut -f1))"
echo "built in $(( $(date +%s) - started )) s"
