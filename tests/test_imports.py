"""Every import written inside a function names something that exists. Such imports run only when their
command does, so a rename elsewhere (the CLI's progress bar, say) would otherwise break a subcommand that
no other test runs."""

import ast
import importlib
from pathlib import Path

import pytest

pytest.importorskip("PySide6")  # editor.qt modules are checked too
ROOT = Path(__file__).resolve().parents[1]


def _deferred_imports():
    for path in sorted((ROOT / "editor").rglob("*.py")):
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for func in ast.walk(ast.parse(path.read_text())):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    module = f"{base}.{node.module}" if node.module else base
                    yield path.relative_to(ROOT), node.lineno, module, [a.name for a in node.names]


def test_every_deferred_relative_import_resolves():
    missing = []
    for path, line, module, names in _deferred_imports():
        mod = importlib.import_module(module)
        for name in names:
            if not hasattr(mod, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ImportError:
                    missing.append(f"{path}:{line} {module}.{name}")
    assert not missing
