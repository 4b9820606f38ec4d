"""The layers: each wraps one op of minicnn.engine.functional and holds its parameters.

Every layer also knows its output shape for an input shape (C, H, W)
without computing anything (``output_shape``), which ``summary()`` uses, and
how it grows the receptive field (``window``: kernel, stride and dilation,
or None).

Constructors check their arguments (ArgumentError naming the argument, its
value and the allowed range), so that ``Conv2d(3, 4, 0)`` fails where it is
written, not at the first forward pass.

Initialisation (our choice, documented here): conv and linear weights are
drawn from N(0, 2 / fan_in) (He et al. 2015, suited to ReLU), biases are 0.
ZFNet initialised weights to 0.01 and biases to 0 (docs/sources.md section 4);
models can re-initialise (see minicnn/models).
"""

import math

import numpy

from .. import functional as F
from .. import rng
from ..backend import default_device, to_device
from ..errors import ArgumentError
from ..functional.activation import check_drop_probability
from ..functional.conv_pool import conv2d_max_pool2d
from ..functional.normalization import lrn_settings
from ..functional.pooling import window_settings
from ..shapes import ShapeError, conv_output_size, pair, whole_number
from .module import Module, Parameter


def _parameter(shape, scale, dtype=numpy.float32):
    data = rng.normal_array(shape, scale, dtype) if scale else numpy.zeros(shape, dtype)
    return Parameter(to_device(data, default_device()))


def _compact(pair_value):
    """(3, 3) -> "3"; (3, 5) -> "(3, 5)": how reprs show kernel sizes and strides."""
    return str(pair_value[0]) if pair_value[0] == pair_value[1] else str(pair_value)


def _check_flag(value, name, caller):
    """A yes/no setting (bias=True) must be a bool (Python's or NumPy's): ArgumentError for 0, "no", None."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise ArgumentError(f"{caller}: {name} must be True or False, got {value!r}")
    return bool(value)


def _check_chw(layer, input_shape, channels=None):
    if len(input_shape) != 3:
        raise ShapeError(f"{layer.describe()}: expects an input (C, H, W), got {tuple(input_shape)}")
    if channels is not None and input_shape[0] != channels:
        raise ShapeError(
            f"{layer.describe()}: input has {input_shape[0]} channels (shape {tuple(input_shape)}) "
            f"but the layer needs {channels}"
        )


class Conv2d(Module):
    """Convolution layer. weight: (out_channels, in_channels / groups, KH, KW); bias: (out_channels,).

    Input (N, in_channels, H, W) -> output (N, out_channels, OH, OW),
    OH = (H + 2P - D(KH - 1) - 1) / S + 1, which is (H - KH + 2P) / S + 1
    without dilation (D = 1). Parameters: out * (in / groups * KH * KW + 1).
    PyTorch's arguments, in its order: dilation D spaces the filter's taps D
    apart; groups G splits the channels and filters into G groups, each
    filter seeing the in/G channels of its group (AlexNet's two GPUs; see
    functional/conv.py). G must divide both in_channels and out_channels.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__()
        caller = "Conv2d"
        self.in_channels = whole_number(in_channels, "in_channels", caller, minimum=1)
        self.out_channels = whole_number(out_channels, "out_channels", caller, minimum=1)
        self.kernel_size = pair(kernel_size, "kernel_size", caller, minimum=1)
        self.stride = pair(stride, "stride", caller, minimum=1)
        self.padding = pair(padding, "padding", caller, minimum=0)
        self.dilation = pair(dilation, "dilation", caller, minimum=1)
        self.groups = whole_number(groups, "groups", caller, minimum=1)
        for name, count in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise ArgumentError(
                    f"{caller}: groups={self.groups} must divide in_channels={self.in_channels} and "
                    f"out_channels={self.out_channels}; {name} {count} / {self.groups} groups = "
                    f"{count / self.groups:.3g} channels per group"
                )
        _check_flag(bias, "bias", caller)
        group_channels = self.in_channels // self.groups
        fan_in = group_channels * self.kernel_size[0] * self.kernel_size[1]   # what one filter sees
        self.weight = _parameter((self.out_channels, group_channels, *self.kernel_size), math.sqrt(2.0 / fan_in))
        self.bias = _parameter((self.out_channels,), 0.0) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        caller=self.describe())

    def forward_then_max_pool(self, x, pool, relu=None):
        """pool(self(x)) for a MaxPool2d layer ``pool``, or relu(pool(self(x))) for a ReLU
        layer ``relu``, as one op where that is faster (functional/conv_pool.py); the same
        numbers."""
        return conv2d_max_pool2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                 self.groups, pool.kernel_size, pool.stride, pool.padding,
                                 pool.ceil_mode, pool.dilation, caller=self.describe(),
                                 pool_caller=pool.describe(), relu=relu is not None,
                                 relu_caller=relu.describe() if relu is not None else "relu")

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={_compact(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f", stride={_compact(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={_compact(self.padding)}"
        if self.dilation != (1, 1):
            text += f", dilation={_compact(self.dilation)}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text if self.bias is not None else text + ", bias=False"

    @property
    def window(self):
        return self.kernel_size, self.stride, self.dilation

    def output_shape(self, input_shape):
        _check_chw(self, input_shape, self.in_channels)
        return (self.out_channels,) + _window_output(self, input_shape[1:], ceil_mode=False)


def _window_output(layer, size, ceil_mode):
    """(OH, OW) of a window layer for an input of size (H, W), by conv_output_size."""
    caller = layer.describe()
    return tuple(
        conv_output_size(size[axis], layer.kernel_size[axis], layer.stride[axis], layer.padding[axis],
                         ceil_mode, caller=caller, axis=("height", "width")[axis],
                         dilation=layer.dilation[axis])
        for axis in (0, 1)
    )


class _Pool2d(Module):
    """What max and average pooling share: a window, its stride, padding and dilation, no parameters."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, dilation=1):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = window_settings(
            type(self).__name__, kernel_size, stride, padding, dilation)
        self.ceil_mode = _check_flag(ceil_mode, "ceil_mode", type(self).__name__)

    def extra_repr(self):
        text = f"kernel_size={_compact(self.kernel_size)}, stride={_compact(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={_compact(self.padding)}"
        if self.dilation != (1, 1):
            text += f", dilation={_compact(self.dilation)}"
        return text + (", ceil_mode=True" if self.ceil_mode else "")

    @property
    def window(self):
        return self.kernel_size, self.stride, self.dilation

    def output_shape(self, input_shape):
        _check_chw(self, input_shape)
        return (input_shape[0],) + _window_output(self, input_shape[1:], self.ceil_mode)


class MaxPool2d(_Pool2d):
    """Max pooling layer; no parameters. (N, C, H, W) -> (N, C, OH, OW).

    kernel_size, stride (default: kernel_size), padding (at most half the
    window), ceil_mode, dilation (the spacing of the window's taps; keyword:
    PyTorch has it before ceil_mode). ``forward`` returns the pooled maps only;
    ``forward_with_switches`` also returns the switches, for the deconvnet.
    Nothing is kept on the layer.
    """

    is_max_pool = True

    def forward(self, x):
        return self.forward_with_switches(x)[0]

    def forward_with_switches(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            return_switches=True, dilation=self.dilation, caller=self.describe())


class AvgPool2d(_Pool2d):
    """Average pooling layer; no parameters. (N, C, H, W) -> (N, C, OH, OW).

    PyTorch's defaults and divisor rule: see functional.avg_pool2d.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = _check_flag(count_include_pad, "count_include_pad", "AvgPool2d")

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, caller=self.describe())

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")


class Subsampling(_Pool2d):
    """LeNet-5's trainable subsampling (LeCun et al. 1998, section II.B, layer S2).

    weight: (channels,), bias: (channels,). (N, C, H, W) -> (N, C, OH, OW),
    non-overlapping KH x KW windows (stride = kernel_size), OH = H // KH:

        y[n, c] = weight[c] * avg_pool2d(x, kernel_size)[n, c] + bias[c]

    In 1998 the four inputs of a 2x2 window are added, multiplied by a
    trainable coefficient and shifted by a trainable bias, one pair per map;
    the mean is that sum / 4, the 4 absorbed in ``weight``. weight starts at
    1 and bias at 0 (our choice), so the layer starts as average pooling.
    Parameters: 2 * channels. (1998 squashes the result; follow it with nn.Tanh.)
    """

    def __init__(self, channels, kernel_size=2):
        super().__init__(kernel_size)
        self.channels = whole_number(channels, "channels", "Subsampling", minimum=1)
        self.weight = Parameter(to_device(numpy.ones(self.channels, numpy.float32), default_device()))
        self.bias = _parameter((self.channels,), 0.0)

    def forward(self, x):
        mean = F.avg_pool2d(x, self.kernel_size, caller=self.describe())
        if mean.shape[1] != self.channels:
            raise ShapeError(
                f"{self.describe()}: input has {mean.shape[1]} channels (shape {x.shape}) "
                f"but the layer has a weight and a bias for {self.channels}"
            )
        per_map = (1, self.channels, 1, 1)
        return mean * self.weight.reshape(*per_map) + self.bias.reshape(*per_map)

    def extra_repr(self):
        return f"{self.channels}, kernel_size={_compact(self.kernel_size)}"

    def output_shape(self, input_shape):
        _check_chw(self, input_shape, self.channels)
        return super().output_shape(input_shape)


class _ShapePreserving(Module):
    window = None

    def output_shape(self, input_shape):
        return tuple(input_shape)


class ReLU(_ShapePreserving):
    """max(0, x), any shape."""

    commutes_with_max_pool = True    # max(0, max(a, b)) = max(max(0, a), max(0, b)): see Sequential.forward

    def forward(self, x):
        return F.relu(x, caller=self.describe())


class Sigmoid(_ShapePreserving):
    """1 / (1 + exp(-x)), any shape; stable for large |x|."""

    def forward(self, x):
        return F.sigmoid(x, caller=self.describe())


class Tanh(_ShapePreserving):
    """tanh(x), any shape."""

    def forward(self, x):
        return F.tanh(x, caller=self.describe())


class LocalResponseNorm(_ShapePreserving):
    """Local response normalization across ``size`` channels (AlexNet 3.3). Shape preserved."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = lrn_settings("LocalResponseNorm", size, alpha, beta, k)

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k, caller=self.describe())

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Dropout(_ShapePreserving):
    """Inverted dropout with drop probability p; identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check_drop_probability(p, "Dropout")

    def forward(self, x):
        return F.dropout(x, self.p, self.training, caller=self.describe())

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W)."""

    window = None

    def forward(self, x):
        return F.flatten(x)

    def output_shape(self, input_shape):
        return (int(numpy.prod(input_shape)),)


class Linear(Module):
    """Fully connected layer. weight: (out_features, in_features); (N, in) -> (N, out)."""

    window = None

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = whole_number(in_features, "in_features", "Linear", minimum=1)
        self.out_features = whole_number(out_features, "out_features", "Linear", minimum=1)
        _check_flag(bias, "bias", "Linear")
        self.weight = _parameter((self.out_features, self.in_features), math.sqrt(2.0 / self.in_features))
        self.bias = _parameter((self.out_features,), 0.0) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias, caller=self.describe())

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}"

    def output_shape(self, input_shape):
        if len(input_shape) != 1 or input_shape[0] != self.in_features:
            raise ShapeError(
                f"{self.describe()}: expects ({self.in_features},) features, got {tuple(input_shape)}; "
                "in_features must equal the flattened size C*H*W of the layer before"
            )
        return (self.out_features,)
