"""Winograd's F(4x4, 3x3) convolution (kernels/winograd_4x4.py) against the im2col formulas.

The numba backend computes zfnet_small's 3x3, stride-1 layers this way from
winograd_4x4.IMAGES_FROM images on. These tests check the transform matrices,
the NumPy reference and the Numba loops (forward and backward, float64,
hypothesis-drawn sizes: odd, non-square, padding 0-2, batch, channels and
filters from 1, batches longer than a vector), float32 accuracy against its
stated bound, a gradient check and PyTorch parity through F.conv2d, that
the result does not depend on the thread count, and which layers take it.
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

from test_winograd import _expected, assert_matches_im2col, assert_matches_pytorch, layers

needs_numba = pytest.mark.skipif(backend.numba is None,
                                 reason=f"the numba backend needs numba: {backend.numba_reason}")
EPS = numpy.finfo(numpy.float64).eps


def test_the_matrices_give_four_outputs_of_a_three_tap_filter():
    """y = A^T [(G g) * (B^T d)]: the one-dimensional F(4, 3) of the module's docstring."""
    rng = numpy.random.default_rng(0)
    for _ in range(20):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        direct = numpy.array([d[i] * g[0] + d[i + 1] * g[1] + d[i + 2] * g[2] for i in range(4)])
        got = winograd_4x4.A_T @ ((winograd_4x4.G @ g) * (winograd_4x4.B_T @ d))
        assert numpy.allclose(got, direct, rtol=0, atol=64 * EPS * (1 + numpy.abs(direct).max()))


def _run(x, weight, bias, padding, out, grad_y, with_bias=True):
    reference = winograd_4x4.winograd_4x4_forward(x, weight, bias, padding, out)
    twin, saved = winograd_4x4.winograd_4x4_forward_numba(x, weight, bias, padding, out)
    grads = winograd_4x4.winograd_4x4_backward_numba(grad_y, saved, x.shape, padding, True, True,
                                                     with_bias)
    return reference, twin, grads


@needs_numba
@given(layers(), st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from([1, 3]),
       st.sampled_from([0, 9, 33]))
@settings(max_examples=60, deadline=None)
def test_forward_and_backward_match_the_im2col_formulas(geometry, seed, with_bias, thread_count,
                                                        more_images):
    """float64, a few roundings apart: the transforms' factors (up to 8, and G's sixths) make
    the rounding a few times that of F(2x2, 3x3), far below this bound in float64. Batches
    of 1-4 images, and of 10-37 (longer than a vector of images)."""
    input_shape, weight_shape, padding = geometry
    input_shape = (input_shape[0] + more_images,) + input_shape[1:]
    out = (input_shape[2] + 2 * padding[0] - 2, input_shape[3] + 2 * padding[1] - 2)
    rng = numpy.random.default_rng(seed)
    x, weight = rng.standard_normal(input_shape), rng.standard_normal(weight_shape)
    bias = rng.standard_normal(weight_shape[0]) if with_bias else None
    grad_y = rng.standard_normal((input_shape[0], weight_shape[0]) + out)
    expected = _expected(x, weight, bias, padding, grad_y)
    previous = threads.set_num_threads(thread_count)
    try:
        with using_backend("numba"):
            reference, twin, got = _run(x, weight, bias, padding, out, grad_y, with_bias)
    finally:
        threads.set_num_threads(previous)
    assert_matches_im2col(reference, twin, got, expected, weight_shape, with_bias)


@needs_numba
@pytest.mark.parametrize("channels, size", [(96, 7), (32, 14)])
def test_float32_error_stays_within_its_stated_bound(channels, size):
    """Against the float64 result, at the sizes of zfnet_small's layers: F(4x4, 3x3)'s float32
    error is larger than im2col's (Lavin and Gray, section 5; the module's docstring), but
    stays within 32 times im2col's and within 2e-5 of the largest value, for the output and
    every gradient."""
    rng = numpy.random.default_rng(2)
    x = rng.standard_normal((32, channels, size, size))
    weight = rng.standard_normal((96, channels, 3, 3)) * 0.05
    bias = rng.standard_normal(96)
    grad_y = rng.standard_normal((32, 96, size, size))
    truth = _expected(x, weight, bias, (1, 1), grad_y)
    single = [a.astype(numpy.float32) for a in (x, weight, bias, grad_y)]
    direct = _expected(*single[:3], (1, 1), single[3])
    with using_backend("numba"):
        y, saved = winograd_4x4.winograd_4x4_forward_numba(*single[:3], (1, 1), (size, size))
        fast = (y,) + winograd_4x4.winograd_4x4_backward_numba(single[3], saved, x.shape, (1, 1),
                                                               True, True, True)
    for name, exact, im2col, ours in zip(("y", "dL/dx", "dL/dw", "dL/db"), truth, direct, fast):
        assert ours.dtype == numpy.float32
        scale = numpy.abs(exact).max()
        im2col_error = numpy.abs(im2col - exact).max() / scale
        our_error = numpy.abs(ours - exact).max() / scale
        assert our_error < max(32 * im2col_error, 1e-7) and our_error < 2e-5, (name, our_error,
                                                                                 im2col_error)


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_the_result_does_not_depend_on_the_thread_count(monkeypatch, dtype):
    """Bit for bit, with 1 to 3 threads, and with the 36 products and the loops shared out
    (thresholds at 0) or not."""
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((37, 8, 9, 7)).astype(dtype)
    weight = rng.standard_normal((6, 8, 3, 3)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    grad_y = rng.standard_normal((37, 6, 9, 7)).astype(dtype)
    sections = []                                # the totals of the parallel sections run
    parallel_for = threads.parallel_for
    monkeypatch.setattr(threads, "parallel_for",
                        lambda total, work, *rest: (sections.append(total), parallel_for(total, work, *rest))[1])
    results = []
    for count, shared in ((1, False), (2, False), (3, False), (2, True), (3, True)):
        if shared:
            monkeypatch.setattr(threads, "SPLIT_FROM_MULTIPLY_ADDS", 0)
            monkeypatch.setattr(winograd_4x4, "SHARE_FROM_BYTES_COMPUTING", 0)
        previous = threads.set_num_threads(count)
        sections.clear()
        try:
            with using_backend("numba"):
                y, saved = winograd_4x4.winograd_4x4_forward_numba(x, weight, bias, (1, 1), (9, 7))
                results.append((y.copy(),) + winograd_4x4.winograd_4x4_backward_numba(
                    grad_y, saved, x.shape, (1, 1), True, True, True))
        finally:
            threads.set_num_threads(previous)
        if shared:    # three sections each way: over the 6 filters (U and V), the 36 k (M), the
            # filters (y); the filters (dM), the 36 k (dU and dV together), the filters (dL/dw, dL/dx)
            assert sections == [6, 36, 6, 6, 36, 6], (count, sections)
    for other in results[1:]:
        for mine, first in zip(other, results[0]):
            assert numpy.array_equal(mine, first)


@pytest.fixture
def winograd_4x4_everywhere(monkeypatch):
    """Make every 3x3, stride-1 layer of the numba backend take F(4x4, 3x3), however small:
    ``winograd.pays`` always says yes, and any batch is enough."""
    monkeypatch.setattr(winograd, "SAVED_PER_MOVED", -10**9)
    monkeypatch.setattr(winograd_4x4, "IMAGES_FROM", 1)


@needs_numba
def test_conv2d_passes_the_gradient_check_on_the_4x4_path(winograd_4x4_everywhere):
    rng = numpy.random.default_rng(4)
    x = tensor(rng.standard_normal((2, 8, 5, 6)), requires_grad=True)
    w = tensor(rng.standard_normal((3, 8, 3, 3)), requires_grad=True)
    b = tensor(rng.standard_normal(3), requires_grad=True)
    with using_backend("numba"):
        assert F.conv2d(x, w, b, padding=(1, 0)).creator.name == "conv2d by winograd F(4x4,3x3)"
        assert mc.gradcheck(lambda *t: F.conv2d(*t, padding=(1, 0)), x, w, b)


@needs_numba
@given(layers(), st.integers(0, 999))
@settings(max_examples=25, deadline=None)
def test_conv2d_on_the_4x4_path_matches_pytorch(winograd_4x4_everywhere, geometry, seed):
    assert_matches_pytorch(geometry, seed, "conv2d by winograd F(4x4,3x3)")


@needs_numba
@pytest.mark.skipif(not threads.blas_control(),
                    reason="the Winograd routes need NumPy's OpenBLAS to take a thread count")
@pytest.mark.parametrize("batch, expected", [(1, "winograd F(2x2,3x3)"), (31, "winograd F(2x2,3x3)"),
                                             (32, "winograd F(4x4,3x3)"), (128, "winograd F(4x4,3x3)")])
def test_zfnet_smalls_layers_take_4x4_tiles_from_32_images(batch, expected):
    """Where F(2x2, 3x3) pays (by_winograd), F(4x4, 3x3) runs from IMAGES_FROM images on."""
    x = numpy.zeros((batch, 96, 7, 7), numpy.float32)
    call = routes.ConvCall.of(x, (96, 96, 3, 3), (1, 1), (1, 1), (1, 1), 1, (7, 7), backend="numba")
    assert routes.describe("conv2d", call) == expected
    with routes.using_routes("reference"):
        assert routes.describe("conv2d", call) == "im2col"
