"""`python -m tools COMMAND ...`: the developer commands (bench, bench-ui, bench-drag, bench-photo, directions
fit|evaluate|...) with the arguments `python -m editor` declares for them."""

import sys

from editor.cli import main

sys.exit(main(sys.argv[1:]))
