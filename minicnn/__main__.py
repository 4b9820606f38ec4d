"""``python -m minicnn ...`` runs the minicnn command (minicnn/cli.py)."""

import sys

from .cli import main

sys.exit(main())
