"""`python -m secgate …`: the command line (see secgate/cli.py)."""

from secgate.cli import main

raise SystemExit(main())
