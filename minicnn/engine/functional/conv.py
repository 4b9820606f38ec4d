"""2-D convolution as im2col + one matrix multiply for the whole batch.

x: (N, C, H, W) images, w: (F, C, KH, KW) filters, b: (F,) biases.
Each filter spans the full input depth C and has one bias (CS231n lecture 5).

    y[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oy*SH + i, ox*SW + j]

    OH = (H - KH + 2*PH) / SH + 1,   OW = (W - KW + 2*PW) / SW + 1

(Like every deep-learning library, this is cross-correlation: the filter is
not flipped. The deconvnet's "transposed, flipped filter" is the backward
pass of exactly this op.)

How it is computed, with K = C*KH*KW and P = N*OH*OW (every window of every image):
    cols = im2col(x)                 (C, KH, KW, N, OH, OW), viewed as a (K, P) matrix
    y    = w.reshape(F, K) @ cols    (F, P): one matrix product for the whole batch,
                                     plus b, then laid out as (N, F, OH, OW)
Backward, for the gradient g = dL/dy laid out as an (F, P) matrix:
    dL/dw    = g @ cols^T            (F, K)
    dL/dcols = w^T @ g               (K, P), then col2im -> dL/dx
    dL/db    = g summed over P       (F,), in float64
"""

from .. import kernels
from ..shapes import ShapeError, conv_output_size, pair
from ..tensor import Function, as_tensor
from .checks import check_float, check_input, check_same_dtype


class Conv2dFunction(Function):
    name = "conv2d"
    input_names = ("input", "weight", "bias")

    def __init__(self, stride, padding, out):
        self.stride, self.padding, self.out = stride, padding, out

    def forward(self, x, weight, bias=None):
        n = x.shape[0]
        filters, channels, kh, kw = weight.shape
        oh, ow = self.out
        self.input_shape = x.shape
        self.cols = kernels.im2col(x, (kh, kw), self.stride, self.padding, (oh, ow))
        self.weight = weight
        cols = self.cols.reshape(channels * kh * kw, n * oh * ow)             # (K, P), a view
        y = weight.reshape(filters, -1) @ cols                                 # (F, P)
        return kernels.batch_major(y, n, bias).reshape(n, filters, oh, ow)    # + b, as (N, F, OH, OW)

    def backward(self, grad_output):
        filters = self.weight.shape[0]
        grad_x = grad_weight = grad_bias = None
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            # (F, P), and dL/db = its row sums, added in float64
            grad, grad_bias = kernels.filter_major_with_sums(grad_output)
        else:
            grad = filter_major(grad_output)                                  # (F, P)
        if self.needs_input_grad[0]:
            grad_x = columns_to_image(self.weight.reshape(filters, -1).T @ grad,
                                      self.weight.shape, self.input_shape, grad_output.shape,
                                      self.stride, self.padding)
        if self.needs_input_grad[1]:
            cols = self.cols.reshape(-1, grad.shape[1])                       # (K, P)
            grad_weight = (grad @ cols.T).reshape(self.weight.shape)          # (F, K)
        return grad_x, grad_weight, grad_bias


def filter_major(grad_output):
    """(N, F, OH, OW) -> (F, N*OH*OW): the gradient as a matrix, one row per filter."""
    return kernels.filter_major(grad_output)


def columns_to_image(grad_cols, weight_shape, input_shape, output_shape, stride, padding):
    """(K, N*OH*OW) column gradients -> (N, C, H, W) image gradient, by col2im."""
    _, channels, kh, kw = weight_shape
    n, _, oh, ow = output_shape
    grad_cols = grad_cols.reshape(channels, kh, kw, n, oh, ow)
    return kernels.col2im(grad_cols, tuple(input_shape), (kh, kw), stride, padding)


def input_gradient(grad_output, weight, input_shape, stride, padding):
    """dL/dx of a convolution: the filters applied "transposed".

    grad_output: (N, F, OH, OW); weight: (F, C, KH, KW); input_shape: (N, C, H, W).
    Returns (N, C, H, W):

        grad_cols = w.reshape(F, K)^T @ grad_output as (F, N*OH*OW)   (K, N*OH*OW)
        dL/dx     = col2im(grad_cols)     each entry added back to its pixel

    Written as a sum over pixels this correlates grad_output with every
    filter flipped vertically and horizontally: ZFNet's deconvnet applies
    exactly this ("transposed versions of the same filters", section 2.1).
    """
    filters = weight.shape[0]
    grad_cols = weight.reshape(filters, -1).T @ filter_major(grad_output)
    return columns_to_image(grad_cols, weight.shape, input_shape, grad_output.shape, stride, padding)


def conv2d(x, weight, bias=None, stride=1, padding=0, caller="conv2d"):
    """Convolve a batch of images with a bank of filters.

    x: (N, C, H, W); weight: (F, C, KH, KW); bias: (F,) or None.
    stride, padding: int or (h, w) pair. Returns (N, F, OH, OW) with
    OH = (H - KH + 2*PH) // SH + 1 (and the same for W).
    caller: who called the op (a layer's description), named in error messages.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    check_input(caller, x, 4, "(N, C, H, W)")
    check_float(caller, weight, "weight")
    check_same_dtype(caller, x, weight, "weight")
    if weight.ndim != 4:
        raise ShapeError(f"{caller}: weight must be (F, C, KH, KW), got shape {weight.shape}")
    filters, channels, kh, kw = weight.shape
    if x.shape[1] != channels:
        raise ShapeError(
            f"{caller}: input has {x.shape[1]} channels (shape {x.shape}) but the filters "
            f"need {channels} (weight shape {weight.shape} = (F, C, KH, KW)); "
            f"expected input (N, {channels}, H, W)"
        )
    out = (
        conv_output_size(x.shape[2], kh, stride[0], padding[0], caller=caller, axis="height"),
        conv_output_size(x.shape[3], kw, stride[1], padding[1], caller=caller, axis="width"),
    )
    function = Conv2dFunction(stride, padding, out)
    if bias is None:
        return function(x, weight)
    bias = as_tensor(bias)
    if bias.shape != (filters,):
        raise ShapeError(f"{caller}: bias must have shape ({filters},) (one per filter), got {bias.shape}")
    return function(x, weight, bias)
