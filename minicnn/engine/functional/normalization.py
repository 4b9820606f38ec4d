"""Local response normalization across channels (AlexNet 3.3; ZFNet's
"contrast normalization").

x: (N, C, H, W). With n = size:

    scale[c] = k + alpha / n * sum_{c' = c - n//2}^{c + (n-1)//2} x[c']^2
    y[c]     = x[c] / scale[c]^beta

Channels outside 0..C-1 count as zero. alpha is divided by the window size n,
as in PyTorch and Caffe (AlexNet's paper writes alpha without the 1/n).

LocalResponseNormFunction is the reference. On the numba backend, with
beta = 3/4 (AlexNet's and ZFNet's), local_response_norm takes a route
instead, "square roots (beta 3/4)" (kernels/lrn_square_roots.py): the same
numbers up to the last bits, faster; ``set_routes("reference")`` turns it off.
"""

import math
import numbers

from .. import kernels
from ..kernels import routes
from ..errors import ArgumentError
from ..shapes import whole_number
from ..tensor import Function, as_tensor
from .checks import check_input
from .routed import RoutedFunction


class LocalResponseNormFunction(Function):
    name = "local_response_norm"

    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        y, scale = kernels.lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        self.x, self.y, self.scale = x, y, scale
        return y

    def backward(self, grad_output):
        return kernels.lrn_backward(grad_output, self.x, self.y, self.scale,
                                    self.size, self.alpha, self.beta)


def lrn_settings(caller, size, alpha, beta, k):
    """size as an int >= 1; alpha >= 0, beta and k > 0 as finite floats. ArgumentError otherwise.

    k > 0 keeps the divisor (k + alpha/n * sum)^beta away from 0 where a
    window's channels are all 0; alpha < 0 could make it negative.
    """
    size = whole_number(size, "size", caller, minimum=1)
    values = {}
    for name, value, least, strict in (("alpha", alpha, 0.0, False), ("beta", beta, None, False),
                                       ("k", k, 0.0, True)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ArgumentError(f"{caller}: {name} must be a finite number, got {value!r}")
        if least is not None and (value <= least if strict else value < least):
            needed = "> 0 (the divisor k + alpha/n * sum must stay positive)" if strict else ">= 0"
            raise ArgumentError(f"{caller}: {name} must be {needed}, got {name}={value}")
        values[name] = float(value)
    return size, values["alpha"], values["beta"], values["k"]


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0, caller="local_response_norm"):
    """Normalize each value by the energy of its ``size`` neighbouring channels.

    x: (N, C, H, W) -> y: (N, C, H, W). ZFNet uses size=5 after layers 1 and 2.
    size >= 1 channels; alpha >= 0; k > 0.
    """
    size, alpha, beta, k = lrn_settings(caller, size, alpha, beta, k)
    x = as_tensor(x)
    check_input(caller, x, 4, "(N, C, H, W)")
    call = routes.LRNCall.of(x.data, size, alpha, beta, k)
    route = routes.choose("local_response_norm", call)
    if route is not None:                    # a faster way to the same numbers: kernels/routes.py
        return RoutedFunction(route, call)(x)
    return LocalResponseNormFunction(size, alpha, beta, k)(x)
