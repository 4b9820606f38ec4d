"""The transposed convolution: conv2d's input gradient as an op of its own (ZFNet 2.1).

x: (N, C_in, H, W), a signal shaped like a convolution's output;
weight: (C_in, C_out/G, KH, KW), PyTorch's layout for it (the weight of the
conv2d that goes from C_out channels to C_in, used as it is); bias: (C_out,)
or None; G groups. Every input pixel scatters its value, times the filter,
over the output window it stands for:

    y[n, co, iy*SH - PH + i*DH, ix*SW - PW + j*DW] += x[n, ci, iy, ix] * w[ci, co', i, j]
    y[n, co] += b[co]
        (ci in group g and co = g*C_out/G + co'; positions outside the output dropped)

    OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + OPH + 1      (OW likewise)

Why it is the backward of conv2d: a convolution z = conv2d(u, w) with the
same settings, run on an input u of shape (N, C_out, OH, OW), has H x W
outputs, and output z[n, ci, iy, ix] reads exactly the window that pixel
x[n, ci, iy, ix] writes to above. So y is dL/du for dL/dz = x: the
col2im(W^T @ x) that conv2d's backward computes (``conv2d_input_gradient``
in conv.py, called here). Written as a correlation it correlates x with
every filter flipped vertically and horizontally, input and output channels
swapped: ZFNet's deconvnet sends its signal down a Conv2d layer with these
"transposed versions of the same filters" (section 2.1;
minicnn/visualize/deconvnet.py).

output_padding OP: conv2d floors its output size, so inputs of up to S
different heights give the same H; OP rows added at the bottom (OP columns
at the right) pick among them, and the rows conv2d's floor dropped give
back the convolution's input shape. Each OP is below max(stride, dilation)
(PyTorch's rule); the added rows receive only what reaches them.

Backward, with g = dL/dy (N, C_out, OH, OW) and cols = im2col(g), the
(C_out*KH*KW, N*H*W) windows that conv2d(g, w) reads (one matmul per group):
    dL/dx = W @ cols          W = w.reshape(C_in, C_out/G*KH*KW): conv2d(g, w),
                              the convolution itself is the transpose's transpose
    dL/dw = x_rows @ cols^T   x_rows = x as (C_in, N*H*W): conv2d's weight gradient
                              with the roles swapped (g as its input, x as its gradient)
    dL/db = sum of g over N, OH and OW, added in float64
"""

from .. import kernels
from ..backend import get_array_module
from ..errors import ArgumentError
from ..shapes import ShapeError, conv_output_size, pair, whole_number
from ..tensor import Function, as_tensor
from .checks import check_input, check_parameters
from .conv import conv2d_input_gradient


def matmul_per_group(a, b):
    """a_g @ b_g for every group g: a (G, M, K), b (G, K, P) -> (G, M, P)."""
    if a.shape[0] == 1:
        return kernels.matmul(a[0], b[0])[None]     # one group: one plain product
    return get_array_module(a).matmul(a, b)


class ConvTranspose2dFunction(Function):
    name = "conv_transpose2d"
    input_names = ("input", "weight", "bias")

    def __init__(self, stride, padding, dilation, groups, output_shape, reach):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.output_shape = output_shape   # (N, C_out, OH, OW)
        self.reach = reach                 # (rows, columns) that conv2d of the output would have

    def forward(self, x, weight, bias=None):
        xp = get_array_module(x)
        self.x, self.weight = x, weight
        extra_rows, extra_columns = self.reach[0] - x.shape[2], self.reach[1] - x.shape[3]
        if extra_rows or extra_columns:
            # output_padding >= stride (allowed when dilation > stride): conv2d of the output
            # would have more rows than x; zero rows fill the gap and scatter nothing
            x = xp.pad(x, ((0, 0), (0, 0), (0, extra_rows), (0, extra_columns)))
        y = conv2d_input_gradient(kernels.images_to_rows(x), weight, self.output_shape, self.stride,
                                  self.padding, self.dilation, self.groups)    # col2im(W^T @ x)
        if bias is not None:
            y = y + bias.reshape(1, -1, 1, 1)
        return y

    def backward(self, grad_output):
        xp = get_array_module(grad_output)
        groups, (n, _, height, width) = self.groups, self.x.shape
        in_channels, group_out, kh, kw = self.weight.shape
        windows = n * height * width
        grad_x = grad_weight = grad_bias = None
        if self.needs_input_grad[0] or self.needs_input_grad[1]:
            cols = kernels.im2col(grad_output, (kh, kw), self.stride, self.padding, (height, width),
                                  dilation=self.dilation)                 # (C_out, KH, KW, N, H, W)
            cols = cols.reshape(groups, group_out * kh * kw, windows)     # (G, C_out/G*KH*KW, P)
        if self.needs_input_grad[0]:
            filter_rows = self.weight.reshape(groups, in_channels // groups, group_out * kh * kw)
            rows = matmul_per_group(filter_rows, cols).reshape(in_channels, windows)     # W @ cols
            grad_x = kernels.rows_to_images_plus_bias(rows, n).reshape(self.x.shape)
        if self.needs_input_grad[1]:
            x_rows = kernels.images_to_rows(self.x).reshape(groups, in_channels // groups, windows)
            grad_weight = matmul_per_group(x_rows, cols.transpose(0, 2, 1))              # x_rows @ cols^T
            grad_weight = grad_weight.reshape(self.weight.shape)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=xp.float64).astype(grad_output.dtype)
        return grad_x, grad_weight, grad_bias


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     caller="conv_transpose2d"):
    """The transposed convolution, PyTorch's ``conv_transpose2d`` (its arguments and order).

    x: (N, C_in, H, W); weight: (C_in, C_out/groups, KH, KW); bias: (C_out,)
    or None. stride (>= 1), padding (>= 0), output_padding (>= 0, below
    max(stride, dilation)), dilation (>= 1): int or (h, w) pair; groups
    (>= 1) must divide C_in. Returns (N, C_out, OH, OW) with
    OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + OPH + 1 (and the same for W).
    The module docstring gives the formula and why it is conv2d's backward.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    stride = pair(stride, "stride", caller, minimum=1)
    padding = pair(padding, "padding", caller, minimum=0)
    output_padding = pair(output_padding, "output_padding", caller, minimum=0)
    dilation = pair(dilation, "dilation", caller, minimum=1)
    groups = whole_number(groups, "groups", caller, minimum=1)
    check_input(caller, x, 4, "(N, C_in, H, W)")
    if weight.ndim != 4:
        raise ShapeError(f"{caller}: weight must be (C_in, C_out/groups, KH, KW), got shape {weight.shape}")
    check_parameters(caller, x, weight, bias)
    in_channels, group_out, kh, kw = weight.shape
    if x.shape[1] != in_channels:
        raise ShapeError(
            f"{caller}: input has {x.shape[1]} channels (shape {x.shape}) but the weight "
            f"{weight.shape} = (C_in, C_out/groups, KH, KW) needs C_in = {in_channels}; "
            f"expected input (N, {in_channels}, H, W)"
        )
    if in_channels % groups:
        raise ShapeError(
            f"{caller}: groups={groups} does not divide the {in_channels} input channels (weight "
            f"{weight.shape} = (C_in, C_out/groups, KH, KW)); each group needs C_in / groups whole channels"
        )
    for axis, size, k in zip(("height", "width"), x.shape[2:], (kh, kw)):
        if size < 1 or k < 1:
            what, value = ("input", size) if size < 1 else ("kernel", k)
            raise ShapeError(f"{caller}: the {what} {axis} is {value} (input {x.shape}, weight "
                             f"{weight.shape}); it must be at least 1")
    out = []
    for axis, size, k, s, p, op, d in zip(("height", "width"), x.shape[2:], (kh, kw), stride, padding,
                                          output_padding, dilation):
        if op >= max(s, d):
            raise ArgumentError(
                f"{caller}: output_padding must be below max(stride, dilation) = {max(s, d)} along the "
                f"{axis}, got output_padding={op}"
            )
        length = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        if length < 1:
            raise ShapeError(
                f"{caller}: the output {axis} (H - 1)*S - 2*P + D*(K - 1) + OP + 1 = "
                f"({size} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {length} is below 1: "
                f"padding {p} crops more than the output has"
            )
        out.append(length)
    output_shape = (x.shape[0], groups * group_out, out[0], out[1])
    if bias is not None and bias.shape != (output_shape[1],):
        raise ShapeError(f"{caller}: bias must have shape ({output_shape[1]},) (one per output channel), "
                         f"got {bias.shape}")
    reach = tuple(conv_output_size(length, k, s, p, dilation=d)
                  for length, k, s, p, d in zip(out, (kh, kw), stride, padding, dilation))
    function = ConvTranspose2dFunction(stride, padding, dilation, groups, output_shape, reach)
    return function(x, weight) if bias is None else function(x, weight, bias)
