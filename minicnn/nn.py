"""Layers and containers, as PyTorch names them: ``import minicnn.nn as nn``.

The public face of ``minicnn/engine/nn/``: the code is there (layers.py,
module.py, summary.py). This module only names what it offers, so that
``from minicnn import nn``, ``import minicnn.nn as nn`` and
``from minicnn.nn import Conv2d`` all give the same classes.
"""

from .engine.nn import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, Module,
                        Parameter, ReLU, Sequential, Sigmoid, Subsampling, Tanh)

__all__ = [
    "Module", "Parameter", "Sequential", "Conv2d", "MaxPool2d", "AvgPool2d", "Subsampling",
    "ReLU", "Sigmoid", "Tanh", "LocalResponseNorm", "Dropout", "Linear", "Flatten",
]
