"""ReLU, the squashing functions and dropout: elementwise ops.

relu:    y = max(0, x);  dy/dx = 1 where x > 0, else 0 (0 at exactly 0).
         (The loops are in kernels/relu.py: relu_forward there is the plain version.)
sigmoid: y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).
tanh:    y = tanh(x);            dy/dx = 1 - y^2.
         The "squashing functions" of LeNet-5 (LeCun et al. 1998, section II.B
         and appendix A). Both backward passes need only the output y.
dropout: inverted dropout (Srivastava et al. 2014): at training time each
         value is kept with probability 1 - p and scaled by 1 / (1 - p), so
         at evaluation time the layer is the identity.
"""

import math
import numbers

from .. import kernels, rng
from ..backend import get_array_module
from ..errors import ArgumentError
from ..tensor import Function, as_tensor
from .checks import check_float


class ReLUFunction(Function):
    name = "relu"

    def forward(self, x):
        y, self.positive = kernels.relu_forward(x)       # positive = x > 0, kept for backward
        return y

    def backward(self, grad_output):
        return kernels.relu_backward(grad_output, self.positive)


def relu(x, caller="relu"):
    """max(0, x), any shape."""
    x = as_tensor(x)
    check_float(caller, x)
    return ReLUFunction()(x)


class SigmoidFunction(Function):
    name = "sigmoid"

    def forward(self, x):
        xp = get_array_module(x)
        # The two forms that never exponentiate a large positive number,
        #   x >= 0:  1 / (1 + exp(-x))        x < 0:  exp(x) / (1 + exp(x)),
        # in one line: exp(min(x, 0)) is 1 or exp(x), exp(-|x|) is exp(-x) or exp(x).
        # Both exponents are <= 0, so nothing overflows; far out exp underflows
        # to 0 and y is exactly 0 or 1. (No branch: xp.where over a random
        # sign pattern is several times slower than a second exp.)
        self.y = xp.exp(xp.minimum(x, 0)) / (1 + xp.exp(-xp.abs(x)))
        return self.y

    def backward(self, grad_output):
        return grad_output * self.y * (1 - self.y)


def sigmoid(x, caller="sigmoid"):
    """1 / (1 + exp(-x)), any shape; never overflows, keeps the dtype."""
    x = as_tensor(x)
    check_float(caller, x)
    return SigmoidFunction()(x)


class TanhFunction(Function):
    name = "tanh"

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)          # xp.tanh is exact to +-1 for large |x|
        return self.y

    def backward(self, grad_output):
        return grad_output * (1 - self.y * self.y)


def tanh(x, caller="tanh"):
    """(exp(x) - exp(-x)) / (exp(x) + exp(-x)), any shape; keeps the dtype."""
    x = as_tensor(x)
    check_float(caller, x)
    return TanhFunction()(x)


class DropoutFunction(Function):
    name = "dropout"

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        xp = get_array_module(x)
        keep = rng.uniform_array(xp, x.shape, x.dtype) >= self.p          # kept with probability 1 - p
        self.mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, grad_output):
        return grad_output * self.mask


def check_drop_probability(p, caller):
    """p as a float in [0, 1): ArgumentError, in words, for anything else (1.5, -0.1, nan, True, "0.5")."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not math.isfinite(p):
        raise ArgumentError(f"{caller}: p is the probability of dropping a value, a number in "
                            f"[0, 1); got {p!r} ({type(p).__name__})")
    if not 0.0 <= p < 1.0:
        raise ArgumentError(f"{caller}: p is the probability of dropping a value and must be in "
                            f"[0, 1), got p={p}" + ("; p = 1 would drop everything" if p == 1 else ""))
    return float(p)


def dropout(x, p=0.5, training=True, caller="dropout"):
    """Zero each value with probability p and scale the rest by 1/(1-p); identity when not training."""
    p = check_drop_probability(p, caller)
    x = as_tensor(x)
    check_float(caller, x)
    if not training or p == 0.0:
        return x
    return DropoutFunction(p)(x)
