"""Optimizers, as PyTorch names them: ``import minicnn.optim as optim``.

The public face of ``minicnn/engine/optim.py``, where the code is: SGD with
momentum and weight decay, written as PyTorch writes it, and ZFNet's filter
renormalization. This module only names them, so that
``from minicnn import optim``, ``import minicnn.optim as optim`` and
``from minicnn.optim import SGD`` all give the same objects.
"""

from .engine.optim import SGD, renormalize_filters

__all__ = ["SGD", "renormalize_filters"]
