"""Winograd's F(2x2, 3x3) convolution (kernels/winograd.py) against the im2col formulas.

The numba backend computes some 3x3, stride-1 convolutions this way. These
tests check the transform matrices, the NumPy reference and the Numba loops
(forward and backward, float64, hypothesis-drawn sizes: odd, non-square,
padding 0-2, batch and channels from 1), float32 accuracy, a gradient check
and PyTorch parity through F.conv2d, that the result does not depend on the
thread count, and which layers take the path.
"""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn.engine import backend, threads
from minicnn.engine import functional as F
from minicnn.engine.backend import using_backend
from minicnn.engine.kernels import routes, winograd, winograd_4x4
from minicnn.engine.tensor import tensor

from oracles import import_oracle

needs_numba = pytest.mark.skipif(backend.numba is None,
                                 reason=f"the numba backend needs numba: {backend.numba_reason}")
EPS = numpy.finfo(numpy.float64).eps


def test_the_matrices_give_two_outputs_of_a_three_tap_filter():
    """y = A^T [(G g) * (B^T d)]: the one-dimensional F(2, 3) of the module's docstring."""
    rng = numpy.random.default_rng(0)
    for _ in range(20):
        d, g = rng.standard_normal(4), rng.standard_normal(3)
        direct = numpy.array([d[0] * g[0] + d[1] * g[1] + d[2] * g[2],
                              d[1] * g[0] + d[2] * g[1] + d[3] * g[2]])
        assert numpy.allclose(winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d)), direct,
                              rtol=0, atol=8 * EPS * (1 + numpy.abs(direct).max()))


@st.composite
def layers(draw):
    """A 3x3, stride-1 layer: batch, channels and filters from 1, odd and non-square sizes,
    padding 0-2 on each side (the output at least 1x1)."""
    batch, channels, filters = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    height = draw(st.integers(max(1, 3 - 2 * padding[0]), 9))
    width = draw(st.integers(max(1, 3 - 2 * padding[1]), 9))
    return (batch, channels, height, width), (filters, channels, 3, 3), padding


def _expected(x, weight, bias, padding, grad_y):
    """y and (dL/dx, dL/dw, dL/db) by functional/conv.py's im2col formulas (numpy backend)."""
    with using_backend("numpy"):
        xt, wt = tensor(x, requires_grad=True), tensor(weight, requires_grad=True)
        bt = tensor(bias, requires_grad=True) if bias is not None else None
        y = F.conv2d(xt, wt, bt, padding=padding)
        y.backward(grad_y)
    return y.data, xt.grad, wt.grad, (bt.grad if bt is not None else None)


def _close(got, expected, terms):
    """float64 sums of ``terms`` products in another order: a few roundings of the largest apart."""
    return numpy.allclose(got, expected, rtol=0, atol=16 * terms * EPS * (1 + numpy.abs(expected).max()))


@needs_numba
@given(layers(), st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from([1, 3]))
@settings(max_examples=60, deadline=None)
def test_forward_and_backward_match_the_im2col_formulas(geometry, seed, with_bias, thread_count):
    input_shape, weight_shape, padding = geometry
    out = (input_shape[2] + 2 * padding[0] - 2, input_shape[3] + 2 * padding[1] - 2)
    rng = numpy.random.default_rng(seed)
    x, weight = rng.standard_normal(input_shape), rng.standard_normal(weight_shape)
    bias = rng.standard_normal(weight_shape[0]) if with_bias else None
    grad_y = rng.standard_normal((input_shape[0], weight_shape[0]) + out)
    y, grad_x, grad_weight, grad_bias = _expected(x, weight, bias, padding, grad_y)
    previous = threads.set_num_threads(thread_count)
    try:
        with using_backend("numba"):
            reference = winograd.winograd_forward(x, weight, bias, padding, out)
            twin, saved = winograd.winograd_forward_numba(x, weight, bias, padding, out)
            got = winograd.winograd_backward_numba(grad_y, saved, input_shape, padding, True, True,
                                                   with_bias)
    finally:
        threads.set_num_threads(previous)
    assert_matches_im2col(reference, twin, got, (y, grad_x, grad_weight, grad_bias), weight_shape,
                          with_bias)


def assert_matches_im2col(reference, twin, got, expected, weight_shape, with_bias):
    """The NumPy reference's and the Numba twin's y, and the twin's (dL/dx, dL/dw, dL/db),
    against im2col's (``_expected``), float64: each within a few roundings of its sums."""
    y, grad_x, grad_weight, grad_bias = expected
    channels = weight_shape[1]
    assert reference.shape == twin.shape == y.shape
    assert _close(reference, y, 9 * channels)
    assert _close(twin, y, 9 * channels)
    assert _close(got[0], grad_x, 9 * weight_shape[0])
    assert _close(got[1], grad_weight, y.size)
    if with_bias:
        assert _close(got[2], grad_bias, y.size)
    else:
        assert got[2] is None


def twins(name):
    """(forward, backward): the Numba twins of route file kernels/NAME.py, "winograd" (F(2x2,
    3x3)) or "winograd_4x4"."""
    module = {"winograd": winograd, "winograd_4x4": winograd_4x4}[name]
    return getattr(module, f"{name}_forward_numba"), getattr(module, f"{name}_backward_numba")


@needs_numba
@pytest.mark.parametrize("name", ["winograd", "winograd_4x4"])
def test_only_the_gradients_asked_for_are_computed(name):
    forward, backward = twins(name)
    rng = numpy.random.default_rng(1)
    x, weight = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    with using_backend("numba"):
        y, saved = forward(x, weight, None, (1, 1), (6, 5))
        grad_x, grad_weight, grad_bias = backward(numpy.ones_like(y), saved, x.shape, (1, 1), False, True,
                                                  False)
    assert grad_x is None and grad_bias is None and grad_weight.shape == weight.shape


@needs_numba
@pytest.mark.parametrize("name", ["winograd", "winograd_4x4"])
def test_an_output_size_other_than_the_convolutions_is_refused(name):
    """The loops size their buffers from the input and the output (a 10x10 output of a 13x13
    input once made them write past one): each wrapper names itself, the size it needs and
    the size it got, before any loop runs."""
    forward, backward = twins(name)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2, 3, 13, 13))
    weight = rng.standard_normal((4, 3, 3, 3))
    with pytest.raises(ValueError, match=rf"{name}_forward_numba: .*\(11, 11\).*got \(10, 10\)"):
        forward(x, weight, None, (0, 0), (10, 10))
    y, saved = forward(x, weight, None, (0, 0), (11, 11))
    with pytest.raises(ValueError, match=rf"{name}_backward_numba: .*\(11, 11\).*got \(10, 10\)"):
        backward(numpy.ones((2, 4, 10, 10)), saved, x.shape, (0, 0), True, True, True)
    grad_x, _, _ = backward(numpy.ones_like(y), saved, x.shape, (0, 0), True, True, True)
    assert grad_x.shape == x.shape


@needs_numba
def test_float32_is_as_accurate_as_im2col_in_float32():
    """Against the float64 result: Winograd's float32 error stays that of im2col's (Lavin and
    Gray, section 5, measure the same), here at the size of zfnet_small's fourth layer."""
    rng = numpy.random.default_rng(2)
    x = rng.standard_normal((4, 96, 7, 7))
    weight = rng.standard_normal((96, 96, 3, 3)) * 0.05
    bias = rng.standard_normal(96)
    grad_y = rng.standard_normal((4, 96, 7, 7))
    truth = _expected(x, weight, bias, (1, 1), grad_y)
    single = [a.astype(numpy.float32) for a in (x, weight, bias, grad_y)]
    direct = _expected(*single[:3], (1, 1), single[3])
    with using_backend("numba"):
        y, saved = winograd.winograd_forward_numba(*single[:3], (1, 1), (7, 7))
        fast = (y,) + winograd.winograd_backward_numba(single[3], saved, x.shape, (1, 1), True, True, True)
    for name, exact, im2col, ours in zip(("y", "dL/dx", "dL/dw", "dL/db"), truth, direct, fast):
        assert ours.dtype == numpy.float32
        scale = numpy.abs(exact).max()
        im2col_error = numpy.abs(im2col - exact).max() / scale
        our_error = numpy.abs(ours - exact).max() / scale
        assert our_error < max(4 * im2col_error, 1e-6), (name, our_error, im2col_error)


@needs_numba
def test_the_result_does_not_depend_on_the_thread_count(monkeypatch):
    """Nor on whether the 16 products are shared out among the threads: at this size they run
    on the calling thread (fewer multiply-adds than threads.SPLIT_FROM_MULTIPLY_ADDS), and with
    the threshold at 0 they are shared out."""
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((5, 8, 9, 7)).astype(numpy.float32)
    weight = rng.standard_normal((6, 8, 3, 3)).astype(numpy.float32)
    bias = rng.standard_normal(6).astype(numpy.float32)
    grad_y = rng.standard_normal((5, 6, 9, 7)).astype(numpy.float32)
    sections = []                                # the totals of the parallel sections run
    parallel_for = threads.parallel_for
    monkeypatch.setattr(threads, "parallel_for",
                        lambda total, work, *rest: (sections.append(total), parallel_for(total, work, *rest))[1])
    results = []
    for count, split_from in ((1, None), (2, None), (3, None), (2, 0), (3, 0)):
        if split_from is not None:
            monkeypatch.setattr(threads, "SPLIT_FROM_MULTIPLY_ADDS", split_from)
        previous = threads.set_num_threads(count)
        sections.clear()
        try:
            with using_backend("numba"):
                y, saved = winograd.winograd_forward_numba(x, weight, bias, (1, 1), (9, 7))
                results.append((y.copy(),) + winograd.winograd_backward_numba(
                    grad_y, saved, x.shape, (1, 1), True, True, True))
        finally:
            threads.set_num_threads(previous)
        # the three kinds of products (forward, dU, dV): shared out only with the threshold at 0
        assert sections.count(16) == (3 if split_from == 0 else 0), (count, split_from, sections)
    for other in results[1:]:
        for mine, first in zip(other, results[0]):
            assert numpy.array_equal(mine, first)


@pytest.mark.parametrize("split_from", [None, 0])
def test_products_together_equal_each_product_alone(monkeypatch, split_from):
    """Two stacked products, one with its left operand transposed, one with its right, in one
    section (threshold 0) or on the calling thread: each equals NumPy's matmul of its own."""
    if split_from is not None:
        monkeypatch.setattr(threads, "SPLIT_FROM_MULTIPLY_ADDS", split_from)
    rng = numpy.random.default_rng(8)
    grad_m, v, u = (rng.standard_normal(shape) for shape in ((36, 5, 11), (36, 3, 11), (36, 5, 3)))
    grad_u, grad_v = winograd.products_together((grad_m, v, numpy.empty((36, 5, 3)), False, True),
                                                (u, grad_m, numpy.empty((36, 3, 11)), True, False))
    assert numpy.array_equal(grad_u, numpy.matmul(grad_m, v.transpose(0, 2, 1)))
    assert numpy.array_equal(grad_v, numpy.matmul(u.transpose(0, 2, 1), grad_m))


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("input_shape, filters, padding", [
    ((5, 2, 19, 17), 3, (1, 1)),     # 10 x 9 tiles: runs of 2 images, then 1; odd OH and OW
    ((3, 2, 33, 30), 2, (1, 2)),     # 17 x 16 tiles: more than a run's values, so runs of 1
    ((9, 3, 12, 13), 4, (0, 1)),     # 5 x 7 tiles: runs of 7, then 2, cut by the threads' shares
])
@pytest.mark.parametrize("thread_count", [1, 3])
def test_the_loops_that_go_along_runs_of_images_handle_every_run(input_shape, filters, padding,
                                                                  dtype, thread_count):
    """_output_loops and _gradient_loops take up to RUN_VALUES // (TY*TX) images of one filter
    at a time: here with more tiles per image than the hypothesis test draws, so that a run
    ends before the batch does, runs of different lengths follow each other (with odd sizes,
    whose last tile row or column is partly beyond the image) and the threads' shares cut
    runs short."""
    out = (input_shape[2] + 2 * padding[0] - 2, input_shape[3] + 2 * padding[1] - 2)
    tiles = winograd.tiles(out)
    assert winograd.RUN_VALUES // (tiles[0] * tiles[1]) < input_shape[0]   # several runs a filter
    rng = numpy.random.default_rng(5)
    weight_shape = (filters, input_shape[1], 3, 3)
    x, weight = rng.standard_normal(input_shape), rng.standard_normal(weight_shape)
    bias, grad_y = rng.standard_normal(filters), rng.standard_normal((input_shape[0], filters) + out)
    expected = _expected(x, weight, bias, padding, grad_y)
    arrays = [a.astype(dtype) for a in (x, weight, bias, grad_y)]
    previous = threads.set_num_threads(thread_count)
    try:
        with using_backend("numba"):
            y, saved = winograd.winograd_forward_numba(*arrays[:3], padding, out)
            got = (y,) + winograd.winograd_backward_numba(arrays[3], saved, input_shape, padding,
                                                          True, True, True)
    finally:
        threads.set_num_threads(previous)
    terms = (9 * input_shape[1], 9 * filters, grad_y.size, grad_y.size)
    for name, ours, exact, count in zip(("y", "dL/dx", "dL/dw", "dL/db"), got, expected, terms):
        assert ours.dtype == dtype and ours.shape == exact.shape, name
        if dtype == numpy.float64:
            assert _close(ours, exact, count), name
        else:   # float32: within a few roundings of float32 of the largest value
            scale = numpy.abs(exact).max()
            assert numpy.abs(ours - exact).max() <= 4 * count * numpy.finfo(numpy.float32).eps * scale, name


@pytest.fixture
def winograd_everywhere(monkeypatch):
    """Make every 3x3, stride-1 layer of the numba backend take the Winograd path, however
    small (``winograd.pays`` then always says yes)."""
    monkeypatch.setattr(winograd, "SAVED_PER_MOVED", -10**9)


@needs_numba
def test_conv2d_passes_the_gradient_check_on_the_winograd_path(winograd_everywhere):
    rng = numpy.random.default_rng(4)
    x = tensor(rng.standard_normal((2, 8, 5, 4)), requires_grad=True)
    w = tensor(rng.standard_normal((3, 8, 3, 3)), requires_grad=True)
    b = tensor(rng.standard_normal(3), requires_grad=True)
    with using_backend("numba"):
        assert mc.gradcheck(lambda *t: F.conv2d(*t, padding=(1, 0)), x, w, b)


def assert_matches_pytorch(geometry, seed, route):
    """conv2d on the numba backend, forward and all three gradients, in float64 against PyTorch's
    for a drawn 3x3 layer (at least 8 channels: not a first layer, which runs in chunks), and
    checks that the layer took ``route``."""
    torch = import_oracle("torch")
    input_shape, weight_shape, padding = geometry
    channels = max(8, input_shape[1])
    input_shape, weight_shape = (input_shape[0], channels) + input_shape[2:], (weight_shape[0], channels, 3, 3)
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal(input_shape), rng.standard_normal(weight_shape),
              rng.standard_normal(weight_shape[0])]
    ours = [tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    with using_backend("numba"):
        y = F.conv2d(*ours, padding=padding)
        g = numpy.random.default_rng(0).standard_normal(y.shape)
        y.backward(g)
    assert y.creator.name == route                 # this layer did take the route
    expected = torch.nn.functional.conv2d(*theirs, padding=padding)
    expected.backward(torch.tensor(g))
    numpy.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, torchs in zip(ours, theirs):
        numpy.testing.assert_allclose(mine.grad, torchs.grad.numpy(), rtol=1e-9, atol=1e-12)


@needs_numba
@given(layers(), st.integers(0, 999))
@settings(max_examples=25, deadline=None)
def test_conv2d_on_the_winograd_path_matches_pytorch(winograd_everywhere, geometry, seed):
    assert_matches_pytorch(geometry, seed, "conv2d by winograd F(2x2,3x3)")


@needs_numba
def test_which_layers_take_the_winograd_path():
    def chosen(input_shape, weight_shape, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1,
               dtype=numpy.float32):
        x = numpy.zeros(input_shape, dtype)
        out = (input_shape[2] + 2 * padding[0] - dilation[0] * (weight_shape[2] - 1) - 1) // stride[0] + 1, \
              (input_shape[3] + 2 * padding[1] - dilation[1] * (weight_shape[3] - 1) - 1) // stride[1] + 1
        call = routes.ConvCall.of(x, weight_shape, stride, padding, dilation, groups, out)
        return routes.by_winograd(call) and routes.choose("conv2d", call) is routes.ROUTES["conv2d"][0]

    with using_backend("numba"):
        # zfnet_small's four 3x3 layers at batch 32 (where it was measured faster)
        assert chosen((32, 32, 14, 14), (64, 32, 3, 3))
        assert chosen((32, 64, 7, 7), (96, 64, 3, 3))
        assert chosen((32, 96, 7, 7), (96, 96, 3, 3))
        assert chosen((32, 96, 7, 7), (64, 96, 3, 3))
        # keras-MNIST's second and third layers: not enough saved for what is moved
        assert not chosen((32, 32, 13, 13), (64, 32, 3, 3), padding=(0, 0))
        assert not chosen((32, 64, 5, 5), (64, 64, 3, 3), padding=(0, 0))
        # what F(2x2, 3x3) does not compute
        assert not chosen((32, 96, 7, 7), (96, 96, 3, 3), stride=(2, 2))
        assert not chosen((32, 96, 7, 7), (96, 96, 3, 3), dilation=(2, 2))
        assert not chosen((32, 96, 7, 7), (96, 48, 3, 3), groups=2)
        assert not chosen((32, 96, 7, 7), (96, 96, 5, 5))
        assert not chosen((32, 96, 7, 7), (96, 96, 3, 3), dtype=numpy.int64)
        assert not chosen((32, 3, 28, 28), (64, 3, 3, 3))      # a first layer: in chunks instead
        assert not chosen((0, 96, 7, 7), (96, 96, 3, 3))       # no images
    with using_backend("numpy"):
        assert not chosen((32, 96, 7, 7), (96, 96, 3, 3))      # the numpy backend: the formulas
