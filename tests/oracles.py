"""The libraries the tests compare minicnn against (oracles), and what their absence means.

On a newcomer's machine an oracle is optional: ``bash setup.sh && python3 -m
pytest`` skips the comparisons it would make, saying why. In CI
(``CI=true``, set by .ci/run's runner) the oracle is installed on purpose
(.ci/run installs PyTorch for CPU), so its absence is a failure: the suite
must not go green while silently comparing against nothing.
"""

import importlib
import os

import pytest

HOW_TO_GET = {"torch": "pip install torch (the CPU build is enough)"}


def import_oracle(name):
    """Import and return the oracle ``name``; skip without it, or fail under CI=true."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        message = f"{name} is not installed ({error}); the comparisons against it need it: {HOW_TO_GET.get(name, '')}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the oracle {message}", pytrace=False)
        pytest.skip(message, allow_module_level=True)
