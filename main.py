"""Start the face editor from a checkout: `python main.py [FILE] [--seed N] [--model FILE] [--screenshot PATH]`.

The same as the installed `face-editor` (or `face-editor gui ...`): arguments are checked by editor.cli."""

import sys

from editor.cli import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
