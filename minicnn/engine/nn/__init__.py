"""Layers and containers: ``from minicnn import nn``."""

from .layers import Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU
from .module import Module, Parameter, Sequential

__all__ = [
    "Module", "Parameter", "Sequential", "Conv2d", "MaxPool2d", "ReLU",
    "LocalResponseNorm", "Dropout", "Linear", "Flatten",
]
