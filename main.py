"""Start the face editor: `python main.py [--seed N] [--model FILE] [--screenshot PATH]`."""

import sys

from editor.runtime import configure_process

if __name__ == "__main__":
    configure_process()  # before the app's imports load torch (its OpenMP reads the wait policy once)
    from editor.qt.app import main

    sys.exit(main(sys.argv[1:]))
