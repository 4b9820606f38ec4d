"""``python -m minicnn.reproduce zfnet --out DIR [--budget quick|full] [--claims 1,3,7] [--seeds N]``."""

import sys

from .cli import main

sys.exit(main())
