"""2-D convolution as im2col + one matrix multiply for the whole batch.

x: (N, C, H, W) images, w: (F, C, KH, KW) filters, b: (F,) biases.
Each filter spans the full input depth C and has one bias (CS231n lecture 5).

    y[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oy*SH + i, ox*SW + j]

    OH = (H - KH + 2*PH) / SH + 1,   OW = (W - KW + 2*PW) / SW + 1

(Like every deep-learning library, this is cross-correlation: the filter is
not flipped. The deconvnet's "transposed, flipped filter" is the backward
pass of exactly this op.)

Dilation D (docs/sources.md section 1) spreads a filter's taps D pixels
apart: tap (i, j) reads x_pad[n, c, oy*SH + i*DH, ox*SW + j*DW]. A KH-tap
filter then spans DH*(KH - 1) + 1 rows, a larger receptive field for the
same KH*KW weights and multiply-adds, and

    OH = (H + 2*PH - DH*(KH - 1) - 1) / SH + 1    (the formula above for DH = 1)

Groups G (AlexNet section 3.2; docs/sources.md section 4) split the C input
channels and the F filters into G groups, C/G and F/G in each: the filters
of group g see only the input channels of group g. So w is (F, C/G, KH, KW),
and a layer has G times fewer weights and multiply-adds than the dense one.

How it is computed, with K = C*KH*KW and P = N*OH*OW (every window of every image):
    cols = im2col(x)                 (C, KH, KW, N, OH, OW), viewed as a (K, P) matrix
    y    = W @ cols + b              W = w.reshape(F, K): one matrix product for the
                                     whole batch, (F, P), then laid out as (N, F, OH, OW)
With G groups: the channels lead in cols, so group g's K/G rows are one
contiguous block, and its F/G filters are rows of W, so
    cols viewed as (G, K/G, P), W as (G, F/G, K/G)
    y_g  = W_g @ cols_g              for every group g in one batched product
                                     (xp.matmul): (G, F/G, P), which is (F, P)
Backward, for the gradient g = dL/dy laid out as an (F, P) matrix
(with G groups, each product below is done group by group, as in forward):
    dL/db    = sum of g over P       (F,), added in float64
    dL/dW    = g @ cols^T            (F, K)      groups: (G, F/G, K/G)
    dL/dcols = W^T @ g               (K, P)      groups: (G, K/G, P);
                                     then col2im -> dL/dx   (conv2d_input_gradient)

The hot loops (im2col, col2im, the moves between the (F, P) matrix and the
(N, F, OH, OW) images, and the products) are kernels, named after what they
produce (minicnn/engine/kernels/).

Conv2dFunction below is the reference: these formulas and nothing else.
On the numba backend, conv2d may instead take a *route* (Winograd's
F(2x2, 3x3), or these formulas a few images at a time) that gives the same
numbers faster; kernels/routes.py's table decides, ``model.summary()``
shows which, and ``set_routes("reference")`` makes every call run the
formulas here.
"""

from .. import kernels
from ..backend import get_array_module
from ..kernels import routes
from ..shapes import ShapeError, conv_output_size, pair, whole_number
from ..tensor import Function, as_tensor
from .checks import check_input, check_parameters
from .routed import RoutedFunction


def matmul_per_group(a, b):
    """a_g @ b_g for every group g, stacked: a (G, M, K), b (G, K, P) -> (G*M, P).

    One group is one plain matrix product (the dense convolution, exactly as
    without groups); several are one batched product, xp.matmul.
    """
    if a.shape[0] == 1:
        return kernels.matmul(a[0], b[0])                    # a[0] @ b[0]
    return get_array_module(a).matmul(a, b).reshape(a.shape[0] * a.shape[1], b.shape[2])


class Conv2dFunction(Function):
    """conv2d by its formulas: im2col, one product, col2im (the reference of every route)."""

    name = "conv2d"
    input_names = ("input", "weight", "bias")

    def __init__(self, stride, padding, out, dilation=(1, 1), groups=1):
        self.stride, self.padding, self.out = stride, padding, out
        self.dilation, self.groups = dilation, groups

    def forward(self, x, weight, bias=None):
        n = x.shape[0]
        filters, group_channels, kh, kw = weight.shape
        oh, ow = self.out
        groups = self.groups
        self.input_shape, self.weight = x.shape, weight
        self.cols = kernels.im2col(x, (kh, kw), self.stride, self.padding, (oh, ow),
                                   dilation=self.dilation)
        cols = self.cols.reshape(groups, group_channels * kh * kw, n * oh * ow)  # (G, K/G, P), a view
        filter_rows = weight.reshape(groups, filters // groups, group_channels * kh * kw)
        product = matmul_per_group(filter_rows, cols)                         # W @ cols: (F, P)
        y = kernels.rows_to_images_plus_bias(product, n, bias)                # W @ cols + b: (N, F, OH*OW)
        return y.reshape(n, filters, oh, ow)

    def backward(self, grad_output):
        grad_x = grad_weight = grad_bias = None
        needs_bias = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        if needs_bias:
            g, grad_bias = kernels.images_to_rows_and_sums(grad_output)     # g: (F, P); dL/db = sum of g
        else:
            g = kernels.images_to_rows(grad_output)                          # g: (F, P)
        if self.needs_input_grad[0]:
            grad_x = conv2d_input_gradient(g, self.weight, self.input_shape,  # col2im(W^T @ g)
                                           self.stride, self.padding, self.dilation, self.groups)
        if self.needs_input_grad[1]:
            groups, (filters, group_channels, kh, kw) = self.groups, self.weight.shape
            windows = g.shape[1]                                              # P
            cols = self.cols.reshape(groups, group_channels * kh * kw, windows)  # (G, K/G, P)
            rows = g.reshape(groups, filters // groups, windows)             # (G, F/G, P)
            if groups == 1:
                # dL/dW = g @ cols^T, computed as (cols @ g^T)^T: each entry is the same
                # sum, and BLAS reads cols, the large matrix, in its own row order
                # (faster when the product is split on the numba backend's threads)
                grad_weight = kernels.matmul(cols[0], rows[0].T).T
            else:
                grad_weight = matmul_per_group(rows, cols.transpose(0, 2, 1))  # dL/dW = g @ cols^T
            grad_weight = grad_weight.reshape(self.weight.shape)
        return grad_x, grad_weight, grad_bias


def conv2d_input_gradient(g, weight, input_shape, stride, padding, dilation=(1, 1), groups=1):
    """dL/dx of a convolution, from g = dL/dy laid out as rows: the filters "transposed".

    g: (F, N*OH*OW), one row per filter (``kernels.images_to_rows(grad_y)``
    for a gradient grad_y of shape (N, F, OH, OW)); weight: (F, C/G, KH, KW);
    input_shape: (N, C, H, W), the shape of the convolution's input x;
    stride, padding, dilation: (h, w) pairs, and groups G, as the forward
    pass had them. Returns dL/dx, (N, C, H, W):

        grad_cols = W^T @ g              W = w.reshape(F, K), K = C*KH*KW: (K, N*OH*OW)
                                         (with G groups, W_g^T @ g_g for each group:
                                         (G, K/G, N*OH*OW), which is (K, N*OH*OW))
        dL/dx     = col2im(grad_cols)    each entry added back to its pixel

    with OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1 and OW likewise. Written
    as a sum over pixels this correlates g with every filter flipped
    vertically and horizontally, input and output channels swapped: ZFNet's
    deconvnet applies exactly this ("transposed versions of the same
    filters", section 2.1; minicnn/visualize/deconvnet.py calls this
    function). Rows or columns of x that no window reached (the floor in the
    formula) get zero.
    """
    filters, group_channels, kh, kw = weight.shape
    n, channels, height, width = input_shape
    if channels != groups * group_channels or filters % groups:
        raise ShapeError(
            f"conv2d_input_gradient: weight {tuple(weight.shape)} = (F, C/G, KH, KW) with "
            f"groups G={groups} needs an input of {groups}*{group_channels} channels and F "
            f"divisible by {groups}; got input {tuple(input_shape)}"
        )
    oh = conv_output_size(height, kh, stride[0], padding[0], dilation=dilation[0])
    ow = conv_output_size(width, kw, stride[1], padding[1], dilation=dilation[1])
    if g.shape != (filters, n * oh * ow):
        raise ShapeError(
            f"conv2d_input_gradient: g must be (F, N*OH*OW) = ({filters}, {n}*{oh}*{ow}) for "
            f"weight {tuple(weight.shape)} and input {tuple(input_shape)} "
            f"(OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1), got shape {tuple(g.shape)}"
        )
    call = routes.ConvCall.of(g, weight.shape, stride, padding, dilation, groups, (oh, ow),
                              input_shape=input_shape)
    route = routes.choose("conv2d_input_gradient", call)
    if route is not None:               # the same two steps another way: kernels/routes.py
        return route.forward(call, g, weight)
    windows = n * oh * ow
    filter_rows = weight.reshape(groups, filters // groups, group_channels * kh * kw)
    grad_cols = matmul_per_group(filter_rows.transpose(0, 2, 1),                    # W^T @ g
                                 g.reshape(groups, filters // groups, windows))
    grad_cols = grad_cols.reshape(channels, kh, kw, n, oh, ow)
    return kernels.col2im(grad_cols, tuple(input_shape), (kh, kw), stride, padding, dilation)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, caller="conv2d"):
    """Convolve a batch of images with a bank of filters (PyTorch's arguments and order).

    x: (N, C, H, W); weight: (F, C/groups, KH, KW); bias: (F,) or None.
    stride (>= 1), padding (>= 0), dilation (>= 1): int or (h, w) pair;
    groups (>= 1) must divide C and F. Returns (N, F, OH, OW) with
    OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1 (and the same for W).
    caller: who called the op (a layer's description), named in error messages.
    A batch of N = 0 images gives an empty (0, F, OH, OW) result, as in PyTorch.
    """
    x, weight, bias, stride, padding, dilation, groups, out = checked_convolution(
        x, weight, bias, stride, padding, dilation, groups, caller)
    call = routes.ConvCall.of(x.data, weight.shape, stride, padding, dilation, groups, out)
    route = routes.choose("conv2d", call)               # None: the formulas above
    if route is None:
        function = Conv2dFunction(stride, padding, out, dilation, groups)
    else:
        function = RoutedFunction(route, call)          # the same numbers: kernels/routes.py
    return function(x, weight) if bias is None else function(x, weight, bias)


def checked_convolution(x, weight, bias, stride, padding, dilation, groups, caller):
    """conv2d's arguments checked and normalised: (x, weight, bias, stride, padding,
    dilation, groups, out), tensors and (h, w) pairs, out = (OH, OW). Raises
    ShapeError, ArgumentError or DTypeError, in words, for what does not fit."""
    x, weight = as_tensor(x), as_tensor(weight)
    stride = pair(stride, "stride", caller, minimum=1)
    padding = pair(padding, "padding", caller, minimum=0)
    dilation = pair(dilation, "dilation", caller, minimum=1)
    groups = whole_number(groups, "groups", caller, minimum=1)
    bias = None if bias is None else as_tensor(bias)
    check_input(caller, x, 4, "(N, C, H, W)")
    if weight.ndim != 4:
        raise ShapeError(f"{caller}: weight must be (F, C, KH, KW), got shape {weight.shape}")
    check_parameters(caller, x, weight, bias)
    filters, group_channels, kh, kw = weight.shape
    if filters % groups:
        raise ShapeError(
            f"{caller}: the weight's {filters} filters (shape {weight.shape} = (F, C/groups, KH, KW)) "
            f"do not split into groups={groups} equal groups; F must be divisible by groups"
        )
    if x.shape[1] != groups * group_channels:
        needed = f"{channels_text(group_channels, groups)}"
        raise ShapeError(
            f"{caller}: input has {x.shape[1]} channels (shape {x.shape}) but the filters "
            f"need {needed} (weight shape {weight.shape} = (F, C/groups, KH, KW), groups={groups}); "
            f"expected input (N, {groups * group_channels}, H, W)"
        )
    out = (
        conv_output_size(x.shape[2], kh, stride[0], padding[0], caller=caller, axis="height",
                         dilation=dilation[0]),
        conv_output_size(x.shape[3], kw, stride[1], padding[1], caller=caller, axis="width",
                         dilation=dilation[1]),
    )
    if bias is not None and bias.shape != (filters,):
        raise ShapeError(f"{caller}: bias must have shape ({filters},) (one per filter), got {bias.shape}")
    return x, weight, bias, stride, padding, dilation, groups, out


def channels_text(group_channels, groups):
    """How many input channels the filters need, in words: "4" or "2*3 = 6 (3 per group)"."""
    if groups == 1:
        return f"{group_channels}"
    return f"{groups}*{group_channels} = {groups * group_channels} ({group_channels} per group)"
