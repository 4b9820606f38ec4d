"""``python -m minicnn ...`` runs the minicnn command (minicnn/cli/main.py)."""

import sys

from .cli.main import main

sys.exit(main())
