"""The ops, as functions on tensors: ``from minicnn import functional as F``.

Each op lives in its own module, forward and backward side by side:
conv.py, pooling.py, activation.py, normalization.py, fully_connected.py
(linear and flatten), loss.py; transposed.py, conv_transpose2d (the
backward of conv2d as an op: the deconvnet's transposed filters);
conv_pool.py runs a convolution and the max-pool after it as one op (the
same numbers, faster on the numba backend). checks.py holds the input
checks they share; routed.py is the Function that runs an op by one of its
routes (minicnn/engine/kernels/routes.py) instead of its reference.
"""

from .activation import dropout, relu, sigmoid, tanh
from .conv import conv2d
from .conv_pool import conv2d_max_pool2d
from .fully_connected import flatten, linear
from .loss import cross_entropy, log_softmax, softmax
from .normalization import local_response_norm
from .pooling import Switches, avg_pool2d, avg_pool2d_input_gradient, max_pool2d, max_unpool2d
from .transposed import conv_transpose2d

__all__ = [
    "conv2d", "conv_transpose2d", "conv2d_max_pool2d", "max_pool2d", "max_unpool2d", "Switches", "avg_pool2d",
    "avg_pool2d_input_gradient", "relu", "sigmoid", "tanh", "dropout",
    "local_response_norm", "linear", "flatten", "softmax", "log_softmax", "cross_entropy",
]
