"""ZFNet's deconvnet (Zeiler & Fergus 2014, section 2.1): one activation, back in pixels.

To see what a unit responds to, run the image up the convnet, keep that one
activation (its value; every other activation of the layer set to zero) and
send it down a "deconvnet" attached to the convnet, layer by layer in reverse:

    layer            up (convnet)              down (deconvnet)
    MaxPool2d        max, recording switches   unpool: each value back at its switch
                                               (F.max_unpool2d with the switches of
                                               *this* image's forward pass)
    ReLU             max(0, x)                 rectify the signal: max(0, signal)
    Conv2d           filters w                 the same filters transposed (each one
                                               flipped vertically and horizontally):
                                               F.conv_transpose2d, col2im(w^T @ signal),
                                               exactly the convolution's input-gradient;
                                               no bias.
                                               Grouped: each group's filters send their
                                               signal to their own group's channels;
                                               dilated: to the pixels their taps read
    AvgPool2d        mean of each window       each value / its window's divisor spread
                                               over the window: average pooling's own
                                               backward (F.avg_pool2d_input_gradient)
    Subsampling      weight[c] * mean + b[c]   times weight[c], no bias, then as AvgPool2d
    LocalResponseNorm normalize                passed through unchanged
    Sigmoid, Tanh    squash                    passed through unchanged
    Dropout          (eval mode) identity      identity
    Linear           x @ W^T + b               signal @ W  (W transposed)
    Flatten          (N, C, H, W) -> (N, D)    reshaped back to (N, C, H, W)

Nothing is learned and no normalization is inverted. ZFNet 2.1 defines the
way down for the layers of its own network only; average pooling and the
trainable subsampling are linear, so their way down is their transpose, as
for a convolution; the squashing functions have no rule there (see
``_step_down``).

The same thing said with gradients (the "deconvnet rule"): the projection is
the backward pass of the chosen activation, seeded with its value, in which
each ReLU's backward is replaced by a ReLU of the incoming gradient (the
forward pass's mask is ignored) and the backward of LRN, sigmoid and tanh
by the identity. For a non-negative activation (anything after a ReLU) that
is the activation's value times the input-gradient of the activation under
that rule, because every step down is positively homogeneous.
tests/test_visualize_deconvnet.py checks exactly this with the autograd engine.

Switches belong to one forward pass: ``up`` returns them inside a ``Trace``
and ``down`` takes that trace, so projecting another image in between
cannot change an earlier projection. Nothing is stored on the layers.
"""

from dataclasses import dataclass

import numpy

from ..engine import functional as F
from ..engine.backend import get_array_module, to_numpy
from ..engine.nn import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU,
                         Sequential, Sigmoid, Subsampling, Tanh)
from ..engine.tensor import as_tensor, no_grad
from .probe import as_batch, check_sequential, layer_index

SUPPORTED = (Conv2d, MaxPool2d, AvgPool2d, Subsampling, ReLU, Sigmoid, Tanh, LocalResponseNorm, Dropout,
             Linear, Flatten, Sequential)


def down_through_conv(signal, weight, input_shape, stride, padding, dilation=(1, 1), groups=1):
    """The way down a Conv2d layer: ``F.conv_transpose2d`` back to the shape it came from.

    signal: (N, F, OH, OW), shaped like the layer's output; weight: (F, C/G, KH, KW),
    the convnet's own filters; input_shape: (N, C, H, W), the shape the
    convolution was applied to; stride, padding, dilation: (h, w) pairs, and
    groups G, the layer's. Returns (N, C, H, W).

    F.conv_transpose2d (minicnn/engine/functional/transposed.py) is the
    convolution's input gradient with the signal in the place of dL/dy:
    it correlates the signal with each filter flipped vertically and
    horizontally, ZFNet's "transposed versions of the same filters". The
    convolution's output size is floored, so several input sizes give the
    same OH; output_padding gives back the rows and columns the floor
    dropped, H - ((OH - 1)*SH - 2*PH + DH*(KH - 1) + 1), and they receive
    zero: the forward convolution never reached them.
    """
    kernel = weight.shape[2:]
    dropped = tuple(size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
                    for size, out, k, s, p, d in zip(input_shape[2:], signal.shape[2:], kernel, stride, padding,
                                                     dilation))
    return F.conv_transpose2d(signal, weight, None, stride, padding, dropped, groups, dilation).data


@dataclass
class Step:
    """What the way down needs from one layer's forward pass.

    module:      the layer
    input_shape: the shape of the layer's input (Conv2d, the average pools and Flatten need it)
    switches:    F.Switches of a MaxPool2d (else None)
    inner:       the Steps of a nested Sequential (else None)
    """

    module: object
    input_shape: tuple
    switches: object = None
    inner: list = None


@dataclass
class Trace:
    """One forward pass up to a layer: its output and the Steps to go back down.

    activations: the output of ``model[layer]``, (N, C, H, W) or (N, D) array
    steps:       one Step per layer 0..layer
    input_shape: (N, C, H, W) of the images that were run up
    """

    activations: object
    steps: list
    input_shape: tuple


def _step_up(module, h):
    """Apply one layer (eval mode) and record its Step. h: Tensor -> (Tensor, Step)."""
    shape = h.shape
    if isinstance(module, MaxPool2d):
        y, switches = module.forward_with_switches(h)
        return y, Step(module, shape, switches=switches)
    if isinstance(module, Dropout):
        return h, Step(module, shape)                       # evaluation mode: identity
    if isinstance(module, Sequential):
        inner = []
        for child in module:
            h, step = _step_up(child, h)
            inner.append(step)
        return h, Step(module, shape, inner=inner)
    if not isinstance(module, SUPPORTED):
        names = ", ".join(kind.__name__ for kind in SUPPORTED)
        raise TypeError(
            f"Deconvnet: layer {module.describe()} has no deconvnet counterpart; "
            f"the deconvnet knows {names}"
        )
    return module(h), Step(module, shape)


def _step_down(step, signal):
    """Send ``signal`` (shaped like the layer's output) down through one layer."""
    module = step.module
    if isinstance(module, MaxPool2d):
        return F.max_unpool2d(signal, step.switches, caller=module.describe()).data
    if isinstance(module, ReLU):
        return F.relu(signal, caller=module.describe()).data   # rectify the reconstruction
    if isinstance(module, Conv2d):
        return down_through_conv(signal, module.weight.data, step.input_shape, module.stride, module.padding,
                                module.dilation, module.groups)
    if isinstance(module, Subsampling):
        # y = weight[c] * mean + bias[c]: the bias is dropped, as for a Conv2d,
        # the scale goes down with the signal, then the mean as for AvgPool2d
        signal = signal * module.weight.data.reshape(1, -1, 1, 1)
        return F.avg_pool2d_input_gradient(signal, step.input_shape, module.kernel_size, module.stride,
                                           module.padding)
    if isinstance(module, AvgPool2d):
        # average pooling is linear: down through its own backward, each value
        # divided by its window's divisor and spread over the window
        return F.avg_pool2d_input_gradient(signal, step.input_shape, module.kernel_size, module.stride,
                                           module.padding, module.count_include_pad)
    if isinstance(module, (LocalResponseNorm, Dropout)):
        return signal                                      # not inverted
    if isinstance(module, (Sigmoid, Tanh)):
        # ZFNet 2.1 rectifies only for ReLU, to keep the reconstruction positive
        # like the feature maps it stands for. A squashing function has no such
        # rule: inverting it (tanh^-1) blows up near +-1 and is undefined
        # beyond, and its backward would need the forward pass's slope, which
        # the deconvnet never uses. So the signal passes unchanged, as for LRN.
        return signal
    if isinstance(module, Linear):
        return signal @ module.weight.data                 # (N, OUT) @ (OUT, IN) = W^T applied
    if isinstance(module, Flatten):
        return signal.reshape(step.input_shape)
    for inner_step in reversed(step.inner):                # a nested Sequential
        signal = _step_down(inner_step, signal)
    return signal


def strongest_positions(maps):
    """(row, col) of the largest value of each map.

    maps: (N, H, W). Returns (N, 2) int64 NumPy array; ties go to the first
    maximum in row-major order (argmax's rule, like max pooling's).
    """
    n, height, width = maps.shape
    flat = to_numpy(maps.reshape(n, height * width).argmax(axis=1)).astype(numpy.int64)
    return numpy.stack([flat // width, flat % width], axis=1)


class Deconvnet:
    """A deconvnet attached to every layer of ``model`` (an nn.Sequential).

        deconv = Deconvnet(model)
        pixels = deconv.project(x, layer=3, channel=5)   # (N, C, H, W), like x

    Works for any Sequential of Conv2d (grouped and dilated too), MaxPool2d,
    AvgPool2d, Subsampling, ReLU, Sigmoid, Tanh, LocalResponseNorm, Dropout,
    Linear and Flatten (nested Sequentials too), so LeNet-5 as well as
    ZFNet, on NumPy or CuPy arrays, for a whole batch at once. Dropout is
    treated as in evaluation mode; the model's own mode is not touched.
    """

    def __init__(self, model):
        check_sequential(model, "Deconvnet")
        self.model = model

    def up(self, x, layer):
        """Run ``x`` (N, C, H, W) up to ``model[layer]``; returns a Trace."""
        layer = layer_index(self.model, layer, "Deconvnet.up")
        x = as_batch(x, "Deconvnet.up")
        steps = []
        with no_grad():
            h = as_tensor(x)
            for module in list(self.model)[:layer + 1]:
                h, step = _step_up(module, h)
                steps.append(step)
        return Trace(h.data, steps, tuple(x.shape))

    def down(self, trace, signal):
        """Send ``signal`` (shaped like ``trace.activations``) down to pixels: (N, C, H, W)."""
        if tuple(signal.shape) != tuple(trace.activations.shape):
            raise ValueError(
                f"Deconvnet.down: the signal has shape {tuple(signal.shape)} but the traced layer "
                f"output has shape {tuple(trace.activations.shape)}"
            )
        for step in reversed(trace.steps):
            signal = _step_down(step, signal)
        return signal

    def project_units(self, x, layer, channels, positions=None):
        """Project one unit per image; every image may pick its own unit.

        x: (N, C, H, W); channels: (N,) ints (or one int for all);
        positions: (N, 2) (row, col) ints, one (row, col) for all, or None for
        the strongest activation of each image's chosen map.
        A Linear layer's unit j counts as channel j of a 1x1 map (position (0, 0)).
        Returns (projections (N, C, H, W) like x, positions (N, 2), values (N,)),
        positions and values as NumPy arrays.
        """
        trace = self.up(x, layer)
        activations = trace.activations
        xp = get_array_module(activations)
        maps = activations if activations.ndim == 4 else activations[:, :, None, None]
        n, count, height, width = maps.shape
        channels = numpy.broadcast_to(numpy.asarray(channels, dtype=numpy.int64), (n,))
        if channels.min() < 0 or channels.max() >= count:
            raise IndexError(f"Deconvnet: channel {int(channels.max())} does not exist; layer {layer} "
                             f"has {count} maps (channels 0..{count - 1})")
        images = numpy.arange(n)
        chosen = maps[xp.asarray(images), xp.asarray(channels)]               # (N, H, W)
        if positions is None:
            positions = strongest_positions(chosen)
        positions = numpy.broadcast_to(numpy.asarray(positions, dtype=numpy.int64).reshape(-1, 2), (n, 2))
        rows, cols = positions[:, 0], positions[:, 1]
        if rows.min() < 0 or rows.max() >= height or cols.min() < 0 or cols.max() >= width:
            raise IndexError(f"Deconvnet: position outside the {height}x{width} maps of layer {layer}")
        index = (xp.asarray(images), xp.asarray(channels), xp.asarray(rows), xp.asarray(cols))
        values = maps[index]
        signal = xp.zeros_like(maps)
        signal[index] = values                    # keep this activation, zero all others
        pixels = self.down(trace, signal.reshape(activations.shape))
        return pixels, positions.copy(), to_numpy(values)

    def project(self, x, layer, channel, position=None):
        """The activation of map ``channel`` of ``model[layer]``, projected to pixel space.

        x: (N, C, H, W). position: (row, col) in that map, or None for the
        strongest activation of the map, found per image. Returns an array
        shaped like x (N, C, H, W).
        """
        return self.project_units(x, layer, channel, position)[0]
