"""Developer commands (benchmarks, direction fitting and evaluation) run code from tools/, the lab beside the
package, which a source checkout has and an installed editor does not. This is the package's one way into it:
each such command imports its tools module only when it runs, and without a checkout it says so plainly.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]  # the folder holding editor/ and, in a checkout, tools/


class NotACheckout(RuntimeError):
    """tools/ is not importable: the editor was installed, not run from its source checkout."""


def lab(module: str):
    """tools.<module>, imported from the checkout this package runs from."""
    try:
        import tools
    except ImportError:
        tools = None
    if tools is None or not getattr(tools, "FACE_EDITOR_LAB", False):
        # `python -m editor` run from another folder: the checkout's own tools/, if it has one.
        if not (CHECKOUT / "tools" / "__init__.py").is_file():
            raise NotACheckout("this is a developer command: run it from a source checkout of the editor "
                               "(its tools/ folder holds the benchmarks and the direction fitting)") from None
        sys.modules.pop("tools", None)
        sys.path.insert(0, str(CHECKOUT))
    return importlib.import_module(f"tools.{module}")


def command(module: str, name: str):
    """An argparse `func` that runs tools.<module>.<name>(args) when the command is given."""
    def run(args) -> int:
        try:
            target = getattr(lab(module), name)
        except NotACheckout as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return target(args)
    run.__name__ = f"{module}.{name}"
    return run
