"""The core (model, edit, io, render, directions, CLI, bench) must never import Qt; only editor.qt may.

Checked in a fresh interpreter where any import of PySide6 / shiboken6 / PyQt raises ImportError. The same
interpreter then imports editor.qt.main_window and must fail, which proves the blocker really blocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_MODULES = ["editor", "editor.model", "editor.edit", "editor.io", "editor.render", "editor.directions",
                "editor.cli", "editor.devtools"]

SCRIPT = textwrap.dedent("""
    import importlib, json, sys

    BLOCKED = ("PySide6", "shiboken6", "PyQt")

    class BlockQt:
        def find_spec(self, name, path=None, target=None):
            if name.startswith(BLOCKED):
                raise ImportError(f"blocked Qt import: {name}")
            return None

    sys.meta_path.insert(0, BlockQt())
    report = {"core": {}, "qt": None, "qt_loaded": []}
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
            report["core"][name] = None
        except BaseException as exc:
            report["core"][name] = f"{type(exc).__name__}: {exc}"
    report["qt_loaded"] = sorted(m for m in sys.modules if m.startswith(BLOCKED))
    try:
        importlib.import_module("editor.qt.main_window")
        report["qt"] = "imported"
    except ImportError as exc:
        report["qt"] = f"ImportError: {exc}"
    print(json.dumps(report))
""")


def test_core_imports_without_qt():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CORE_MODULES)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    failures = {k: v for k, v in report["core"].items() if v is not None}
    assert not failures, f"core modules need Qt: {failures}"
    assert report["qt_loaded"] == [], f"Qt modules were loaded by the core: {report['qt_loaded']}"
    # The blocker works: the Qt layer cannot be imported in this interpreter.
    assert report["qt"].startswith("ImportError") and "blocked Qt import" in report["qt"], report["qt"]
