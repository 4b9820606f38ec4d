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
    y    = W @ cols + b              W = w.reshape(F, K): one matrix product for the
                                     whole batch, (F, P), then laid out as (N, F, OH, OW)
Backward, for the gradient g = dL/dy laid out as an (F, P) matrix:
    dL/db    = sum of g over P       (F,), added in float64
    dL/dW    = g @ cols^T            (F, K)
    dL/dcols = W^T @ g               (K, P), then col2im -> dL/dx   (conv2d_input_gradient)

The hot loops (im2col, col2im and the moves between the (F, P) matrix and
the (N, F, OH, OW) images) are kernels, named after what they produce
(minicnn/engine/kernels/); the matrix products are NumPy's (or CuPy's).
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
        self.weight = weight
        self.cols = kernels.im2col(x, (kh, kw), self.stride, self.padding, (oh, ow))
        cols = self.cols.reshape(channels * kh * kw, n * oh * ow)             # (K, P), a view
        product = weight.reshape(filters, -1) @ cols                           # W @ cols: (F, P)
        y = kernels.rows_to_images_plus_bias(product, n, bias)                # W @ cols + b: (N, F, OH*OW)
        return y.reshape(n, filters, oh, ow)

    def backward(self, grad_output):
        grad_x = grad_weight = grad_bias = None
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            g, grad_bias = kernels.images_to_rows_and_sums(grad_output)     # g: (F, P); dL/db = sum of g
        else:
            g = kernels.images_to_rows(grad_output)                          # g: (F, P)
        if self.needs_input_grad[0]:
            grad_x = conv2d_input_gradient(g, self.weight, self.input_shape,  # col2im(W^T @ g)
                                           self.stride, self.padding)
        if self.needs_input_grad[1]:
            cols = self.cols.reshape(-1, g.shape[1])                          # (K, P)
            grad_weight = (g @ cols.T).reshape(self.weight.shape)             # dL/dW = g @ cols^T
        return grad_x, grad_weight, grad_bias


def conv2d_input_gradient(g, weight, input_shape, stride, padding):
    """dL/dx of a convolution, from g = dL/dy laid out as rows: the filters "transposed".

    g: (F, N*OH*OW), one row per filter (``kernels.images_to_rows(grad_y)``
    for a gradient grad_y of shape (N, F, OH, OW)); weight: (F, C, KH, KW);
    input_shape: (N, C, H, W), the shape of the convolution's input x;
    stride, padding: (h, w) pairs, as the forward pass had them.
    Returns dL/dx, (N, C, H, W):

        grad_cols = W^T @ g              W = w.reshape(F, K), K = C*KH*KW: (K, N*OH*OW)
        dL/dx     = col2im(grad_cols)    each entry added back to its pixel

    with OH = (H - KH + 2*PH) // SH + 1 and OW likewise. Written as a sum over
    pixels this correlates g with every filter flipped vertically and
    horizontally, input and output channels swapped: ZFNet's deconvnet
    applies exactly this ("transposed versions of the same filters", section
    2.1; minicnn/visualize/deconvnet.py calls this function). Rows or columns
    of x that no window reached (the floor in the formula) get zero.
    """
    filters, channels, kh, kw = weight.shape
    n, _, height, width = input_shape
    oh = conv_output_size(height, kh, stride[0], padding[0])
    ow = conv_output_size(width, kw, stride[1], padding[1])
    if g.shape != (filters, n * oh * ow):
        raise ShapeError(
            f"conv2d_input_gradient: g must be (F, N*OH*OW) = ({filters}, {n}*{oh}*{ow}) for "
            f"weight {tuple(weight.shape)} and input {tuple(input_shape)} "
            f"(OH = (H - KH + 2*PH) // SH + 1), got shape {tuple(g.shape)}"
        )
    grad_cols = (weight.reshape(filters, -1).T @ g).reshape(channels, kh, kw, n, oh, ow)
    return kernels.col2im(grad_cols, tuple(input_shape), (kh, kw), stride, padding)


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
