"""Start the face editor. Until the window lands, this renders one face from the default model to a PNG."""

import argparse
import sys

from editor.cli import main as cli_main


def main() -> int:
    parser = argparse.ArgumentParser(description="Latent-space face editor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="face.png")
    args = parser.parse_args()
    return cli_main(["render", "--seed", str(args.seed), "-o", args.output])


if __name__ == "__main__":
    sys.exit(main())
