"""Max pooling that records its switches, unpooling that uses them, and average pooling.

x: (N, C, H, W). Each depth slice is pooled on its own; pooling has no
parameters (CS231n lecture 5).

    y[n, c, oy, ox] = max over the window of x_pad[n, c, oy*SH + i, ox*SW + j]
    OH = (H - KH + 2*PH) / SH + 1   (floored; ceil_mode keeps a last partial window)

Max pooling also takes a dilation D, as PyTorch's does: the window's taps
sit D apart, x_pad[n, c, oy*SH + i*DH, ox*SW + j*DW], and
OH = (H + 2*PH - DH*(KH - 1) - 1) / SH + 1 (minicnn/engine/shapes.py).

The "switches" are where each maximum was found (ZFNet 2.1). They are
returned, never hidden in the layer, so that the deconvnet can unpool with the
switches of the very image it ran up.

Average pooling (further down) replaces the max by the mean of the window,
the "subsampling" of LeNet-5 (LeCun et al. 1998, section II.B).
"""

import numbers
from dataclasses import dataclass

from .. import kernels
from ..backend import get_array_module
from ..errors import ArgumentError
from ..shapes import ShapeError, conv_output_size, pair
from ..tensor import Function, as_tensor
from .checks import check_float, check_input


@dataclass
class Switches:
    """Where each pooled maximum came from.

    indices:     (N, C, OH, OW) int64, flat index ``row * W + col`` into the
                 H*W plane of the pooled input
    input_shape: (N, C, H, W), the shape of the pooled input
    """

    indices: object
    input_shape: tuple

    def to(self, device):
        from ..backend import to_device
        return Switches(to_device(self.indices, device), self.input_shape)


class MaxPool2dFunction(Function):
    name = "max_pool2d"

    def __init__(self, kernel, stride, padding, out, dilation=(1, 1)):
        self.kernel, self.stride, self.padding, self.out = kernel, stride, padding, out
        self.dilation = dilation

    def forward(self, x):
        y, indices = kernels.maxpool_forward(x, self.kernel, self.stride, self.padding, self.out,
                                             self.dilation)
        self.switches = Switches(indices, tuple(x.shape))
        return y

    def backward(self, grad_output):
        # The gradient flows only to the maximum of each window.
        return kernels.maxpool_scatter(grad_output, self.switches.indices, self.switches.input_shape)


def window_settings(caller, kernel_size, stride, padding, dilation=1):
    """A pooling window's settings as (h, w) pairs of ints: kernel, stride, padding, dilation.

    stride None means stride = kernel_size. ArgumentError for a setting that
    is not a whole number or below its least value (kernel, stride and
    dilation 1, padding 0); ShapeError for padding over half the window
    (PyTorch's rule, so that the first and last windows hold a real pixel).
    """
    kernel = pair(kernel_size, "kernel_size", caller, minimum=1)
    stride = kernel if stride is None else pair(stride, "stride", caller, minimum=1)
    padding = pair(padding, "padding", caller, minimum=0)
    dilation = pair(dilation, "dilation", caller, minimum=1)
    for axis, k, p in (("height", kernel[0], padding[0]), ("width", kernel[1], padding[1])):
        if p > k // 2:
            raise ShapeError(
                f"{caller}: padding {p} is more than half the {k}-wide window along the {axis}; "
                "needs P <= F // 2 so every window holds a real pixel"
            )
    return kernel, stride, padding, dilation


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_switches=False,
               dilation=1, caller="max_pool2d"):
    """Max over KH x KW windows moved SH, SW at a time.

    x: (N, C, H, W) -> y: (N, C, OH, OW); stride defaults to kernel_size.
    OH = (H + 2*PH - DH*(KH - 1) - 1) / SH + 1, floored (or ceil_mode);
    dilation D spaces the window's taps D apart (1: next to each other).
    Padding counts as -inf and may be at most half the window (PyTorch's rule).
    Ties go to the first maximum in row-major window order. (With dilation a
    window can hold padding only; its maximum is -inf, as in PyTorch.)
    return_switches: also return a ``Switches`` (indices (N, C, OH, OW)).
    """
    x = as_tensor(x)
    kernel, stride, padding, dilation = window_settings(caller, kernel_size, stride, padding, dilation)
    check_input(caller, x, 4, "(N, C, H, W)")
    out = tuple(
        conv_output_size(x.shape[2 + axis], kernel[axis], stride[axis], padding[axis], ceil_mode,
                         caller=caller, axis=("height", "width")[axis], dilation=dilation[axis])
        for axis in (0, 1)
    )
    function = MaxPool2dFunction(kernel, stride, padding, out, dilation)
    y = function(x)
    return (y, function.switches) if return_switches else y


class MaxUnpool2dFunction(Function):
    name = "max_unpool2d"

    def __init__(self, switches):
        self.switches = switches

    def forward(self, y):
        return kernels.maxpool_scatter(y, self.switches.indices, self.switches.input_shape)

    def backward(self, grad_output):
        return kernels.maxpool_gather(grad_output, self.switches.indices)


def max_unpool2d(y, switches, caller="max_unpool2d"):
    """Put each pooled value back where its maximum was (ZFNet's unpooling).

    y: (N, C, OH, OW); switches: the ``Switches`` from the max_pool2d that
    made y. Returns (N, C, H, W), zero except at the switch positions.
    Where overlapping windows picked the same pixel their values add, so
    unpooling is exactly the backward pass of pooling (PyTorch's
    max_unpool2d keeps one of them instead; the two agree without overlap).
    """
    if not isinstance(switches, Switches):
        raise ArgumentError(
            f"{caller}: switches must be the Switches that max_pool2d(..., return_switches=True) "
            f"returned, got a {type(switches).__module__}.{type(switches).__name__}; a plain array "
            "of indices does not say the shape of the pooled input to unpool to"
        )
    y = as_tensor(y)
    check_float(caller, y)
    check_switches(caller, switches)
    if y.shape != tuple(switches.indices.shape):
        raise ShapeError(
            f"{caller}: input has shape {y.shape} but the switches were recorded for a pooled "
            f"output of shape {tuple(switches.indices.shape)}; unpool with the switches of the "
            "same forward pass"
        )
    return MaxUnpool2dFunction(switches)(y)


def check_switches(caller, switches):
    """Switches that can be unpooled: integer indices (N, C, OH, OW) of an input (N, C, H, W), each
    one a pixel of that H*W plane. Checked on every backend before any array is touched, so a
    crafted or stale Switches is named here, not met inside a scatter (a NumPy "cannot reshape",
    or a silent write into another image's plane)."""
    indices, shape = switches.indices, switches.input_shape
    if not (isinstance(shape, (tuple, list)) and len(shape) == 4
            and all(isinstance(size, numbers.Integral) and not isinstance(size, bool) and size >= 0
                    for size in shape)):
        raise ArgumentError(f"{caller}: switches.input_shape must be the (N, C, H, W) of the pooled input, "
                            f"four whole numbers; got {shape!r}")
    dtype = getattr(indices, "dtype", None)
    if getattr(indices, "ndim", None) != 4 or dtype is None or dtype.kind not in "iu":
        raise ArgumentError(f"{caller}: switches.indices must be a 4-D integer array (N, C, OH, OW); got "
                            f"{'a ' + type(indices).__name__ if dtype is None else f'{dtype} of shape {tuple(indices.shape)}'}")
    shape = tuple(int(size) for size in shape)
    if tuple(indices.shape[:2]) != shape[:2]:
        raise ShapeError(f"{caller}: switches.indices of shape {tuple(indices.shape)} do not match "
                         f"switches.input_shape {shape}: their N and C must be the same")
    plane = shape[2] * shape[3]
    if indices.size:
        xp = get_array_module(indices)
        low, high = int(xp.min(indices)), int(xp.max(indices))
        if low < 0 or high >= plane:
            bad = low if low < 0 else high
            raise ArgumentError(
                f"{caller}: switches.indices hold {bad}, outside the {shape[2]}x{shape[3]} plane of the "
                f"pooled input (each must be row * W + col in 0..{plane - 1}); unpool with the switches "
                "that max_pool2d(..., return_switches=True) returned")


# ----- average pooling ---------------------------------------------------------------------


def window_sizes(size, kernel_size, stride, padding, out, count_include_pad, xp, dtype):
    """How many positions each of the ``out`` windows along one axis averages over: (out,).

    Window o covers positions o*S - P .. o*S - P + F - 1 (negative ones lie
    in the left padding). Its divisor counts those inside the padded input,
    -P .. N+P-1, so the overhang of a ceil_mode window beyond the padding
    never counts; without count_include_pad, only those inside the input, 0 .. N-1.
    """
    start = xp.arange(out) * stride - padding
    end = xp.minimum(start + kernel_size, size + padding)
    if not count_include_pad:
        start, end = xp.maximum(start, 0), xp.minimum(end, size)
    return (end - start).astype(dtype)


class AvgPool2dFunction(Function):
    name = "avg_pool2d"

    def __init__(self, kernel, stride, padding, out, count_include_pad):
        self.kernel, self.stride, self.padding, self.out = kernel, stride, padding, out
        self.count_include_pad = count_include_pad

    def forward(self, x):
        xp = get_array_module(x)
        self.input_shape = tuple(x.shape)
        divisor = window_divisors(self.input_shape, self.kernel, self.stride, self.padding, self.out,
                                  self.count_include_pad, xp, x.dtype)               # (OH, OW)
        cols = kernels.im2col(x, self.kernel, self.stride, self.padding, self.out)   # (C, KH, KW, N, OH, OW)
        sums = cols.sum(axis=(1, 2))                                          # (C, N, OH, OW)
        return xp.ascontiguousarray((sums / divisor).transpose(1, 0, 2, 3))

    def backward(self, grad_output):
        return avg_pool2d_input_gradient(grad_output, self.input_shape, self.kernel, self.stride,
                                         self.padding, self.count_include_pad)


def window_divisors(input_shape, kernel, stride, padding, out, count_include_pad, xp, dtype):
    """The divisor d of every window, (OH, OW): its row count times its column count."""
    rows = window_sizes(input_shape[2], kernel[0], stride[0], padding[0], out[0], count_include_pad, xp, dtype)
    columns = window_sizes(input_shape[3], kernel[1], stride[1], padding[1], out[1], count_include_pad, xp, dtype)
    return rows[:, None] * columns[None, :]


def avg_pool2d_input_gradient(grad_output, input_shape, kernel, stride, padding, count_include_pad=True):
    """dL/dx of average pooling: each value / its window's divisor, spread over the window.

    grad_output: (N, C, OH, OW), shaped like the pooled output; input_shape:
    (N, C, H, W); kernel, stride, padding: (h, w) pairs, as the forward pass
    had them. Returns (N, C, H, W):

        dL/dx[n, c, y, x] = sum over the windows (oy, ox) holding pixel (y, x) of
                            grad[n, c, oy, ox] / d[oy, ox]

    Each of a window's KH*KW taps receives grad / d; col2im adds up what
    overlapping windows send to one pixel and drops what fell on the
    padding. The deconvnet sends its signal down an AvgPool2d this way
    (minicnn/visualize/deconvnet.py).
    """
    xp = get_array_module(grad_output)
    (n, c), (kh, kw), (oh, ow) = input_shape[:2], kernel, grad_output.shape[2:]
    divisor = window_divisors(input_shape, kernel, stride, padding, (oh, ow), count_include_pad,
                              xp, grad_output.dtype)                        # (OH, OW)
    share = (grad_output / divisor).transpose(1, 0, 2, 3)                   # (C, N, OH, OW)
    grad_cols = xp.broadcast_to(share[:, None, None], (c, kh, kw, n, oh, ow))
    return kernels.col2im(grad_cols, tuple(input_shape), kernel, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               caller="avg_pool2d"):
    """Mean over KH x KW windows moved SH, SW at a time (PyTorch's avg_pool2d).

    x: (N, C, H, W) -> y: (N, C, OH, OW); stride defaults to kernel_size.

        y[n, c, oy, ox] = (sum over the window of x_pad[n, c, oy*SH + i, ox*SW + j]) / d[oy, ox]
        dL/dx[n, c, y, x] = sum over the windows (oy, ox) holding pixel (y, x) of
                            grad[n, c, oy, ox] / d[oy, ox]
        OH = (H - KH + 2*PH) / SH + 1   (floored; ceil_mode keeps a last partial
                                         window if it starts inside the input or its left padding)

    Padding counts as 0 and may be at most half the window (PyTorch's rule).
    The divisor d of a window is its size KH*KW clipped to the padded input
    (a ceil_mode window hanging past the padding counts only what lies
    inside it); with count_include_pad=False, only the real pixels it holds.
    See ``window_sizes``; d is the product of its row and column counts.

    The forward pass sums the taps of im2col's columns, (C, KH, KW, N, OH, OW);
    the backward pass spreads grad / d over each window's taps and adds them
    back with col2im, the scatter of the convolution's input gradient. So
    both run in the kernels' compiled twins where kernels/__init__.py picks
    them (on the "numba" backend, Numba's loops), with no loop written here.
    The subsampling layers of LeNet-5 (LeCun et al. 1998, section II.B) are
    2x2 averages with a trainable scale and bias per map: nn.Subsampling.
    """
    x = as_tensor(x)
    kernel, stride, padding, _ = window_settings(caller, kernel_size, stride, padding)
    check_input(caller, x, 4, "(N, C, H, W)")
    out = (
        conv_output_size(x.shape[2], kernel[0], stride[0], padding[0], ceil_mode, caller=caller, axis="height"),
        conv_output_size(x.shape[3], kernel[1], stride[1], padding[1], ceil_mode, caller=caller, axis="width"),
    )
    return AvgPool2dFunction(kernel, stride, padding, out, count_include_pad)(x)
