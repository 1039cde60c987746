"""The import rule of the layout: no package imports one above it.

``frontend`` <- ``export`` <- ``runtime`` <- ``models`` <- ``serve`` <- ``bench``; the root package's
``errors`` sits below everything and ``audiofront.cli`` (which registers every command) above it.
Checked on the source (every ``import``, also the lazy ones inside functions) and on ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Rank of each package: a module may import only packages of a lower or equal rank.
RANKS = {"errors": 0, "frontend": 1, "export": 2, "runtime": 3, "models": 4, "serve": 5, "bench": 6}
FOLDERS = {name: ROOT / name for name in RANKS if name != "errors"}


def _imports(path: Path) -> set[str]:
    """The audiofront subpackages a file imports (``audiofront.X...`` -> ``X``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "audiofront" and len(parts) > 1 and parts[1] in RANKS:
                found.add(parts[1])
    return found


def _violations():
    for package, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            for imported in sorted(_imports(path)):
                if RANKS[imported] > RANKS[package]:
                    yield f"{path.relative_to(ROOT)} imports audiofront.{imported}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from audiofront.serve.server import create_app\n    import audiofront.models\n")
    assert _imports(sample) == {"serve", "models"}


def test_no_package_imports_one_above_it():
    assert list(_violations()) == []


@pytest.mark.parametrize("package, forbidden", [
    ("audiofront.runtime", ("audiofront.serve", "audiofront.bench", "audiofront.models", "fastapi", "uvicorn")),
    ("audiofront.frontend", ("audiofront.export", "audiofront.runtime", "onnx", "onnxruntime")),
])
def test_importing_a_package_loads_nothing_above_it(package, forbidden):
    code = (f"import sys, {package}\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {{'fastapi', 'uvicorn', 'onnx', 'onnxruntime'}}"
            f" or m.startswith(('audiofront.serve', 'audiofront.bench', 'audiofront.models', 'audiofront.export', 'audiofront.runtime')))\n"
            f"print('\\n'.join(bad))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    leaked = [m for m in loaded if m.startswith(forbidden) or m in forbidden]
    assert leaked == [], f"import {package} loaded {leaked}"


@pytest.mark.parametrize("code, forbidden", [
    # The inference path: the runtime, a pipeline opened and run on ONNX Runtime, loads no torch.
    ("import audiofront.runtime as rt; rt.Pipeline; rt.available_backends; rt.choose_backend('auto', kind='onnx')",
     ("torch",)),
    ("import audiofront.export.metadata, audiofront.export.session, audiofront.export.engine, audiofront.models.cache",
     ("torch",)),
    # audiofront --help builds every parser and imports no framework.
    ("import audiofront.cli as c; c.build_parser()", ("torch", "onnx", "onnxruntime", "numpy", "fastapi", "uvicorn")),
])
def test_the_inference_path_and_help_load_no_torch(code, forbidden):
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {set(forbidden)!r})))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"{code} loaded {loaded}"
