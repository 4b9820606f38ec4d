"""The ops, as functions on tensors: ``from minicnn import functional as F``.

Each op lives in its own module, forward and backward side by side:
conv.py, pooling.py, activation.py, normalization.py, fully_connected.py
(linear and flatten), loss.py; conv_pool.py runs a convolution and the
max-pool after it as one op (the same numbers, faster on the numba
backend); checks.py holds the input checks they share.
"""

from .activation import dropout, relu, sigmoid, tanh
from .conv import conv2d
from .conv_pool import conv2d_max_pool2d
from .fully_connected import flatten, linear
from .loss import cross_entropy, log_softmax, softmax
from .normalization import local_response_norm
from .pooling import Switches, avg_pool2d, max_pool2d, max_unpool2d

__all__ = [
    "conv2d", "conv2d_max_pool2d", "max_pool2d", "max_unpool2d", "Switches", "avg_pool2d", "relu", "sigmoid", "tanh", "dropout",
    "local_response_norm", "linear", "flatten", "softmax", "log_softmax", "cross_entropy",
]
