"""A convolution followed by max pooling, as one op where that is faster.

    conv2d_max_pool2d(x, weight, bias, conv..., pool...) = max_pool2d(conv2d(x, weight, bias), pool...)

Exactly those numbers, output and gradients. On the numba backend, for a
layer whose convolution runs in chunks of images (kernels/convolution.py:
first layers, with few input channels), each chunk's convolution output is
pooled while it is still in the cache, and its gradient is rebuilt from the
switches there in the backward pass: the (N, F, OH, OW) output, the largest
array of keras-MNIST's and zfnet_small's steps, is never written to memory
and read back. Everywhere else it is the two ops, one after the other.

nn.Sequential uses it for Conv2d, ReLU, MaxPool2d written in a row (ReLU
after the pool: see Sequential.forward). The switches stay inside the op;
call the two ops to see them.
"""

from .. import kernels
from ..shapes import conv_output_size
from ..tensor import Function
from .conv import checked_convolution, conv2d
from .pooling import max_pool2d, window_settings


class Conv2dMaxPool2dFunction(Function):
    name = "conv2d+max_pool2d"
    input_names = ("input", "weight", "bias")

    def __init__(self, stride, padding, dilation, out, pool):
        self.stride, self.padding, self.dilation, self.out, self.pool = stride, padding, dilation, out, pool

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        pooled, self.switches = kernels.conv2d_max_pool_forward_chunks(
            x, weight, bias, self.stride, self.padding, self.dilation, self.out, self.pool)
        return pooled

    def backward(self, grad_output):
        needs_bias = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        return kernels.conv2d_max_pool_backward_chunks(
            grad_output, self.switches, self.x, self.weight, self.stride, self.padding,
            self.dilation, self.out, self.needs_input_grad[0], self.needs_input_grad[1], needs_bias)


def conv2d_max_pool2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                      pool_kernel=2, pool_stride=None, pool_padding=0, ceil_mode=False, pool_dilation=1,
                      caller="conv2d", pool_caller="max_pool2d"):
    """max_pool2d(conv2d(x, weight, bias, stride, padding, dilation, groups), pool_kernel,
    pool_stride, pool_padding, ceil_mode, dilation=pool_dilation): the same checks, errors
    and numbers. x: (N, C, H, W) -> (N, F, PH, PW)."""
    x, weight, bias, stride, padding, dilation, groups, out = checked_convolution(
        x, weight, bias, stride, padding, dilation, groups, caller)
    if not kernels.convolution_in_chunks(x.data, weight.data, groups):
        y = conv2d(x, weight, bias, stride, padding, dilation, groups, caller)
        return max_pool2d(y, pool_kernel, pool_stride, pool_padding, ceil_mode, dilation=pool_dilation,
                          caller=pool_caller)
    kernel, pool_stride, pool_padding, pool_dilation = window_settings(
        pool_caller, pool_kernel, pool_stride, pool_padding, pool_dilation)
    pooled = tuple(
        conv_output_size(out[axis], kernel[axis], pool_stride[axis], pool_padding[axis], ceil_mode,
                         caller=pool_caller, axis=("height", "width")[axis], dilation=pool_dilation[axis])
        for axis in (0, 1))
    function = Conv2dMaxPool2dFunction(stride, padding, dilation, out,
                                       (kernel, pool_stride, pool_padding, pool_dilation, pooled))
    return function(x, weight) if bias is None else function(x, weight, bias)
