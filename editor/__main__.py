import sys

from .runtime import configure_process

configure_process()  # before any command loads torch (its OpenMP reads the wait policy once)

from .cli import main  # noqa: E402

sys.exit(main())
