"""The deconvnet (ZFNet 2.1): projections equal the backward pass under the deconvnet rule.

The reference is the autograd engine itself, with each ReLU's backward
replaced by a ReLU of the incoming gradient and the backward of LRN, sigmoid
and tanh by the identity (Dropout in eval mode is already the identity;
average pooling and LeNet's subsampling go down through their own backward).
Seeded with the chosen activation's value at its place, that backward must
give the projection; for a non-negative activation it is value *
(input-gradient under that rule). Nets are random, of every layer type
(grouped and dilated convolutions, dilated max pools too), in float64.
"""

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.engine.backend import default_device, get_array_module, to_device, to_numpy
from minicnn.engine.functional.activation import ReLUFunction, SigmoidFunction, TanhFunction
from minicnn.engine.functional.normalization import LocalResponseNormFunction
from minicnn.models import get_model
from minicnn.engine.shapes import ShapeError
from minicnn.visualize import Deconvnet, down_through_conv, strongest_positions


@contextlib.contextmanager
def deconvnet_rule():
    """Autograd with ReLU's backward = relu(grad) and LRN's, sigmoid's and tanh's = identity.
    Every op runs its reference Function (no route), whose backward is the one replaced."""
    with mc.using_routes("reference"), mock.patch.object(ReLUFunction, "backward", lambda self, g: g * (g > 0)), \
            mock.patch.object(LocalResponseNormFunction, "backward", lambda self, g: g), \
            mock.patch.object(SigmoidFunction, "backward", lambda self, g: g), \
            mock.patch.object(TanhFunction, "backward", lambda self, g: g):
        yield


def rule_gradient(model, x, layer, channels, positions, seed_values):
    """Input-gradient of the chosen units (one per image) under the deconvnet rule.

    seed_values: (N,) what each unit's output gradient is seeded with.
    """
    model.eval()
    image = mc.Tensor(x.copy(), requires_grad=True)
    with deconvnet_rule():
        h = image
        for module in list(model)[:layer + 1]:
            h = module(h)
        seed = get_array_module(h.data).zeros(h.shape, dtype=h.dtype)
        for n, (c, (r, col), v) in enumerate(zip(channels, positions, seed_values)):
            if h.ndim == 4:
                seed[n, c, r, col] = v
            else:
                seed[n, c] = v
        h.backward(seed)
    return to_numpy(image.grad)


@st.composite
def random_nets(draw):
    """A random float64 Sequential using every layer type, and a fitting input shape.

    The first convolution may be grouped and dilated, its squashing ReLU,
    tanh or sigmoid, its pool a (dilated) max pool, an average pool or
    LeNet's subsampling; the second convolution may be grouped.
    """
    groups = draw(st.sampled_from([1, 2, 3]))
    channels = groups * draw(st.integers(1, 2))
    height, width = draw(st.integers(9, 14)), draw(st.integers(9, 14))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, kernel[0] - 1)), draw(st.integers(0, kernel[1] - 1)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pool = draw(st.sampled_from([(3, 2), (2, 2), (2, 1), (3, 1)]))
    ceil_mode = draw(st.booleans())
    filters = groups * draw(st.integers(1, 2))
    squash = draw(st.sampled_from([nn.ReLU, nn.ReLU, nn.Tanh, nn.Sigmoid]))
    pooling = draw(st.sampled_from(["max", "dilated max", "average", "subsampling"]))
    pool_layer = {
        "max": lambda: nn.MaxPool2d(pool[0], pool[1], ceil_mode=ceil_mode),
        "dilated max": lambda: nn.MaxPool2d(2, pool[1], ceil_mode=ceil_mode, dilation=2),
        "average": lambda: nn.AvgPool2d(pool[0], pool[1], padding=pool[0] // 2, ceil_mode=ceil_mode),
        "subsampling": lambda: nn.Subsampling(filters),
    }[pooling]()
    second_groups = draw(st.sampled_from([1, groups]))
    layers = [nn.Conv2d(channels, filters, kernel, stride, padding, dilation, groups), squash(),
              pool_layer,
              nn.LocalResponseNorm(draw(st.integers(1, 5)), alpha=1.0, beta=0.75, k=2.0),
              nn.Conv2d(filters, 3 * second_groups, (2, 3), padding=(1, 0), groups=second_groups), nn.ReLU()]
    shape = (channels, height, width)
    try:
        shape = nn.Sequential(*layers).output_shape(shape)
    except ShapeError:
        from hypothesis import reject
        reject()
    features = int(np.prod(shape))
    layers += [nn.Flatten(), nn.Dropout(0.5), nn.Linear(features, 5), nn.ReLU(), nn.Linear(5, 3)]
    model = nn.Sequential(*layers).to("float64")
    if pooling == "subsampling":                  # not the identity start: weights that matter
        model[2].weight.data = np.random.default_rng(filters).uniform(0.5, 2.0, filters)
    return model, (channels, height, width)


def check_every_layer(model, x):
    """At every layer, the projection of two units equals the backward pass under the rule."""
    deconv = Deconvnet(model)
    for layer in range(len(model)):
        count = deconv.up(x, layer).activations.shape[1]
        channels = np.array([0, count - 1])
        pixels, positions, values = deconv.project_units(x, layer, channels)
        pixels = to_numpy(pixels)
        assert pixels.shape == x.shape
        seeded = rule_gradient(model, x, layer, channels, positions, values)
        np.testing.assert_allclose(pixels, seeded, rtol=1e-10, atol=1e-12, err_msg=f"layer {layer}")
        if (values >= 0).all():   # value * gradient of the unit, the statement of the docstring
            unit = rule_gradient(model, x, layer, channels, positions, np.ones(2))
            np.testing.assert_allclose(pixels, values[:, None, None, None] * unit, rtol=1e-10, atol=1e-12)


@given(net=random_nets(), seed=st.integers(0, 2**16))
def test_projection_is_the_backward_pass_under_the_deconvnet_rule(net, seed):
    model, shape = net
    check_every_layer(model, np.random.default_rng(seed).standard_normal((2,) + shape))


def test_projection_is_the_backward_pass_on_every_backend(backend_name):
    mc.manual_seed(8)
    model = nn.Sequential(
        nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0)), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LocalResponseNorm(3, alpha=1.0, k=2.0), nn.Conv2d(4, 3, 2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(3 * 4 * 6, 5), nn.ReLU(), nn.Linear(5, 3),
    ).to("float64")
    assert model.output_shape((2, 11, 12)) == (3,)
    x = to_device(np.random.default_rng(0).standard_normal((2, 2, 11, 12)), default_device())
    check_every_layer(model, x)


def test_deconvnet_of_lenet5_is_the_backward_pass_under_the_rule(backend_name):
    """LeCun et al.'s LeNet-5: tanh, trainable subsampling, dense layers; every layer projects."""
    mc.manual_seed(2)
    model = get_model("lenet5").to("float64").to(default_device())
    for subsampling in (model[2], model[6]):                    # weights that are not all 1
        count = subsampling.weight.shape[0]
        subsampling.weight.data = to_device(np.linspace(0.5, 1.5, count), default_device())
    x = to_device(np.random.default_rng(4).standard_normal((2, 1, 28, 28)), default_device())
    check_every_layer(model, x)


def test_average_pooling_sends_each_value_over_its_window_divided_by_the_divisor():
    """AvgPool2d(2): a value v at one pooled unit becomes v/4 on each of its 2x2 pixels."""
    model = nn.Sequential(nn.AvgPool2d(2)).to("float64")
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    pixels = Deconvnet(model).project(x, 0, 0, position=(1, 0))
    expected = np.zeros_like(x)
    expected[0, 0, 2:4, 0:2] = x[0, 0, 2:4, 0:2].mean() / 4
    np.testing.assert_allclose(pixels, expected, rtol=1e-15)
    layer = nn.Subsampling(1).to("float64")
    layer.load_state_dict({"weight": np.array([3.0]), "bias": np.array([5.0])})
    pixels = Deconvnet(nn.Sequential(layer)).project(x, 0, 0, position=(1, 0))
    value = 3.0 * x[0, 0, 2:4, 0:2].mean() + 5.0            # the unit, bias included
    expected[0, 0, 2:4, 0:2] = value * 3.0 / 4               # down: times the weight, no bias, / 4
    np.testing.assert_allclose(pixels, expected, rtol=1e-15)


def test_sigmoid_and_tanh_pass_the_signal_unchanged():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Sigmoid()).to("float64")
    x = np.random.default_rng(5).standard_normal((1, 1, 6, 6))
    deconv = Deconvnet(model)
    trace = deconv.up(x, 2)
    signal = np.zeros_like(trace.activations)
    signal[0, 1, 2, 3] = -0.7                      # negative: no rectification either
    through = deconv.down(trace, signal)
    np.testing.assert_array_equal(through, down_through_conv(signal, model[0].weight.data, x.shape, (1, 1), (0, 0)))


def test_default_position_is_each_images_strongest_activation(backend_name):
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2)).to("float64").to(default_device())
    x = to_device(np.random.default_rng(1).standard_normal((4, 1, 10, 10)), default_device())
    deconv = Deconvnet(model)
    maps = to_numpy(deconv.up(x, 2).activations)[:, 1]
    _, positions, values = deconv.project_units(x, 2, 1)
    for n in range(4):
        r, c = np.unravel_index(maps[n].argmax(), maps[n].shape)
        assert tuple(positions[n]) == (r, c)
        assert values[n] == maps[n].max()
    np.testing.assert_array_equal(
        to_numpy(deconv.project(x, 2, 1)),
        np.concatenate([to_numpy(deconv.project(x[n:n + 1], 2, 1, tuple(positions[n]))) for n in range(4)]))


def test_unpooling_puts_the_value_at_the_switch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 0] = 5.0          # max of the top-left window
    x[0, 0, 0, 3] = 2.0          # max of the top-right window
    model = nn.Sequential(nn.MaxPool2d(2))
    pixels = Deconvnet(model).project(x, 0, 0)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 0] = 5.0
    np.testing.assert_array_equal(pixels, expected)
    pixels = Deconvnet(model).project(x, 0, 0, position=(0, 1))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 3] = 2.0
    np.testing.assert_array_equal(pixels, expected)


def test_switches_belong_to_the_forward_pass_that_made_them(backend_name):
    mc.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(2, 2, 2), nn.ReLU(),
                          nn.MaxPool2d(2)).to("float64").to(default_device())
    rng = np.random.default_rng(0)
    x1 = to_device(rng.standard_normal((1, 1, 13, 13)), default_device())
    x2 = to_device(rng.standard_normal((1, 1, 13, 13)), default_device())
    pools = [model[2], model[5]]
    attributes = [dict(vars(pool)) for pool in pools]
    deconv = Deconvnet(model)
    first = to_numpy(deconv.project(x1, 5, 1))
    trace1 = deconv.up(x1, 5)
    signal = trace1.activations * 0
    index = (0, 1) + tuple(int(v) for v in strongest_positions(trace1.activations[:, 1])[0])
    signal[index] = trace1.activations[index]
    trace2 = deconv.up(x2, 5)          # another image runs up, and a plain forward too
    model(mc.tensor(x2))
    np.testing.assert_array_equal(to_numpy(deconv.down(trace1, signal)), first)
    np.testing.assert_array_equal(to_numpy(deconv.project(x1, 5, 1)), first)
    assert [dict(vars(pool)) for pool in pools] == attributes      # nothing stored on the layers
    # the switches matter: x2's switches send the same signal elsewhere
    assert not np.array_equal(to_numpy(deconv.down(trace2, signal)), first)


def flipped_filter_reference(signal, weight, input_shape, stride, padding, dilation=(1, 1), groups=1):
    """ZFNet's description, in loops: zero-upsample the signal by the stride,
    pad it by K - 1 - P, and correlate it with each filter flipped vertically
    and horizontally, its in/out channels swapped (transposed).

    A dilated filter is an ordinary one with D - 1 zeros between its taps;
    with groups, each group's filters go down to its own channels alone."""
    if groups > 1:
        filters, channels = weight.shape[0] // groups, weight.shape[1]
        return np.concatenate([
            flipped_filter_reference(signal[:, g * filters:(g + 1) * filters], weight[g * filters:(g + 1) * filters],
                                     (input_shape[0], channels) + tuple(input_shape[2:]), stride, padding, dilation)
            for g in range(groups)], axis=1)
    if dilation != (1, 1):
        f, c, kh, kw = weight.shape
        spread = np.zeros((f, c, dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1))
        spread[:, :, ::dilation[0], ::dilation[1]] = weight
        return flipped_filter_reference(signal, spread, input_shape, stride, padding)
    n, f, oh, ow = signal.shape
    _, c, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    height, width = input_shape[2:]
    up = np.zeros((n, f, (oh - 1) * sh + 1, (ow - 1) * sw + 1))
    up[:, :, ::sh, ::sw] = signal
    up = np.pad(up, ((0, 0), (0, 0), (kh - 1 - ph, kh - 1 - ph + height), (kw - 1 - pw, kw - 1 - pw + width)))
    flipped = weight[:, :, ::-1, ::-1]
    out = np.zeros(input_shape)
    for y in range(height):
        for x in range(width):
            window = up[:, :, y:y + kh, x:x + kw]                       # (N, F, KH, KW)
            out[:, :, y, x] = np.einsum("nfij,fcij->nc", window, flipped)
    return out


@given(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 1), st.integers(0, 1)), size=st.tuples(st.integers(5, 9), st.integers(5, 9)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), groups=st.sampled_from([1, 2, 3]),
       seed=st.integers(0, 1000))
def test_conv_transpose_is_correlation_with_flipped_filters(kernel, stride, padding, size, dilation, groups, seed):
    padding = (min(padding[0], kernel[0] - 1), min(padding[1], kernel[1] - 1))
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    assume(all(s <= n + 2 * p for s, n, p in zip(span, size, padding)))
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((3 * groups, 2) + kernel)
    out = tuple((n + 2 * p - s) // st_ + 1 for n, s, p, st_ in zip(size, span, padding, stride))
    signal = rng.standard_normal((2, 3 * groups) + out)
    input_shape = (2, 2 * groups) + size
    np.testing.assert_allclose(down_through_conv(signal, weight, input_shape, stride, padding, dilation, groups),
                               flipped_filter_reference(signal, weight, input_shape, stride, padding, dilation, groups),
                               atol=1e-12)


def test_nested_sequential_projects_like_the_flat_one():
    mc.manual_seed(5)
    flat = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    flat.to("float64")
    nested = nn.Sequential(nn.Sequential(flat[0], flat[1], flat[2]), flat[3], flat[4])
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    np.testing.assert_array_equal(Deconvnet(nested).project(x, 2, 1), Deconvnet(flat).project(x, 4, 1))
    np.testing.assert_array_equal(Deconvnet(nested).project(x, 0, 1), Deconvnet(flat).project(x, 2, 1))


def test_dropout_is_identity_and_the_models_mode_is_untouched():
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Dropout(0.9)).to("float64")
    model.train()
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6))
    deconv = Deconvnet(model)
    np.testing.assert_array_equal(deconv.project(x, 2, 0), deconv.project(x, 1, 0))
    assert all(module.training for _, module in model.named_modules())


def test_errors_name_the_problem():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    x = np.zeros((1, 1, 5, 5), dtype=np.float32)
    with pytest.raises(IndexError, match="layer 2 does not exist"):
        Deconvnet(model).project(x, 2, 0)
    with pytest.raises(IndexError, match="has 2 maps"):
        Deconvnet(model).project(x, 1, 2)
    with pytest.raises(TypeError, match="nn.Sequential"):
        Deconvnet(nn.Conv2d(1, 2, 3))

    class Square(nn.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(TypeError, match="no deconvnet counterpart"):
        Deconvnet(nn.Sequential(Square())).project(x, 0, 0)
