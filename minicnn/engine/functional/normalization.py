"""Local response normalization across channels (AlexNet 3.3; ZFNet's
"contrast normalization").

x: (N, C, H, W). With n = size:

    scale[c] = k + alpha / n * sum_{c' = c - n//2}^{c + (n-1)//2} x[c']^2
    y[c]     = x[c] / scale[c]^beta

Channels outside 0..C-1 count as zero. alpha is divided by the window size n,
as in PyTorch and Caffe (AlexNet's paper writes alpha without the 1/n).
"""

from .. import kernels
from ..tensor import Function, as_tensor
from .checks import check_input


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


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0, caller="local_response_norm"):
    """Normalize each value by the energy of its ``size`` neighbouring channels.

    x: (N, C, H, W) -> y: (N, C, H, W). ZFNet uses size=5 after layers 1 and 2.
    """
    if size < 1:
        raise ValueError(f"{caller}: size is a number of channels and must be >= 1, got {size}")
    x = as_tensor(x)
    check_input(caller, x, 4, "(N, C, H, W)")
    return LocalResponseNormFunction(size, alpha, beta, k)(x)
