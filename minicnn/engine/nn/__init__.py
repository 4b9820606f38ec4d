"""Layers and containers: ``from minicnn import nn``."""

from .layers import (
    AvgPool2d, Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU, Sigmoid,
    Subsampling, Tanh,
)
from .module import Module, Parameter, Sequential

__all__ = [
    "Module", "Parameter", "Sequential", "Conv2d", "MaxPool2d", "AvgPool2d", "Subsampling",
    "ReLU", "Sigmoid", "Tanh", "LocalResponseNorm", "Dropout", "Linear", "Flatten",
]
