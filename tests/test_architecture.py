"""The engine never imports Qt, its imports form layers without cycles, and the code stays lint-clean."""

import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import maml_studio

ROOT = Path(__file__).resolve().parent.parent
QT_PACKAGES = ("PySide6", "shiboken6", "pyqtgraph")


def engine_modules() -> list[str]:
    """Every top-level module and package of maml_studio except the GUI."""
    return sorted(
        f"maml_studio.{m.name}" for m in pkgutil.iter_modules(maml_studio.__path__)
        if m.name not in ("gui", "__main__")
    )


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed; install the test extra: pip install -e '.[test]'"
    return found


def test_import_linter_contract_covers_every_engine_module():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    assert set(contract["forbidden_modules"]) == set(QT_PACKAGES)
    assert set(contract["source_modules"]) == set(engine_modules()) - {"maml_studio.__main__"}


def layered_modules(layers: list[str]) -> list[str]:
    """The modules of a layers contract, in order; a layer separates siblings by | or :."""
    return [name.strip() for layer in layers for name in re.split(r"[|:]", layer)]


def test_layers_contract_places_every_engine_module_once():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][1]
    assert contract["type"] == "layers" and "containers" not in contract
    listed = layered_modules(contract["layers"])
    twice = sorted({m for m in listed if listed.count(m) > 1})
    assert not twice, f"listed in more than one place: {twice}"
    assert set(listed) == set(engine_modules()), (
        f"place in a layer of pyproject.toml: {sorted(set(engine_modules()) - set(listed))}; "
        f"no longer exist: {sorted(set(listed) - set(engine_modules()))}")


def test_import_linter_contracts_hold():
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_the_whole_engine_loads_no_qt():
    code = (
        "import importlib, sys\n"
        f"for name in {engine_modules()!r}: importlib.import_module(name)\n"
        f"leaked = [m for m in sys.modules if m.split('.')[0] in {QT_PACKAGES!r}]\n"
        "print(leaked); sys.exit(1 if leaked else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
