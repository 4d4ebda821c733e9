"""Start the face editor: `python main.py [--seed N] [--model FILE] [--screenshot PATH]`."""

import sys

from editor.qt.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
