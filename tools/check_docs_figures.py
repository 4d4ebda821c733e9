"""Check that no figure of the old README was lost when it became a user guide plus docs/.

Every line of the old README that carries a digit must appear, as a whole line (whitespace collapsed, links into
docs/ written relative to docs/), in README.md or in a docs/*.md file. A line that was reworded on purpose
passes when every number in it appears in one line of the new text. Prints what is missing; exit status 1 if
anything is.

    python tools/check_docs_figures.py [--old GIT_REVISION_OR_FILE]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_README = "9e184e5"  # the last commit with the 88 KB README (2026-12-07)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def normal(line: str) -> str:
    return " ".join(line.replace("](docs/", "](").replace("(docs/", "(").split())


def old_lines(source: str) -> list[str]:
    path = Path(source)
    text = path.read_text() if path.is_file() else subprocess.run(
        ["git", "show", f"{source}:README.md"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [normal(ln) for ln in text.splitlines() if any(c.isdigit() for c in ln)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=OLD_README, help="git revision (or file) of the old README")
    args = parser.parse_args(argv)
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    new = [normal(ln) for f in files for ln in f.read_text().splitlines()]
    whole = set(new)
    numbers = [set(NUMBER.findall(ln)) for ln in new]
    lines = old_lines(args.old)
    missing = [ln for ln in lines if ln not in whole
               and not any(set(NUMBER.findall(ln)) <= found for found in numbers)]
    reworded = sum(1 for ln in lines if ln not in whole) - len(missing)
    for ln in missing:
        print(f"missing: {ln[:160]}")
    print(f"{len(lines)} number-bearing lines of the old README: {len(lines) - len(missing) - reworded} moved whole, "
          f"{reworded} reworded with every number kept, {len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
