"""Opt-in (`pytest -m packaging tests/packaging`): build, install, self-test, uninstall.

Builds the desktop bundle and its archive in a temporary folder (several
minutes), installs it with a temporary HOME, runs the installed app's
--self-test and --version, validates the desktop entry and the metainfo where
the validators are installed, and checks that uninstalling leaves nothing.
"""

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import maml_studio

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.mamlstudio.MAMLStudio"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.packaging
def test_bundle_builds_installs_runs_and_uninstalls(tmp_path):
    build = Path(os.environ.get("MAML_STUDIO_BUILD_DIR", tmp_path / "build"))
    env = {**os.environ, "BUILD_DIR": str(build)}
    subprocess.run(["bash", str(ROOT / "packaging" / "build-linux.sh")], check=True, env=env)
    archives = list(build.glob("maml-studio-*-linux-*.tar.gz"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="tar")
    unpacked = next((tmp_path / "unpacked").iterdir())

    home = tmp_path / "home"
    home.mkdir()
    before = _tree(home)
    user_env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    user_env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen")
    subprocess.run(["bash", str(unpacked / "install.sh")], check=True, env=user_env)

    data = home / ".local" / "share"
    desktop = data / "applications" / f"{APP_ID}.desktop"
    metainfo = data / "metainfo" / f"{APP_ID}.metainfo.xml"
    assert desktop.is_file() and metainfo.is_file()
    assert (data / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    executable = home / ".local" / "bin" / "maml-studio"
    assert f"Exec={data / 'maml-studio' / 'bundle' / 'maml-studio'}" in desktop.read_text()

    version = subprocess.run([str(executable), "--version"], capture_output=True, text=True,
                             env=user_env, check=True)
    assert version.stdout.strip() == f"maml-studio {maml_studio.__version__}"
    self_test = subprocess.run([str(executable), "--self-test"], capture_output=True, text=True,
                               env=user_env, timeout=300)
    assert self_test.returncode == 0, self_test.stdout + self_test.stderr
    assert "6 of 6 checks passed" in self_test.stdout

    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(desktop)], check=True)
    if shutil.which("appstreamcli"):
        subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)], check=True)

    subprocess.run(["bash", str(data / "maml-studio" / "uninstall.sh")], check=True, env=user_env)
    left = _tree(home) - before
    left = {p for p in left if not p.startswith((".config", ".cache"))}  # the app's own settings
    assert not left, f"left behind: {sorted(left)[:20]}"
