"""The package as users meet it: imports, public names, the CLI entry, the README's examples."""

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import audiofront

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["audiofront.frontend", "audiofront.export", "audiofront.runtime", "audiofront.models",
               "audiofront.serve", "audiofront.bench"]


def _public_modules():
    names = ["audiofront", "audiofront.errors", "audiofront.cli"]
    for pkg in SUBPACKAGES:
        module = importlib.import_module(pkg)
        names.append(pkg)
        names += [f"{pkg}.{m.name}" for m in pkgutil.iter_modules(module.__path__) if not m.name.startswith("_")]
    return names


def test_subpackages_live_in_their_top_level_folders():
    for pkg, folder in zip(SUBPACKAGES, ["frontend", "export", "runtime", "models", "serve", "bench"]):
        assert Path(importlib.import_module(pkg).__file__).parent == ROOT / folder


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_declares_all(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes {missing}"


def test_errors_are_builtin_subclasses():
    assert issubclass(audiofront.ConfigError, ValueError)
    assert issubclass(audiofront.InputError, ValueError)
    assert issubclass(audiofront.BackendUnavailable, RuntimeError)
    for cls in (audiofront.ConfigError, audiofront.InputError, audiofront.BackendUnavailable,
                audiofront.ExportError, audiofront.ModelFileError):
        assert issubclass(cls, audiofront.AudiofrontError)


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "audiofront.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"audiofront {audiofront.__version__}"
    out = subprocess.run([sys.executable, "-m", "audiofront.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: audiofront" in out.stdout


def _readme_python_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_the_two_commands_and_ci_calls_the_test_one():
    text = (ROOT / "README.md").read_text()
    first_screen = "\n".join(text.splitlines()[:40])
    assert "pip install torch==2.13.0" in first_screen and "audiofront demo" in first_screen
    assert "bash scripts/test.sh" in first_screen
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_readme_python_examples_run(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _readme_python_blocks()[index]
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
