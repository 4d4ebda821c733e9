"""`python -m editor bench-photo` (its arguments are declared in editor/cli.py): one face set, or --pair A B."""

from __future__ import annotations


def run_bench_cli(args) -> int:
    from editor.progress import Bar
    if getattr(args, "pair", None):
        from tools.photo.pair import run_pair_cli
        return run_pair_cli(args, progress=Bar())
    from tools.photo.bench import run_bench
    return run_bench(args, progress=Bar())


if __name__ == "__main__":  # python -m tools.photo.cli: the same command as `python -m editor bench-photo`
    import sys

    from editor.cli import main
    sys.exit(main(["bench-photo", *sys.argv[1:]]))
