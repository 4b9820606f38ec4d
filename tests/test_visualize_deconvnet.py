"""The deconvnet (ZFNet 2.1): projections equal the backward pass under the deconvnet rule.

The reference is the autograd engine itself, with each ReLU's backward
replaced by a ReLU of the incoming gradient and LRN's backward by the
identity (Dropout in eval mode is already the identity). Seeded with the
chosen activation's value at its place, that backward must give the
projection; for a non-negative activation it is value * (input-gradient
under that rule). Nets are random, of every layer type, in float64.
"""

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.engine.backend import default_device, get_array_module, to_device, to_numpy
from minicnn.engine.functional.activation import ReLUFunction
from minicnn.engine.functional.normalization import LocalResponseNormFunction
from minicnn.engine.shapes import ShapeError
from minicnn.visualize import Deconvnet, conv_transpose2d, strongest_positions


@contextlib.contextmanager
def deconvnet_rule():
    """Autograd with ReLU's backward = relu(grad) and LRN's backward = identity."""
    with mock.patch.object(ReLUFunction, "backward", lambda self, g: g * (g > 0)), \
            mock.patch.object(LocalResponseNormFunction, "backward", lambda self, g: g):
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
    """A random float64 Sequential using every layer type, and a fitting input shape."""
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(9, 14)), draw(st.integers(9, 14))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, kernel[0] - 1)), draw(st.integers(0, kernel[1] - 1)))
    pool = draw(st.sampled_from([(3, 2), (2, 2), (2, 1), (3, 1)]))
    ceil_mode = draw(st.booleans())
    filters = draw(st.integers(2, 4))
    layers = [nn.Conv2d(channels, filters, kernel, stride, padding), nn.ReLU(),
              nn.MaxPool2d(pool[0], pool[1], ceil_mode=ceil_mode),
              nn.LocalResponseNorm(draw(st.integers(1, 5)), alpha=1.0, beta=0.75, k=2.0),
              nn.Conv2d(filters, 3, (2, 3), padding=(1, 0)), nn.ReLU()]
    shape = (channels, height, width)
    try:
        shape = nn.Sequential(*layers).output_shape(shape)
    except ShapeError:
        from hypothesis import reject
        reject()
    features = int(np.prod(shape))
    layers += [nn.Flatten(), nn.Dropout(0.5), nn.Linear(features, 5), nn.ReLU(), nn.Linear(5, 3)]
    model = nn.Sequential(*layers).to("float64")
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


def flipped_filter_reference(signal, weight, input_shape, stride, padding):
    """ZFNet's description, in loops: zero-upsample the signal by the stride,
    pad it by K - 1 - P, and correlate it with each filter flipped vertically
    and horizontally, its in/out channels swapped (transposed)."""
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
       seed=st.integers(0, 1000))
def test_conv_transpose_is_correlation_with_flipped_filters(kernel, stride, padding, size, seed):
    padding = (min(padding[0], kernel[0] - 1), min(padding[1], kernel[1] - 1))
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((3, 2) + kernel)
    out = tuple((n - k + 2 * p) // s + 1 for n, k, p, s in zip(size, kernel, padding, stride))
    signal = rng.standard_normal((2, 3) + out)
    input_shape = (2, 2) + size
    np.testing.assert_allclose(conv_transpose2d(signal, weight, input_shape, stride, padding),
                               flipped_filter_reference(signal, weight, input_shape, stride, padding), atol=1e-12)


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
