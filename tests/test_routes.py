"""Routes (minicnn/engine/kernels/routes.py): each equals its reference, the table alone
decides, summaries name them, fusion is visible and one word away, one default backend.

Each route is forced onto hypothesis-drawn geometries it accepts (its ``when`` replaced
by "the geometry fits") and compared with its reference, ``using_routes("reference")``,
output and every gradient, in float64 and float32.
"""

import ast
import dataclasses
import os
import pathlib
import subprocess
import sys

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.engine import functional as F
from minicnn.engine import threads
from minicnn.engine.backend import numba, using_backend
from minicnn.engine.functional.conv import Conv2dFunction
from minicnn.engine.kernels import routes
from minicnn.engine.tensor import tensor
from minicnn.models import get_model
from test_threads import convolutions

ROOT = pathlib.Path(__file__).resolve().parent.parent
needs_numba = pytest.mark.skipif(numba is None, reason="numba is not installed")
needs_split_blas = pytest.mark.skipif(
    numba is None or not threads.blas_control(),
    reason="the numba routes need NumPy's OpenBLAS to take a thread count (threads.blas_control)")


# ----- the reference and the routes give the same numbers ----------------------------------

@st.composite
def winograd_geometries(draw):
    """(input shape, weight shape, stride, padding, dilation) that Winograd computes: 3x3,
    stride 1, dilation 1; odd and non-square images, padding 0 or 1 on each axis."""
    batch, channels, filters = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    height = draw(st.integers(3 - 2 * padding[0], 9))
    width = draw(st.integers(3 - 2 * padding[1], 9))
    return (batch, channels, height, width), (filters, channels, 3, 3), (1, 1), padding, (1, 1)


def geometries(three_by_three):
    """Winograd's geometries, or any (non-square kernels, stride, padding, dilation, odd
    sizes: test_threads.convolutions)."""
    return winograd_geometries() if three_by_three else convolutions()


def forced(route, fits):
    """``route`` with its ``when`` replaced by ``fits`` (what its loops can compute)."""
    return dataclasses.replace(route, when=fits)


def on_numba(call):
    return call.on_numba


def run_conv(arrays, stride, padding, dilation, pool=None, relu=False):
    """Output and gradients (x, w, b) of conv2d, or conv2d_max_pool2d when ``pool`` is given
    (with the ReLU after the pool folded in where ``relu``)."""
    x, w, b = (tensor(a.copy(), requires_grad=True) for a in arrays)
    if pool is None:
        y = F.conv2d(x, w, b, stride, padding, dilation)
    else:
        y = F.conv2d_max_pool2d(x, w, b, stride, padding, dilation, 1, *pool, relu=relu)
    grad = numpy.random.default_rng(1).standard_normal(y.shape).astype(y.dtype)
    y.backward(grad)
    return y, [y.data, x.grad, w.grad, b.grad]


def sum_terms(input_shape, weight_shape, out):
    """The most products any one output or gradient entry adds: C*KH*KW (y), F*KH*KW
    (dL/dx), N*OH*OW (dL/dW, dL/db), bounded by their total."""
    (batch, channels, _, _), (filters, _, kh, kw) = input_shape, weight_shape
    return channels * kh * kw + filters * kh * kw + batch * out[0] * out[1]


def conv_out(input_shape, weight_shape, stride, padding, dilation):
    return tuple((input_shape[2 + a] + 2 * padding[a] - dilation[a] * (weight_shape[2 + a] - 1) - 1)
                 // stride[a] + 1 for a in (0, 1))


def assert_close(got, expected, dtype, terms):
    """A route adds the same products as its reference in another order (Winograd: through
    exact linear transforms): a few roundings of each sum of ``terms`` products apart, in
    the dtype's epsilon, relative to the largest entry."""
    eps = numpy.finfo(dtype).eps
    for mine, theirs in zip(got, expected):
        scale = 1 + numpy.abs(theirs).max()
        assert mine.dtype == theirs.dtype
        numpy.testing.assert_allclose(mine, theirs, rtol=0, atol=16 * terms * eps * scale)


def check_route(monkeypatch, op, route, geometry, seed, dtype, pool=None, relu=False):
    input_shape, weight_shape, stride, padding, dilation = geometry
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (input_shape, weight_shape, weight_shape[:1])]
    with using_backend("numba"):
        with routes.using_routes("reference"):
            reference, expected = run_conv(arrays, stride, padding, dilation, pool, relu)
        monkeypatch.setitem(routes.ROUTES, op, (forced(route, on_numba),))
        routed, got = run_conv(arrays, stride, padding, dilation, pool, relu)
    folded = "+relu" if relu else ""
    assert routed.creator.name == f"{op}{folded} by {route.name}"  # the route did run
    if relu:                                                      # the reference: relu(pool(conv))
        assert reference.creator.name == "relu"
    assert reference.creator.name != routed.creator.name
    out = conv_out(input_shape, weight_shape, stride, padding, dilation)
    assert_close(got, expected, dtype, sum_terms(input_shape, weight_shape, out))


@needs_split_blas
@pytest.mark.parametrize("name", ["winograd F(2x2,3x3)", "winograd F(4x4,3x3)"])
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(geometry=geometries(three_by_three=True), seed=st.integers(0, 999))
@settings(max_examples=15, deadline=None)
def test_winograd_routes_equal_the_im2col_reference(monkeypatch, name, dtype, geometry, seed):
    (route,) = [r for r in routes.ROUTES["conv2d"] if r.name == name]
    check_route(monkeypatch, "conv2d", route, geometry, seed, dtype)


@needs_split_blas
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(geometry=geometries(three_by_three=False), seed=st.integers(0, 999))
@settings(max_examples=15, deadline=None)
def test_chunks_route_equals_the_im2col_reference(monkeypatch, dtype, geometry, seed):
    (route,) = [r for r in routes.ROUTES["conv2d"] if r.name == "chunks"]
    check_route(monkeypatch, "conv2d", route, geometry, seed, dtype)


@needs_split_blas
@pytest.mark.parametrize("name", ["direct, pooled in cache", "chunks, pooled in cache",
                                  "im2col pooled, gradients at switches", "im2col, pooled from the product"])
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(geometry=geometries(three_by_three=False), seed=st.integers(0, 999),
       pool=st.sampled_from([(2, 2, 0, False, 1), (3, 2, 1, True, 1), (2, 1, 0, False, 1),
                             (3, 2, 0, True, 1), (2, 2, 0, False, 2)]),
       chunk_bytes=st.sampled_from([1, 200, 1 << 19]), relu=st.booleans())
@settings(max_examples=15, deadline=None)
def test_conv_pool_routes_equal_the_two_ops(monkeypatch, name, dtype, geometry, seed, pool, chunk_bytes, relu):
    """Each conv+pool route, with chunks of one image, a few, or the whole batch, with the
    ReLU after the pool folded in (against relu(max_pool2d(conv2d(x)))) or not. The direct
    route sums stride-1 convolutions only: its geometries are drawn with stride 1 (1 to 64
    taps: one pass of nine, or several, the last one filled up)."""
    from minicnn.engine.kernels import convolution
    input_shape, weight_shape, stride, padding, dilation = geometry
    if name.startswith("direct"):
        stride = (1, 1)
        geometry = (input_shape, weight_shape, stride, padding, dilation)
    out = [(input_shape[2 + a] + 2 * padding[a] - dilation[a] * (weight_shape[2 + a] - 1) - 1)
           // stride[a] + 1 for a in (0, 1)]
    kernel, _, pool_padding, _, pool_dilation = pool
    if min(out) < pool_dilation * (kernel - 1) + 1 - 2 * pool_padding:
        return                                     # the pool does not fit this output: not a case
    (route,) = [r for r in routes.ROUTES["conv2d+max_pool2d"] if r.name == name]
    monkeypatch.setattr(convolution, "CHUNK_BYTES", chunk_bytes)
    check_route(monkeypatch, "conv2d+max_pool2d", route, geometry, seed, dtype, pool, relu)


@needs_split_blas
@pytest.mark.parametrize("name", ["direct, pooled in cache", "chunks, pooled in cache",
                                  "im2col pooled, gradients at switches", "im2col, pooled from the product"])
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(geometry=geometries(three_by_three=False), seed=st.integers(0, 999),
       pool=st.sampled_from([(2, 2, 0, False, 1), (3, 2, 1, True, 1), (2, 1, 0, False, 1)]),
       chunk_bytes=st.sampled_from([1, 200, 1 << 19]),
       specials=st.lists(st.sampled_from([0.0, -0.0, numpy.inf, -numpy.inf, numpy.nan]), max_size=4))
@settings(max_examples=10, deadline=None)
def test_a_folded_relu_gives_the_bits_of_relu_after_the_route(monkeypatch, name, dtype, geometry, seed, pool,
                                                              chunk_bytes, specials):
    """conv2d_max_pool2d(..., relu=True) by each route against the same route followed by
    the ReLU op, bit for bit: output, mask and every gradient. The gradient coming in holds
    signed zeros, infinities and NaN at its front, where relu's backward must give what
    grad * mask gives (inf * 0 = NaN) in both. Some outputs are made exactly 0 (a bias of
    minus a maximum is not exact; an all-zero filter is): ReLU'(0) = 0 in both."""
    from minicnn.engine.kernels import convolution
    input_shape, weight_shape, stride, padding, dilation = geometry
    if name.startswith("direct"):
        stride = (1, 1)
    out = conv_out(input_shape, weight_shape, stride, padding, dilation)
    kernel, _, pool_padding, _, pool_dilation = pool
    if min(out) < pool_dilation * (kernel - 1) + 1 - 2 * pool_padding:
        return                                     # the pool does not fit this output: not a case
    (route,) = [r for r in routes.ROUTES["conv2d+max_pool2d"] if r.name == name]
    monkeypatch.setattr(convolution, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setitem(routes.ROUTES, "conv2d+max_pool2d", (forced(route, on_numba),))
    rng = numpy.random.default_rng(seed)
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in (input_shape, weight_shape, weight_shape[:1]))
    w[0], b[0] = 0, 0                               # filter 0 gives exact zeros: ReLU'(0) = 0

    def run(folded):
        xt, wt, bt = (tensor(a.copy(), requires_grad=True) for a in (x, w, b))
        y = F.conv2d_max_pool2d(xt, wt, bt, stride, padding, dilation, 1, *pool, relu=folded)
        y = y if folded else F.relu(y)
        grad = numpy.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype).reshape(-1)
        grad[:len(specials)] = specials[:grad.size]
        with numpy.errstate(invalid="ignore"):      # inf * 0 in relu's backward, on purpose
            y.backward(grad.reshape(y.shape))
        return y.creator.name, [y.data, xt.grad, wt.grad, bt.grad]
    with using_backend("numba"):
        (folded_name, got), (separate_name, expected) = run(True), run(False)
    assert folded_name == f"conv2d+max_pool2d+relu by {name}" and separate_name == "relu"
    for mine, theirs in zip(got, expected):
        assert mine.dtype == theirs.dtype
        numpy.testing.assert_array_equal(mine, theirs)


def test_conv2d_max_pool2d_refuses_a_relu_that_is_not_true_or_false():
    x, w = tensor(numpy.ones((1, 1, 4, 4))), tensor(numpy.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="relu must be True .* or False, got 'yes'"):
        F.conv2d_max_pool2d(x, w, relu="yes")


def not_finite(dtype, shape, where, bad, rng):
    """(values, scale, times) whose product values * scale * times is finite but at ``where``,
    where it is inf, -inf or NaN: made by an op, as a leaf input that is not finite is refused."""
    values = rng.standard_normal(shape).astype(dtype)
    scale, times = numpy.ones_like(values), numpy.ones_like(values)
    values[where], scale[where] = numpy.finfo(dtype).max, -2.0 if bad == "-inf" else 2.0
    times[where] = 0.0 if bad == "nan" else 1.0
    return values, scale, times


def fused_both_ways(x, x_factors, weight, w_factors, bias, grad, padding, relu=False):
    """(route name, got, expected): conv2d_max_pool2d (2x2 pool; the ReLU after it folded
    in where ``relu``) of x * factors and weight * factors, forward and backward, by the
    table's route and by the reference, on numba. got, expected: [y, dL/dx, dL/dW, dL/db]."""
    def run():
        xt, wt, bt = (tensor(a.copy(), requires_grad=True) for a in (x, weight, bias))
        scaled_x, scaled_w = xt, wt
        with numpy.errstate(over="ignore", invalid="ignore"):
            for factor in x_factors:
                scaled_x = scaled_x * tensor(factor)
            for factor in w_factors:
                scaled_w = scaled_w * tensor(factor)
            y = F.conv2d_max_pool2d(scaled_x, scaled_w, bt, 1, padding, 1, 1, 2, 2, relu=relu)
            y.backward(grad)
        return y.creator.name, [y.data, xt.grad, wt.grad, bt.grad]
    with using_backend("numba"):
        with routes.using_routes("reference"):
            _, expected = run()
        name, got = run()
    return name, got, expected


def assert_same_non_finite(got, expected, dtype, terms):
    """NaN and inf where the reference has them, and close to it where it is finite."""
    for mine, theirs in zip(got, expected):
        numpy.testing.assert_array_equal(numpy.isnan(mine), numpy.isnan(theirs))
        numpy.testing.assert_array_equal(numpy.isinf(mine), numpy.isinf(theirs))
        finite = numpy.isfinite(theirs)
        if finite.any():                                      # dL/dW may be NaN throughout
            assert_close([mine[finite]], [theirs[finite]], dtype, terms)


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("bad", ["inf", "-inf", "nan"])
@pytest.mark.parametrize("relu", [False, True])
def test_the_direct_route_gives_the_references_nan_and_inf_for_a_pixel_that_is_not_finite(dtype, bad, relu):
    """The reference multiplies the zeros of dL/dy by every pixel: an infinite one makes NaN in
    dL/dW, which reading at the switches alone would miss. So such a batch takes the chunks
    route's loops both ways; every output and gradient is then NaN, inf or finite where the
    reference's is, and close to it where finite. (A leaf input that is not finite is refused
    up front; this one comes out of an op: x * scale, overflowing, times 0 for NaN.)"""
    rng = numpy.random.default_rng(5)
    x, scale, times = not_finite(dtype, (3, 1, 9, 8), (1, 0, 4, 3), bad, rng)
    weight, bias = rng.standard_normal((4, 1, 3, 3)).astype(dtype), rng.standard_normal(4).astype(dtype)
    grad = rng.standard_normal((3, 4, 4, 4)).astype(dtype)
    name, got, expected = fused_both_ways(x, (scale, times), weight, (), bias, grad, 1, relu)
    assert name == f"conv2d+max_pool2d{'+relu' if relu else ''} by direct, pooled in cache"
    assert numpy.isnan(expected[2]).any()                     # dL/dW: the case this is about
    assert_same_non_finite(got, expected, dtype, sum_terms(x.shape, weight.shape, (9, 8)))


@needs_numba
def test_the_direct_route_takes_first_layers_of_stride_1_and_at_most_27_taps():
    """And no others: stride 2, or 36 taps, go to the chunks route (or, without BLAS control,
    to the reference)."""
    def route(channels, kernel, stride):
        x = numpy.zeros((2, channels, 12, 12), numpy.float32)
        out = conv_out(x.shape, (8, channels, kernel, kernel), (stride, stride), (0, 0), (1, 1))
        pool = ((2, 2), (2, 2), (0, 0), (1, 1), (out[0] // 2, out[1] // 2))
        call = routes.ConvCall.of(x, (8, channels, kernel, kernel), (stride, stride), (0, 0), (1, 1), 1,
                                  out, pool=pool, backend="numba")
        return routes.describe("conv2d+max_pool2d", call)
    assert route(1, 3, 1) == route(1, 5, 1) == route(3, 3, 1) == "direct, pooled in cache"   # 9, 25, 27 taps
    chunks = "chunks, pooled in cache" if threads.blas_control() else "conv2d, then max_pool2d"
    assert route(1, 3, 2) == route(4, 3, 1) == chunks


@needs_split_blas
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("bad", ["inf", "-inf", "nan"])
@pytest.mark.parametrize("where", ["input", "input beyond the pool's reach", "weight", "gradient"])
@pytest.mark.parametrize("relu", [False, True])
def test_gradients_at_the_switches_give_the_references_nan_and_inf(dtype, bad, where, relu):
    """The reference multiplies the zeros of dL/dy by every pixel and weight: one that is not
    finite makes NaN where reading at the switches alone would make a number. So then the
    backward pass is the pooled product's. A pooled gradient that is not finite reaches the
    same entries either way. Every gradient is NaN, inf or finite where the reference's is,
    and close to it where finite. The 9x9 images give 7x7 outputs, of which the 2x2 pool
    reads 6x6: a pixel of the last row is seen by the seventh row of outputs only, which the
    route does not compute, and still makes the reference's dL/dW NaN."""
    rng = numpy.random.default_rng(6)
    pixel = (1, 2, 8, 3) if where.endswith("reach") else (1, 2, 4, 3)
    x, x_scale, x_times = not_finite(dtype, (3, 8, 9, 9), pixel, bad, rng)
    weight, w_scale, w_times = not_finite(dtype, (4, 8, 3, 3), (2, 5, 1, 1), bad, rng)
    if not where.startswith("input"):
        x_scale[...], x_times[...] = 1.0, 1.0
        x[pixel] = 0.5
    if where != "weight":
        w_scale[...], w_times[...] = 1.0, 1.0
        weight[2, 5, 1, 1] = 0.5
    bias = rng.standard_normal(4).astype(dtype)
    grad = rng.standard_normal((3, 4, 3, 3)).astype(dtype)
    if where == "gradient":
        grad[1, 2, 1, 1] = {"inf": numpy.inf, "-inf": -numpy.inf, "nan": numpy.nan}[bad]

    name, got, expected = fused_both_ways(x, (x_scale, x_times), weight, (w_scale, w_times), bias, grad, 0,
                                          relu)
    # the case this is about: x's makes dL/dW NaN, W's dL/dx, dL/dpooled's both
    for index in {"input": [2], "weight": [1], "gradient": [1, 2]}[where.split(" beyond")[0]]:
        assert not numpy.isfinite(expected[index]).all()
    assert name == f"conv2d+max_pool2d{'+relu' if relu else ''} by im2col pooled, gradients at switches"
    assert_same_non_finite(got, expected, dtype, sum_terms(x.shape, weight.shape, (7, 7)))


@given(out=st.integers(1, 12), kernel=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       dilation=st.integers(1, 2), ceil_mode=st.booleans())
def test_the_pools_reach_is_the_last_output_a_window_reads(out, kernel, stride, padding, dilation, ceil_mode):
    """switch_gradients.pool_reach along one axis against every window's taps, one by one."""
    from minicnn.engine.kernels.switch_gradients import pool_reach
    from minicnn.engine.shapes import ShapeError, conv_output_size
    if padding > (dilation * (kernel - 1) + 1) // 2:
        return                                       # PyTorch's pools refuse so much padding
    try:
        pooled = conv_output_size(out, kernel, stride, padding, ceil_mode, dilation=dilation)
    except ShapeError:
        return                                       # the window does not fit
    read = [p * stride - padding + k * dilation for p in range(pooled) for k in range(kernel)]
    last = max([r for r in read if 0 <= r < out], default=0)      # a window wholly in the padding: none
    pool = ((kernel, 1), (stride, 1), (padding, 0), (dilation, 1), (pooled, 1))
    assert pool_reach((out, 1), pool) == (last + 1, 1)


@needs_split_blas
def test_gradients_at_the_switches_compute_the_outputs_the_pool_reads_only(monkeypatch):
    """keras-MNIST's second layer: 11x11 outputs, of which a 2x2 pool of stride 2 reads
    10x10; im2col and the product cover those (400 columns for 4 images), and the numbers
    are the reference's (test_conv_pool_routes_equal_the_two_ops draws the geometries)."""
    from minicnn.engine.kernels import pooled_product
    seen, im2col = [], pooled_product.im2col_numba

    def recording(x, kernel, stride, padding, out, **options):
        seen.append(tuple(out))
        return im2col(x, kernel, stride, padding, out, **options)
    monkeypatch.setattr(pooled_product, "im2col_numba", recording)
    rng = numpy.random.default_rng(8)
    x, weight = rng.standard_normal((4, 32, 13, 13)), rng.standard_normal((64, 32, 3, 3))
    with using_backend("numba"):
        y = F.conv2d_max_pool2d(tensor(x), tensor(weight, requires_grad=True), None, 1, 0, 1, 1, 2, 2)
        with routes.using_routes("reference"):
            expected = F.conv2d_max_pool2d(tensor(x), tensor(weight), None, 1, 0, 1, 1, 2, 2)
    assert y.creator.name == "conv2d+max_pool2d by im2col pooled, gradients at switches"
    assert seen == [(10, 10)]
    assert_close([y.data], [expected.data], numpy.float64, sum_terms(x.shape, weight.shape, (11, 11)))


@needs_split_blas
@pytest.mark.parametrize("x_grad, w_grad, with_bias", [(True, False, True), (False, True, True), (False, False, True),
                                                       (True, True, False), (False, False, False)])
def test_gradients_at_the_switches_compute_those_asked_for(monkeypatch, x_grad, w_grad, with_bias):
    """Inputs that need no gradient (a first layer's images, frozen weights, no bias): the
    others are still the reference's, and those get none."""
    name = "im2col pooled, gradients at switches"
    rng = numpy.random.default_rng(7)
    arrays = [rng.standard_normal(shape) for shape in ((3, 8, 9, 8), (4, 8, 3, 3), (4,))]
    (route,) = [r for r in routes.ROUTES["conv2d+max_pool2d"] if r.name == name]

    def run():
        x, w = tensor(arrays[0], requires_grad=x_grad), tensor(arrays[1], requires_grad=w_grad)
        b = tensor(arrays[2], requires_grad=True) if with_bias else None
        y = F.conv2d_max_pool2d(x, w, b, 1, 0, 1, 1, 2, 2)
        if y.requires_grad:
            y.backward(numpy.ones(y.shape))
        return y.creator.name if y.creator else None, [y.data, x.grad, w.grad, None if b is None else b.grad]
    with using_backend("numba"):
        with routes.using_routes("reference"):
            _, expected = run()
        monkeypatch.setitem(routes.ROUTES, "conv2d+max_pool2d", (forced(route, on_numba),))
        ran, got = run()
    if x_grad or w_grad or with_bias:                    # else no graph: nothing names the op
        assert ran == f"conv2d+max_pool2d by {name}"
    assert [g is None for g in got] == [e is None for e in expected] == [False, not x_grad, not w_grad, not with_bias]
    assert_close([g for g in got if g is not None], [e for e in expected if e is not None], numpy.float64,
                 sum_terms((3, 8, 9, 8), (4, 8, 3, 3), (7, 6)))


def switch_gradients_in_the_written_order(grad, switches, x, weight, stride, padding, dilation, reach):
    """(dL/dx, dL/dW, dL/db) read at the switches by plain NumPy, added in the order
    switch_gradients.py's docstring gives: dL/dW one (n, f) at a time, windows in order, in the
    dtype, then the images in order in float64; dL/dx output by output, and at each output its
    switches filter by filter, window by window, in the dtype; dL/db in float64.

    grad, switches: (N, F, PH, PW), switches flat indices oy*RW + ox in the reach (RH, RW);
    x: (N, C, H, W); weight: (F, C, KH, KW). Returns (N, C, H, W), (F, C, KH, KW), (F,)."""
    (batch, channels, height, width), (filters, _, kh, kw) = x.shape, weight.shape
    dtype = x.dtype
    xp = numpy.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    grad, switches = grad.reshape(batch, filters, -1), switches.reshape(batch, filters, -1)

    def window(oy, ox):                    # the slice of xp that output (oy, ox) saw
        return (slice(oy * stride[0], oy * stride[0] + dilation[0] * (kh - 1) + 1, dilation[0]),
                slice(ox * stride[1], ox * stride[1] + dilation[1] * (kw - 1) + 1, dilation[1]))
    grad_w, grad_b = numpy.zeros(weight.shape, numpy.float64), numpy.zeros(filters, numpy.float64)
    grad_xp = numpy.zeros_like(xp)
    for n in range(batch):
        for f in range(filters):
            row = numpy.zeros(weight.shape[1:], dtype)
            for w in range(switches.shape[2]):
                row += grad[n, f, w] * xp[(n, slice(None)) + window(*divmod(int(switches[n, f, w]), reach[1]))]
            grad_w[f] += row
            grad_b[f] += sum(float(g) for g in grad[n, f])
        entries = sorted((int(switches[n, f, w]), f, w) for f in range(filters) for w in range(switches.shape[2]))
        for s, f, w in entries:
            grad_xp[(n, slice(None)) + window(*divmod(s, reach[1]))] += grad[n, f, w] * weight[f]
    grad_x = grad_xp[:, :, padding[0]:padding[0] + height, padding[1]:padding[1] + width]
    return grad_x, grad_w.astype(dtype), grad_b.astype(dtype)


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(geometry=convolutions(), filters=st.integers(1, 11), seed=st.integers(0, 999),
       pool=st.sampled_from([(2, 2, 0, False, 1), (3, 2, 1, True, 1), (2, 1, 0, False, 1),
                             (3, 2, 0, True, 1), (2, 2, 0, False, 2)]))
@settings(max_examples=25, deadline=None)
def test_gradients_at_the_switches_add_in_the_order_written(monkeypatch, dtype, geometry, filters, seed, pool):
    """The loops add four products at a time (switch_gradients.py): bit for bit the sums of
    plain NumPy adding one at a time in the order the docstring gives. Up to 11 filters, so
    that an output is the switch of four or more (a block) and of one to three (the rest);
    overlapping pools (an output in two windows) and dilated widths (runs of C numbers)."""
    from minicnn.engine import shapes
    from minicnn.engine.kernels import convolution, switch_gradients
    (batch, channels, height, width), weight_shape, stride, padding, dilation = geometry
    weight_shape = (filters,) + weight_shape[1:]
    out = tuple(shapes.conv_output_size((height, width)[a], weight_shape[2 + a], stride[a], padding[a],
                                        dilation=dilation[a]) for a in (0, 1))
    kernel, pool_stride, pool_padding, ceil_mode, pool_dilation = pool
    if min(out) < pool_dilation * (kernel - 1) + 1 - 2 * pool_padding:
        return                                     # the pool does not fit this output: not a case
    pooled = tuple(shapes.conv_output_size(o, kernel, pool_stride, pool_padding, ceil_mode, dilation=pool_dilation)
                   for o in out)
    pool = ((kernel,) * 2, (pool_stride,) * 2, (pool_padding,) * 2, (pool_dilation,) * 2, pooled)
    monkeypatch.setattr(convolution, "CHUNK_BYTES", 1 << 30)   # one chunk: images added in order
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    weight = rng.standard_normal(weight_shape).astype(dtype)
    _, switches, reach = switch_gradients.conv2d_max_pool_forward_in_reach(x, weight, None, stride, padding,
                                                                           dilation, out, pool)
    grad = rng.standard_normal(switches.shape).astype(dtype)
    got = switch_gradients.conv2d_max_pool_backward_at_switches(grad, switches, x, weight, stride, padding,
                                                                dilation, out, reach, True, True, True)
    expected = switch_gradients_in_the_written_order(grad, switches, x, weight, stride, padding, dilation, reach)
    for mine, theirs in zip(got, expected):
        assert mine.dtype == dtype
        numpy.testing.assert_array_equal(mine, theirs)


@needs_numba
def test_gradients_at_the_switches_take_pools_of_few_windows_over_long_runs():
    """The keras-MNIST second layer's geometry takes the route; a pool of stride 1 (nearly
    every output a switch) or runs of 15 numbers (3 channels, 5x5) take the pooled product."""
    def route(channels, kernel, pool_stride, size=13):
        x = numpy.zeros((2, channels, size, size), numpy.float32)
        out = conv_out(x.shape, (8, channels, kernel, kernel), (1, 1), (0, 0), (1, 1))
        pooled = tuple((o - 2) // pool_stride + 1 for o in out)
        pool = ((2, 2), (pool_stride, pool_stride), (0, 0), (1, 1), pooled)
        call = routes.ConvCall.of(x, (8, channels, kernel, kernel), (1, 1), (0, 0), (1, 1), 1, out, pool=pool,
                                  backend="numba")
        return routes.describe("conv2d+max_pool2d", call)
    if not threads.blas_control():
        assert route(32, 3, 2) == "conv2d, then max_pool2d"
        return
    assert route(32, 3, 2) == route(8, 3, 2) == "im2col pooled, gradients at switches"   # runs of 96, 24
    assert route(32, 3, 1) == route(3, 5, 2, size=16) == "im2col, pooled from the product"


@needs_split_blas
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(geometry=geometries(three_by_three=False), seed=st.integers(0, 999))
@settings(max_examples=15, deadline=None)
def test_input_gradient_route_equals_col2im_of_the_product(monkeypatch, dtype, geometry, seed):
    from minicnn.engine.functional.conv import conv2d_input_gradient
    input_shape, weight_shape, stride, padding, dilation = geometry
    out = tuple((input_shape[2 + a] + 2 * padding[a] - dilation[a] * (weight_shape[2 + a] - 1) - 1)
                // stride[a] + 1 for a in (0, 1))
    rng = numpy.random.default_rng(seed)
    g = rng.standard_normal((weight_shape[0], input_shape[0] * out[0] * out[1])).astype(dtype)
    w = rng.standard_normal(weight_shape).astype(dtype)
    with using_backend("numba"):
        with routes.using_routes("reference"):
            expected = conv2d_input_gradient(g, w, input_shape, stride, padding, dilation)
        (route,) = routes.ROUTES["conv2d_input_gradient"]
        calls = []

        def counted(call, *arrays):
            calls.append(call)
            return route.forward(call, *arrays)

        monkeypatch.setitem(routes.ROUTES, "conv2d_input_gradient",
                            (dataclasses.replace(route, when=on_numba, forward=counted),))
        got = conv2d_input_gradient(g, w, input_shape, stride, padding, dilation)
    assert len(calls) == 1
    assert_close([got], [expected], dtype, sum_terms(input_shape, weight_shape, out))


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 7), st.integers(1, 6)),
       size=st.integers(1, 7), alpha=st.floats(0.0, 2.0), k=st.floats(0.5, 3.0),
       seed=st.integers(0, 999))
@settings(max_examples=20, deadline=None)
def test_square_roots_route_equals_the_lrn_reference(monkeypatch, dtype, shape, size, alpha, k, seed):
    """beta = 3/4 by two square roots: y and dL/dx within a few roundings of the reference's
    x * scale ** -beta (kernels/lrn_square_roots.py), on odd and non-square shapes, any
    window size (even and odd), sizes large enough to share the images between threads."""
    rng = numpy.random.default_rng(seed)
    x0 = (rng.standard_normal(shape) * rng.uniform(0.1, 10)).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    (route,) = routes.ROUTES["local_response_norm"]

    def run():
        x = tensor(x0.copy(), requires_grad=True)
        y = F.local_response_norm(x, size, alpha, 0.75, k)
        y.backward(grad)
        return y, [y.data, x.grad]

    with using_backend("numba"):
        with routes.using_routes("reference"):
            reference, expected = run()
        monkeypatch.setitem(routes.ROUTES, "local_response_norm",
                            (forced(route, lambda call: call.on_numba and call.beta == 0.75),))
        routed, got = run()
    assert routed.creator.name == "local_response_norm by square roots (beta 3/4)"
    assert reference.creator.name == "local_response_norm"
    eps = numpy.finfo(dtype).eps
    y, grad_x = got
    # y: x / s^(3/4) against x * s^(-3/4): four roundings against two, each at most half an ulp
    numpy.testing.assert_allclose(y, expected[0], rtol=4 * eps, atol=0)
    # dL/dx = grad_y / s^(3/4) - 2 alpha beta / size * x * (window sum of grad_y y / s): each
    # term a few roundings from the reference's (the route's y differs in its last bits, so
    # the ratios do too), measured by the terms' sizes, in float64
    def window_sum(a, before, after):
        padded = numpy.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
        return sum(padded[:, i:i + shape[1]] for i in range(size))

    x64, grad64 = x0.astype(numpy.float64), numpy.abs(grad.astype(numpy.float64))
    scale = k + alpha / size * window_sum(x64 ** 2, size // 2, (size - 1) // 2)
    first_term = grad64 * scale ** -0.75
    ratios = grad64 * numpy.abs(x64) * scale ** -0.75 / scale
    second_term = 1.5 * alpha / size * numpy.abs(x64) * window_sum(ratios, (size - 1) // 2, size // 2)
    assert y.dtype == grad_x.dtype == dtype
    bound = 8 * eps * (first_term + second_term) + numpy.finfo(dtype).tiny
    assert numpy.all(numpy.abs(grad_x - expected[1]) <= bound)


@needs_numba
def test_square_roots_route_runs_for_beta_three_quarters_on_numba_only():
    x = tensor(numpy.random.default_rng(0).standard_normal((2, 6, 5, 5)))
    with using_backend("numba"):
        assert F.local_response_norm(x, 5).creator is None           # no gradient: no creator kept
        x.requires_grad = True
        assert F.local_response_norm(x, 5).creator.name.endswith("square roots (beta 3/4)")
        assert F.local_response_norm(x, 5, beta=0.5).creator.name == "local_response_norm"
        with routes.using_routes("reference"):
            assert F.local_response_norm(x, 5).creator.name == "local_response_norm"
    with using_backend("numpy"):
        assert F.local_response_norm(x, 5).creator.name == "local_response_norm"


# ----- the table is the only place that decides ----------------------------------------------

@needs_numba
def test_an_empty_table_sends_every_op_to_its_reference(monkeypatch):
    for op in routes.ROUTES:
        monkeypatch.setitem(routes.ROUTES, op, ())
    model = get_model("zfnet_small")
    x = tensor(numpy.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(numpy.float32))
    names = set()
    original = Conv2dFunction.forward

    def seen(self, *arrays):
        names.add(self.name)
        return original(self, *arrays)

    monkeypatch.setattr(Conv2dFunction, "forward", seen)
    with using_backend("numba"):
        model(x)
        assert all(row["runs_as"].split(",")[0].split(";")[0] in ("im2col", "")
                   or row["runs_as"].startswith(("after", "before"))
                   for row in model.summary((1, 28, 28), print_table=False))
    assert names == {"conv2d"}                       # five convolutions, all by the formulas


@needs_split_blas
def test_a_route_in_the_table_is_taken_wherever_its_when_holds(monkeypatch):
    (chunks,) = [r for r in routes.ROUTES["conv2d"] if r.name == "chunks"]
    asked = []

    def always(call):
        asked.append(call)
        return True

    monkeypatch.setitem(routes.ROUTES, "conv2d", (dataclasses.replace(chunks, name="everywhere",
                                                                      when=always),))
    x = tensor(numpy.ones((2, 8, 6, 6)))
    w = tensor(numpy.ones((4, 8, 3, 3)))
    with using_backend("numpy"):                     # even on numpy: the table says so
        y = F.conv2d(x, w)
    assert asked and asked[0].input_shape == (2, 8, 6, 6) and asked[0].backend == "numpy"
    assert y.shape == (2, 4, 4, 4) and float(y.data[0, 0, 0, 0]) == 72.0


def _names_used(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names)
    return names


def test_ops_and_layers_never_ask_the_backend_or_the_machine():
    """Only kernels/ (KERNELS and ROUTES) decides how an op runs: the ops and layers never
    look at the backend, the BLAS library or a route's own condition."""
    deciders = {"get_backend", "blas_control", "is_cupy_array", "by_winograd", "by_winograd_4x4", "in_chunks",
                "input_gradient_in_chunks", "by_square_roots", "pooled_from_the_product", "pays",
                "CHUNKS_BELOW_ROWS", "_pick"}
    offenders = {}
    for folder in ("functional", "nn"):
        for path in sorted((ROOT / "minicnn" / "engine" / folder).glob("*.py")):
            if path.name == "summary.py":            # describes a backend it is given
                continue
            found = _names_used(path) & deciders
            if found:
                offenders[f"{folder}/{path.name}"] = sorted(found)
    assert offenders == {}


def test_every_route_names_its_reference_and_its_code():
    for op, table in routes.ROUTES.items():
        assert op in routes.REFERENCE
        for route in table:
            assert route.op == op and route.name and route.name != routes.REFERENCE[op]
            assert "functional/" in route.equals
            assert (ROOT / "minicnn" / "engine" / route.code).is_file()
            assert callable(route.when) and callable(route.forward)
            assert (route.backward is None) == (op == "conv2d_input_gradient")


def test_set_routes_refuses_an_unknown_mode_and_using_routes_restores():
    with pytest.raises(ValueError, match=r"unknown mode 'slow'.*'fast'.*'reference'"):
        routes.set_routes("slow")
    assert mc.get_routes() == "fast"
    with mc.using_routes("reference"):
        assert mc.get_routes() == "reference"
    assert mc.get_routes() == "fast"


# ----- what runs is visible ------------------------------------------------------------------

def _runs_as(model_name, backend, **kwargs):
    model = get_model(model_name)
    return {row["name"]: row["runs_as"]
            for row in model.summary(model.input_shape, print_table=False, backend=backend, **kwargs)}


def test_summary_on_numpy_names_the_reference_and_the_reordering():
    rows = _runs_as("zfnet_small", "numpy")
    assert [rows[name] for name in ("0", "4", "8", "10", "12")] == ["im2col"] * 5
    assert rows["1"] == "after 2 (pool first)" and rows["2"] == "before 1 (pool first)"
    assert rows["3"] == "" and rows["16"] == ""                # LRN, Linear: no route


@needs_split_blas
def test_summary_on_numba_shows_winograd_chunks_and_fusion():
    rows = _runs_as("zfnet_small", "numba", batch=32)
    assert [rows[name] for name in ("4", "8", "10", "12")] == ["winograd F(4x4,3x3)"] * 4
    few = _runs_as("zfnet_small", "numba", batch=8)               # fewer images: 2x2 tiles
    assert [few[name] for name in ("4", "8", "10", "12")] == ["winograd F(2x2,3x3)"] * 4
    assert rows["0"] == "direct, pooled in cache, fused with 1, 2"
    assert rows["2"] == rows["1"] == "fused into 0"            # conv, ReLU and pool: one op
    assert rows["3"] == rows["7"] == "square roots (beta 3/4)"       # the two LRN layers
    keras = _runs_as("keras_mnist_cnn", "numba", batch=128)
    assert keras["0"] == "direct, pooled in cache, fused with 1, 2"
    # no Winograd there (it does not pay): the formulas, the pool taken from the product's
    # rows, the gradients read at the switches
    assert keras["3"] == "im2col pooled, gradients at switches, fused with 4, 5"
    assert keras["4"] == keras["5"] == "fused into 3" and keras["6"] == "im2col; dL/dx chunks"
    with mc.using_routes("reference"):
        plain = _runs_as("zfnet_small", "numba")
    assert plain["0"] == plain["4"] == "im2col" and plain["1"] == plain["2"] == plain["3"] == ""


@needs_split_blas
def test_summary_command_names_the_routes():
    out = subprocess.run([sys.executable, "-m", "minicnn", "summary", "zfnet_small", "--backend", "numba"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "runs as: on the numba backend, batch 32" in out
    assert out.count("winograd F(4x4,3x3)") == 4 and "fused with 1, 2" in out


def test_summary_of_a_model_on_flat_inputs_and_of_a_first_layer():
    rows = nn.Sequential(nn.Linear(4, 2), nn.ReLU()).summary((4,), print_table=False, backend="numpy")
    assert [row["receptive_field"] for row in rows] == [(4,), (4,)]     # the whole input
    if threads.blas_control() and numba is not None:
        alexnet = get_model("alexnet").summary((3, 224, 224), print_table=False, backend="numba", batch=1)
        assert alexnet[0]["runs_as"] == "im2col"       # the images need no gradient: no dL/dx step
        assert alexnet[8]["runs_as"] == "winograd F(2x2,3x3)"


def test_summary_refuses_an_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        get_model("lenet5").summary((1, 28, 28), print_table=False, backend="tpu")


# ----- fusion: visible, one word away, the same numbers ---------------------------------------

def test_fuse_false_and_reference_routes_plan_every_layer_as_written():
    model = get_model("keras_mnist_cnn")
    assert model.plan()[:2] == [("conv+pool", (0, 1, 2)), ("conv+pool", (3, 4, 5))]
    model.fuse = False
    assert all(how == "layer" for how, _ in model.plan())
    model.fuse = True
    with mc.using_routes("reference"):
        assert all(how == "layer" for how, _ in model.plan())
    assert nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), fuse=False).plan() == [("layer", (0,)), ("layer", (1,))]
    with pytest.raises(TypeError, match="fuse must be True or False"):
        nn.Sequential(nn.ReLU(), fuse="no")


def _step(model, x, labels):
    model.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    return [loss.data] + [p.grad for p in model.parameters()]


@pytest.mark.parametrize("model_name", ["keras_mnist_cnn", "zfnet_small"])
def test_fused_and_written_order_give_the_same_numbers(backend_name, model_name):
    mc.manual_seed(3)
    model = get_model(model_name).to("float64").eval()       # eval: dropout is the identity
    if backend_name == "cupy":
        model.to("gpu")
    rng = numpy.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((5, 1, 28, 28)))
    labels = mc.tensor(rng.integers(0, 10, 5)).data
    fused = _step(model, x, labels)
    model.fuse = False
    written = _step(model, x, labels)
    for a, b in zip(fused, written):
        a, b = mc.to_numpy(a), mc.to_numpy(b)
        if backend_name == "numpy":
            numpy.testing.assert_array_equal(a, b)           # reordering alone: exactly equal
        else:                                                 # a route adds in chunks
            numpy.testing.assert_allclose(a, b, rtol=0, atol=1e-11 * (1 + numpy.abs(b).max()))


# ----- one backend choice ----------------------------------------------------------------------

def _in_subprocess(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "MINICNN_BACKEND"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, cwd=ROOT)


def test_a_script_and_the_command_choose_the_same_default_backend():
    expected = "numba" if numba is not None else "numpy"
    script = _in_subprocess("import minicnn; print(minicnn.get_backend())")
    assert script.returncode == 0 and script.stdout.strip() == expected
    command = _in_subprocess("from minicnn.cli.main import choose_backend; print(choose_backend(None))")
    assert command.stdout.strip() == expected
    chosen = _in_subprocess("import minicnn; print(minicnn.get_backend())", MINICNN_BACKEND="numpy")
    assert chosen.stdout.strip() == "numpy"
    refused = _in_subprocess("import minicnn; minicnn.get_backend()", MINICNN_BACKEND="tpu")
    assert refused.returncode == 1 and "$MINICNN_BACKEND: unknown backend 'tpu'" in refused.stderr
