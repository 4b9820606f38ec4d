"""Fully connected layers and flattening.

linear:  x: (N, IN), weight: (OUT, IN), bias: (OUT,) -> y = x @ weight^T + bias: (N, OUT)
         dL/dx = g @ weight;  dL/dweight = g^T @ x;  dL/dbias = sum_n g
flatten: (N, C, H, W) -> (N, C*H*W). Flattening forgets which pixel was next to
         which; a convolution keeps that spatial structure (CS231n lecture 5).

(The module is named after what it holds, not after its function ``linear``,
so that ``minicnn.engine.functional.linear`` is the function, not a module
hidden behind it.)
"""

import math

from .. import kernels
from ..shapes import ShapeError
from ..tensor import Function, as_tensor
from .checks import check_input, check_parameters


class LinearFunction(Function):
    name = "linear"
    input_names = ("input", "weight", "bias")

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = kernels.matmul(x, weight.T)                                 # x @ weight^T
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_output):
        matmul = kernels.matmul                                         # a @ b
        grad_x = matmul(grad_output, self.weight) if self.needs_input_grad[0] else None
        grad_weight = matmul(grad_output.T, self.x) if self.needs_input_grad[1] else None
        grad_bias = None
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_bias = grad_output.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def linear(x, weight, bias=None, caller="linear"):
    """y = x @ weight^T + bias. x: (N, IN); weight: (OUT, IN); bias: (OUT,) or None.

    Returns (N, OUT); a batch of N = 0 rows gives an empty (0, OUT) result.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    check_input(caller, x, 2, "(N, features)")
    if weight.ndim != 2:
        raise ShapeError(f"{caller}: weight must be (out_features, in_features), got shape {weight.shape}")
    check_parameters(caller, x, weight, bias)
    out_features, in_features = weight.shape
    if x.shape[1] != in_features:
        raise ShapeError(
            f"{caller}: input has {x.shape[1]} features (shape {x.shape}) but the weight "
            f"{weight.shape} = (out_features, in_features) needs {in_features}"
        )
    if bias is None:
        return LinearFunction()(x, weight)
    if bias.shape != (out_features,):
        raise ShapeError(
            f"{caller}: bias must have shape ({out_features},) (one per output feature of the "
            f"weight {weight.shape}), got {bias.shape}"
        )
    return LinearFunction()(x, weight, bias)


def flatten(x):
    """(N, ...) -> (N, product of the rest); an empty batch (N = 0) too."""
    x = as_tensor(x)
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))
