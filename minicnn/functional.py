"""The ops as functions on tensors, as PyTorch names them: ``import minicnn.functional as F``.

The public face of ``minicnn/engine/functional/``: the code is there, one
file per family, forward and backward side by side (conv.py, transposed.py,
pooling.py, activation.py, normalization.py, fully_connected.py, loss.py,
conv_pool.py). This module only names what it offers, so that
``from minicnn import functional as F``, ``import minicnn.functional as F``
and ``from minicnn.functional import conv2d`` all give the same functions.

The deconvnet's three steps down (ZFNet 2.1) are here too: ``max_unpool2d``
with the ``Switches`` of max_pool2d, ``relu`` to rectify, and
``conv_transpose2d``, the convolution's transposed filters; the average
pool's way down is ``avg_pool2d_input_gradient``.
"""

from .engine.functional import (Switches, avg_pool2d, avg_pool2d_input_gradient, conv2d, conv2d_max_pool2d,
                                conv_transpose2d, cross_entropy, dropout, flatten, linear, local_response_norm,
                                log_softmax, max_pool2d, max_unpool2d, relu, sigmoid, softmax, tanh)

__all__ = [
    "conv2d", "conv_transpose2d", "conv2d_max_pool2d", "max_pool2d", "max_unpool2d", "Switches", "avg_pool2d",
    "avg_pool2d_input_gradient", "relu", "sigmoid", "tanh", "dropout",
    "local_response_norm", "linear", "flatten", "softmax", "log_softmax", "cross_entropy",
]
