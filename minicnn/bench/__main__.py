"""``python -m minicnn.bench ...``: the same as ``minicnn bench ...``."""

import sys

from .run import main

sys.exit(main())
