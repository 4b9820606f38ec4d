"""Every compiled kernel against its reference, family by family (minicnn/engine/kernels/).

Each family file (im2col_col2im.py, pooling.py, lrn.py, relu.py,
conv_layout.py) holds the plain-array references and their twins:

* ``*_numba`` (Numba, CPU): same arithmetic in the same order as the
  reference, so every result must be **bit for bit** equal, sums included
  (col2im adds taps in row-major order in the input's dtype, as the
  reference's ``+=`` over taps does; maxpool_scatter sums in float64 in
  window order, as ``numpy.bincount`` does, then rounds once; LRN sums
  channels in increasing order and leaves ``scale ** -beta`` to NumPy).
  The tolerance for these sums is therefore zero.
* ``*_cuda`` (numba.cuda kernels): bit for bit too, except where the GPU
  cannot keep the order or uses another pow; the tolerances for those are
  derived where they are used (``assert_sums_close``, ``check_lrn``).

Hypothesis draws the shapes (odd sizes, non-square kernels, stride > 1,
padding up to kernel//2, ceil_mode partial windows, dilation > 1, and now
and then an empty batch) and the data (small
integers, so that max pooling meets ties and the first-maximum rule is
checked, or normal floats), in float32 and float64. The CUDA kernels run
in a subprocess under Numba's CUDA simulator (the switch must be set before
numba is imported), and on a real GPU with CuPy when there is one.
"""

import collections
import contextlib
import os
import pathlib
import subprocess
import sys

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.engine import backend, kernels, threads
from minicnn.engine.backend import using_backend
from minicnn.engine.kernels import compiled, conv_layout, im2col_col2im, lrn, pooling, products, relu
from minicnn.engine.shapes import conv_output_size

ROOT = pathlib.Path(__file__).resolve().parent.parent
needs_numba = pytest.mark.skipif(backend.numba is None,
                                 reason=f"the numba twins need numba: {backend.numba_reason}")
needs_gpu = pytest.mark.skipif(
    backend.cupy is None, reason=f"needs a CUDA GPU with CuPy: {backend.cupy_reason}")


@pytest.fixture(autouse=True)
def share_every_loop(monkeypatch):
    """Every loop of these small tests is shared out among 3 threads, as large ones are
    (compiled.share_out runs loops over less than SHARE_FROM_BYTES on one thread), so
    each twin is checked as it runs in training, its items split among threads."""
    monkeypatch.setattr(compiled, "SHARE_FROM_BYTES", 0)
    previous = threads.set_num_threads(3)
    yield
    threads.set_num_threads(previous)


# --------------------------------------------------------------------------
# What the tests draw
# --------------------------------------------------------------------------

Geometry = collections.namedtuple(
    "Geometry", "input_shape kernel stride padding out ceil_mode dilation")


@st.composite
def geometries(draw, max_channels=4, batch=st.integers(1, 3)):
    """A small pooling/convolution geometry, any of its terms unusual.

    Dilation is 1 on an axis half of the time (the usual case, and the fast
    path the twins must keep) and 2 or 3 otherwise.
    """
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(st.sampled_from([1, 1, 2, 3])), draw(st.sampled_from([1, 1, 2, 3])))
    ceil_mode = draw(st.booleans())
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    height = draw(st.integers(max(1, span[0] - 2 * padding[0]), 9 + span[0] - kernel[0]))
    width = draw(st.integers(max(1, span[1] - 2 * padding[1]), 9 + span[1] - kernel[1]))
    shape = (draw(batch), draw(st.integers(1, max_channels)), height, width)
    out = (conv_output_size(height, kernel[0], stride[0], padding[0], ceil_mode=ceil_mode, dilation=dilation[0]),
           conv_output_size(width, kernel[1], stride[1], padding[1], ceil_mode=ceil_mode, dilation=dilation[1]))
    return Geometry(shape, kernel, stride, padding, out, ceil_mode, dilation)


dtypes = st.sampled_from([numpy.float32, numpy.float64])
seeds = st.integers(0, 2**32 - 1)


def make_data(seed, shape, dtype, ties):
    """Small integers (many ties) or normal floats, of ``dtype``."""
    rng = numpy.random.default_rng(seed)
    if ties:
        return rng.integers(-2, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def assert_identical(actual, expected):
    """Same dtype, same shape, same bits (NaN where the reference has NaN)."""
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert numpy.array_equal(actual, expected, equal_nan=True), numpy.abs(actual - expected).max()


# --------------------------------------------------------------------------
# Numba twins: bit for bit, on drawn shapes
# --------------------------------------------------------------------------

@contextlib.contextmanager
def planes_by(path):
    """im2col_numba and col2im_numba by their loops ("loops") or their table ("table"), whatever
    the number of windows (im2col_col2im's IM2COL_TABLE_BELOW and COL2IM_TABLE_BELOW choose
    otherwise)."""
    names = ("IM2COL_TABLE_BELOW", "COL2IM_TABLE_BELOW")
    previous = [getattr(im2col_col2im, name) for name in names]
    for name in names:
        setattr(im2col_col2im, name, 0 if path == "loops" else 10**9)
    try:
        yield
    finally:
        for name, value in zip(names, previous):
            setattr(im2col_col2im, name, value)


@needs_numba
@pytest.mark.parametrize("path", ["loops", "table"])
@settings(max_examples=30)
@given(geometries(), dtypes, seeds, st.booleans(), st.sampled_from([0.0, -numpy.inf, 1.5]))
def test_im2col(path, geometry, dtype, seed, ties, pad_value):
    x = make_data(seed, geometry.input_shape, dtype, ties)
    arguments = (x, geometry.kernel, geometry.stride, geometry.padding, geometry.out, pad_value,
                 geometry.dilation)
    with planes_by(path):
        assert_identical(im2col_col2im.im2col_numba(*arguments), im2col_col2im.im2col(*arguments))


@needs_numba
@pytest.mark.parametrize("path", ["loops", "table"])
@settings(max_examples=30)
@given(geometries(), dtypes, seeds)
def test_col2im(path, geometry, dtype, seed):
    # Tolerance zero: both add each pixel's entries in tap order, in dtype.
    n, c = geometry.input_shape[:2]
    cols_shape = (c,) + geometry.kernel + (n,) + geometry.out          # (C, KH, KW, N, OH, OW)
    cols = make_data(seed, cols_shape, dtype, ties=False)
    arguments = (cols, geometry.input_shape, geometry.kernel, geometry.stride, geometry.padding,
                 geometry.dilation)
    with planes_by(path):
        assert_identical(im2col_col2im.col2im_numba(*arguments), im2col_col2im.col2im(*arguments))


def test_the_tap_table_names_each_taps_pixel_or_padding():
    """tap_table against its definition, written out: a 3x2 kernel, stride 2, padding 1, dilation (1, 2)."""
    height, width, kernel, stride, padding, dilation = 5, 6, (3, 2), (2, 2), (1, 1), (1, 2)
    out = (3, 3)
    table = im2col_col2im.tap_table(height, width, *kernel, *stride, *padding, *dilation, *out)
    expected = []
    for i in range(3):
        for j in range(2):
            for oy in range(3):
                for ox in range(3):
                    y, x = oy * 2 + i - 1, ox * 2 + j * 2 - 1
                    expected.append(y * width + x if 0 <= y < height and 0 <= x < width else -1)
    assert table.tolist() == expected and not table.flags.writeable


@settings(max_examples=30)
@given(geometries(), seeds)
def test_col2im_is_the_adjoint_of_im2col(geometry, seed):
    """<im2col(x), cols> = <x, col2im(cols)> for every geometry, dilated ones too:
    col2im sends each entry back to exactly the pixel im2col read it from."""
    n, c = geometry.input_shape[:2]
    x = make_data(seed, geometry.input_shape, numpy.float64, ties=False)
    cols = make_data(seed + 1, (c,) + geometry.kernel + (n,) + geometry.out, numpy.float64, ties=False)
    window = (geometry.kernel, geometry.stride, geometry.padding)
    unfolded = im2col_col2im.im2col(x, *window, geometry.out, 0.0, geometry.dilation)
    folded = im2col_col2im.col2im(cols, geometry.input_shape, *window, geometry.dilation)
    assert numpy.isclose((unfolded * cols).sum(), (x * folded).sum(), rtol=1e-12, atol=1e-12)


@needs_numba
@settings(max_examples=40)
@given(geometries(), dtypes, seeds, st.booleans())
def test_maxpool_forward(geometry, dtype, seed, ties):
    x = make_data(seed, geometry.input_shape, dtype, ties)
    arguments = (x, geometry.kernel, geometry.stride, geometry.padding, geometry.out, geometry.dilation)
    y, switches = pooling.maxpool_forward_numba(*arguments)
    expected_y, expected_switches = pooling.maxpool_forward(*arguments)
    assert_identical(y, expected_y)
    assert_identical(switches, expected_switches)       # int64, first maximum on ties


@needs_numba
@settings(max_examples=30)
@given(geometries(), dtypes, seeds, st.booleans(), st.booleans())
def test_maxpool_scatter_and_gather(geometry, dtype, seed, ties, unpool):
    # Tolerance zero for the scatter: both sum in float64 in window order
    # (numpy.bincount's order), then round once to dtype.
    x = make_data(seed, geometry.input_shape, dtype, ties)
    y, switches = pooling.maxpool_forward(
        x, geometry.kernel, geometry.stride, geometry.padding, geometry.out, geometry.dilation)
    values = y if unpool else make_data(seed + 1, y.shape, dtype, ties=False)
    assert_identical(pooling.maxpool_scatter_numba(values, switches, x.shape),
                     pooling.maxpool_scatter(values, switches, x.shape))
    assert_identical(pooling.maxpool_gather_numba(x, switches), pooling.maxpool_gather(x, switches))


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_maxpool_forward_nan_and_all_minus_infinity(dtype):
    """The first NaN wins (numpy.argmax); a window of -inf and padding reports tap (0, 0)."""
    x = numpy.arange(2 * 3 * 5 * 5, dtype=dtype).reshape(2, 3, 5, 5) % 7
    x[0, 1, 2, 3] = numpy.nan
    x[0, 1, 3, 1] = numpy.nan
    x[1, 2] = -numpy.inf
    for geometry in (((3, 2), (2, 2), (1, 1), (3, 3)),      # padding: the general loop
                     ((3, 3), (2, 2), (0, 0), (3, 3)),      # 3x3/2, ceil mode: _maxpool_3x3_stride2_loops
                     ((3, 3), (2, 2), (1, 1), (3, 3)),      # 3x3/2 with padding: the same loops
                     ((3, 3), (3, 3), (0, 0), (2, 2)),      # ceil mode: inner windows whole, the last clipped
                     ((2, 2), (1, 1), (1, 1), (5, 5), (2, 2)),   # dilated: the dilation not a constant
                     ((3, 2), (2, 1), (0, 0), (2, 4)),      # every tap inside: _maxpool_inside_loops
                     ((2, 2), (2, 2), (0, 0), (2, 2)),      # 2x2 windows: _maxpool_2x2_loops
                     ((2, 2), (1, 2), (0, 0), (4, 2))):     # 2x2, overlapping rows
        y, switches = pooling.maxpool_forward_numba(x, *geometry)
        expected_y, expected_switches = pooling.maxpool_forward(x, *geometry)
        assert_identical(y, expected_y)
        assert_identical(switches, expected_switches)


@needs_numba
@settings(max_examples=30)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9),
       st.integers(1, 3), st.integers(1, 3), dtypes, st.integers(0, 2**32 - 1))
def test_maxpool_2x2_windows_give_the_references_numbers(batch, channels, height, width, stride_y,
                                                          stride_x, dtype, seed):
    """2x2 windows with every tap inside take their own loop (_maxpool_2x2_loops): ties
    (few distinct values), odd sizes and strides 1-3 give the reference's maxima and switches."""
    x = make_data(seed, (batch, channels, height, width), dtype, ties=True)
    out = ((height - 2) // stride_y + 1, (width - 2) // stride_x + 1)
    window = ((2, 2), (stride_y, stride_x), (0, 0), out)
    for actual, expected in zip(pooling.maxpool_forward_numba(x, *window), pooling.maxpool_forward(x, *window)):
        assert_identical(actual, expected)


@needs_numba
@settings(max_examples=40)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 15), st.integers(1, 15), st.integers(0, 1),
       st.integers(0, 1), st.booleans(), dtypes, seeds, st.sampled_from(["ties", "normal", "nan", "-inf"]))
def test_maxpool_3x3_stride_2_windows_give_the_references_numbers(batch, channels, height, width, pad_y,
                                                                  pad_x, ceil_mode, dtype, seed, data):
    """3x3 windows, stride 2 (AlexNet's and ZFNet's pool), some clipped, take
    _maxpool_3x3_stride2_loops (every tap inside: _maxpool_inside_loops): odd and even sizes,
    padding 0 or 1, ceil_mode (the last window clipped), ties, a NaN in a plane, a plane of
    -inf: the reference's maxima and switches."""
    if height + 2 * pad_y < 3 or width + 2 * pad_x < 3:
        return                                              # no window fits
    x = make_data(seed, (batch, channels, height, width), dtype, ties=data == "ties")
    if data == "nan":
        x[0, 0, height // 2, width // 3] = numpy.nan
    if data == "-inf":
        x[0, -1] = -numpy.inf
    out = (conv_output_size(height, 3, 2, pad_y, ceil_mode=ceil_mode),
           conv_output_size(width, 3, 2, pad_x, ceil_mode=ceil_mode))
    window = ((3, 3), (2, 2), (pad_y, pad_x), out)
    assert pooling.three_by_three_stride_two(*window[:2], (1, 1))
    for actual, expected in zip(pooling.maxpool_forward_numba(x, *window), pooling.maxpool_forward(x, *window)):
        assert_identical(actual, expected)


@needs_numba
@settings(max_examples=10)
@given(geometries(batch=st.just(0)), dtypes)
def test_twins_take_an_empty_batch(geometry, dtype):
    """N = 0 images: every windowed and layout twin returns the reference's empty result."""
    x = numpy.zeros(geometry.input_shape, dtype)
    window = (geometry.kernel, geometry.stride, geometry.padding)
    arguments = (x, *window, geometry.out, 0.0, geometry.dilation)
    cols = im2col_col2im.im2col(*arguments)
    assert cols.shape[3] == 0
    assert_identical(im2col_col2im.im2col_numba(*arguments), cols)
    assert_identical(im2col_col2im.col2im_numba(cols, x.shape, *window, geometry.dilation),
                     im2col_col2im.col2im(cols, x.shape, *window, geometry.dilation))
    y, switches = pooling.maxpool_forward(x, *window, geometry.out, geometry.dilation)
    for actual, expected in zip(pooling.maxpool_forward_numba(x, *window, geometry.out, geometry.dilation),
                                (y, switches)):
        assert_identical(actual, expected)
    assert_identical(pooling.maxpool_scatter_numba(y, switches, x.shape), pooling.maxpool_scatter(y, switches, x.shape))
    assert_identical(pooling.maxpool_gather_numba(x, switches), pooling.maxpool_gather(x, switches))
    rows = numpy.zeros((3, 0), dtype)                                  # (F, N*S) for N = 0
    bias = numpy.ones(3, dtype)
    assert_identical(conv_layout.rows_to_images_plus_bias_numba(rows, 0, bias),
                     conv_layout.rows_to_images_plus_bias(rows, 0, bias))
    images = numpy.zeros((0, 3) + geometry.out, dtype)
    for twin, reference in ((conv_layout.images_to_rows_numba, conv_layout.images_to_rows),
                            (conv_layout.images_to_rows_and_sums_numba, conv_layout.images_to_rows_and_sums)):
        for actual, expected in zip(_as_tuple(twin(images)), _as_tuple(reference(images))):
            assert_identical(actual, expected)


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@needs_numba
def test_switches_out_of_range_are_explained():
    values = numpy.ones((1, 1, 2, 2), dtype=numpy.float32)
    switches = numpy.array([[[[0, 3], [4, -1]]]])
    with pytest.raises(ValueError, match="not flat indices"):
        pooling.maxpool_scatter_numba(values, switches, (1, 1, 2, 2))
    with pytest.raises(ValueError, match="not flat indices"):
        pooling.maxpool_gather_numba(numpy.ones((1, 1, 2, 2), dtype=numpy.float32), switches)


lrn_parameters = st.tuples(
    st.integers(1, 7),                                       # size, odd and even
    st.sampled_from([1e-4, 0.5, 1.0]),                       # alpha; 1.0 makes every term count
    st.sampled_from([0.75, 0.5, 1.0]),                       # beta
    st.sampled_from([1.0, 2.0]),                             # k
)


@needs_numba
@given(st.integers(1, 2), st.integers(1, 8), st.integers(1, 5), st.integers(1, 5),
       lrn_parameters, dtypes, seeds)
def test_lrn_forward_and_backward(n, c, height, width, parameters, dtype, seed):
    # Tolerance zero: channel sums in increasing order in dtype, and the
    # power is NumPy's own ``scale ** -beta``, as in the reference.
    size, alpha, beta, k = parameters
    x = make_data(seed, (n, c, height, width), dtype, ties=False)
    y, scale = lrn.lrn_forward_numba(x, size, alpha, beta, k)
    expected_y, expected_scale = lrn.lrn_forward(x, size, alpha, beta, k)
    assert_identical(scale, expected_scale)
    assert_identical(y, expected_y)
    grad_y = make_data(seed + 1, x.shape, dtype, ties=False)
    assert_identical(lrn.lrn_backward_numba(grad_y, x, y, scale, size, alpha, beta),
                     lrn.lrn_backward(grad_y, x, y, scale, size, alpha, beta))


special_values = st.sampled_from([0.0, -0.0, numpy.inf, -numpy.inf, numpy.nan, 1e-30, -1e-30])


@needs_numba
@given(st.lists(st.integers(1, 7), min_size=1, max_size=4), dtypes, seeds,
       st.lists(special_values, max_size=6), st.booleans())
def test_relu_forward_and_backward(shape, dtype, seed, specials, transposed):
    # Tolerance zero: max(0, x) and grad * mask are exact. Special values
    # (signed zeros, infinities, NaN, tiny numbers) go in at the front, and
    # the gradient gets them too, so inf * 0 = NaN must match the reference.
    x = make_data(seed, shape, dtype, ties=True).ravel()
    x[:len(specials)] = specials[:x.size]
    x = x.reshape(shape)
    if transposed:                                   # a non-contiguous view, as .T gives
        x = x.T
    y, positive = relu.relu_forward_numba(x)
    expected_y, expected_positive = relu.relu_forward(x)
    assert_identical(y, expected_y)
    assert_identical(positive, expected_positive)
    grad_y = x[::-1].copy() if x.ndim else x.copy()  # specials again, at other places
    with numpy.errstate(invalid="ignore"):           # inf * 0 in the reference
        expected = relu.relu_backward(grad_y, expected_positive)
    assert_identical(relu.relu_backward_numba(grad_y, positive), expected)


@needs_numba
@given(st.integers(1, 200), dtypes, seeds, st.lists(special_values, max_size=6))
def test_relu_in_place_is_relu_forward(size, dtype, seed, specials):
    # A ReLU folded into a pass that holds the values (the conv+pool routes' chunks):
    # relu_forward's numbers and mask, written over the values, exactly.
    x = make_data(seed, (size,), dtype, ties=True)
    x[:len(specials)] = specials[:size]
    expected_y, expected_positive = relu.relu_forward(x)
    values, positive = x.copy(), numpy.ones(size, numpy.bool_)
    relu.relu_in_place(values, positive)
    assert_identical(values, expected_y)
    assert_identical(positive, expected_positive)


@needs_numba
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4), dtypes, seeds,
       st.booleans())
def test_rows_to_images_and_images_to_rows(batch, filters, height, width, dtype, seed, with_bias):
    # Pure data movement (and one addition of the bias; the sums in float64 in
    # the reference's order): exact.
    rows = make_data(seed, (filters, batch * height * width), dtype, ties=False)
    bias = make_data(seed + 1, (filters,), dtype, ties=False) if with_bias else None
    assert_identical(conv_layout.rows_to_images_plus_bias_numba(rows, batch, bias),
                     conv_layout.rows_to_images_plus_bias(rows, batch, bias))
    grad = make_data(seed + 2, (batch, filters, height, width), dtype, ties=False)
    assert_identical(conv_layout.images_to_rows_numba(grad), conv_layout.images_to_rows(grad))
    matrix, sums = conv_layout.images_to_rows_and_sums_numba(grad)
    expected_matrix, expected_sums = conv_layout.images_to_rows_and_sums(grad)
    assert_identical(matrix, expected_matrix)
    assert_identical(sums, expected_sums)
    # the two are inverse layouts: (N, F, S) -> (F, N*S) -> (N, F, S)
    images = grad.reshape(batch, filters, -1)
    assert_identical(conv_layout.rows_to_images_plus_bias_numba(
        conv_layout.images_to_rows_numba(grad), batch), images)


@needs_numba
@given(st.integers(1, 70), st.integers(1, 70), st.integers(1, 300), dtypes, seeds, st.integers(1, 3))
def test_matmul_twin_splits_the_reference_product(rows, inner, columns, dtype, seed, count):
    # Each entry is the same K products summed by BLAS, the output cut in blocks per thread:
    # within a few roundings of a K-term sum of the reference's.
    a = make_data(seed, (rows, inner), dtype, ties=False)
    b = make_data(seed + 1, (inner, columns), dtype, ties=False)
    previous = threads.set_num_threads(count)
    try:
        got = products.matmul_numba(a, b)
    finally:
        threads.set_num_threads(previous)
    expected = products.matmul(a, b)
    assert got.dtype == expected.dtype and got.shape == (rows, columns)
    bound = 4 * inner * numpy.finfo(dtype).eps * (numpy.abs(a) @ numpy.abs(b))
    assert numpy.all(numpy.abs(got - expected) <= bound)


# --------------------------------------------------------------------------
# Which implementation the dispatcher picks
# --------------------------------------------------------------------------

def test_the_table_of_kernels_lists_twins_that_exist():
    """KERNELS names each kernel's reference and twins; a twin it uses must be there,
    in the family file of its reference, named after it."""
    assert kernels.NAMES == tuple(kernels.KERNELS)
    for name, kernel in kernels.KERNELS.items():
        family = sys.modules[kernel.reference.__module__]
        assert kernel.reference is getattr(family, name), name
        if kernel.numba_from_size is not None:
            assert kernel.numba is getattr(family, name + "_numba"), name
        if kernel.cuda_used:
            assert kernel.cuda is getattr(family, name + "_cuda"), name
        for twin in (kernel.numba, kernel.cuda):
            assert twin is None or sys.modules[twin.__module__] is family, name


@needs_numba
def test_pick_uses_a_numba_twin_only_where_listed():
    x = numpy.zeros((1, 1, 2, 2), dtype=numpy.float32)
    large = numpy.zeros((1, 1, 1024, 1024), dtype=numpy.float32)     # above every threshold
    thresholds = [kernel.numba_from_size for kernel in kernels.KERNELS.values()
                  if kernel.numba_from_size is not None]
    assert large.size >= max(thresholds)
    with using_backend("numba"):
        for name, kernel in kernels.KERNELS.items():
            listed = kernel.numba_from_size is not None
            expected = kernel.numba if listed else kernel.reference
            assert kernels._pick(name, large) is expected, name
            small_expected = expected if listed and x.size >= kernel.numba_from_size else kernel.reference
            assert kernels._pick(name, x) is small_expected, name
    with using_backend("numpy"):
        for name, kernel in kernels.KERNELS.items():
            assert kernels._pick(name, x) is kernel.reference, name


# --------------------------------------------------------------------------
# CUDA twins: fixed cases, run under the simulator or on a GPU
# --------------------------------------------------------------------------

def assert_sums_close(actual, expected, magnitude, terms, dtype):
    """Sums of the same terms added in another order (GPU atomics).

    Adding m terms in two different orders gives results that differ by at
    most about m * eps * (sum of |terms|) (each addition rounds by at most
    eps/2 of the partial sum); the cuda scatter adds in float64 and rounds
    once to dtype, which can move the result by one more ulp of dtype. So
    |actual - expected| <= terms * eps64 * magnitude + eps(dtype) * |expected|,
    with ``magnitude`` the sum of |terms| and ``terms`` their count, per pixel.
    """
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    bound = (terms * numpy.finfo(numpy.float64).eps * magnitude
             + numpy.finfo(dtype).eps * numpy.abs(expected))
    assert numpy.all(numpy.abs(actual.astype(numpy.float64) - expected) <= bound)


def check_lrn(to_device, to_host, dtype):
    """LRN on the GPU: the sums keep the reference's order, but ``**`` is the
    GPU's pow (CUDA's powf is within 4 ulp, NumPy's within 1) and the GPU may
    fuse ``k + alpha/size * sum`` into one multiply-add (one rounding fewer).
    So scale is within 2 eps relative, y = x * scale**-beta within 8 eps, and
    grad_x = A - B within 8 eps of |A| + |B| (A, B are its two terms; the
    bound is on the terms, since A - B may cancel)."""
    eps = numpy.finfo(dtype).eps
    size, alpha, beta, k = 5, 1.0, 0.75, 2.0          # alpha = 1: every term counts
    x = make_data(7, (2, 7, 3, 4), dtype, ties=False)
    y, scale = (to_host(a) for a in lrn.lrn_forward_cuda(to_device(x), size, alpha, beta, k))
    expected_y, expected_scale = lrn.lrn_forward(x, size, alpha, beta, k)
    assert y.dtype == dtype and scale.dtype == dtype
    numpy.testing.assert_allclose(scale, expected_scale, rtol=2 * eps, atol=0)
    numpy.testing.assert_allclose(y, expected_y, rtol=8 * eps, atol=0)
    grad_y = make_data(8, x.shape, dtype, ties=False)
    grad_x = to_host(lrn.lrn_backward_cuda(*(to_device(a) for a in (grad_y, x, expected_y,
                                                                      expected_scale)),
                                           size, alpha, beta))
    expected = lrn.lrn_backward(grad_y, x, expected_y, expected_scale, size, alpha, beta)
    terms = (numpy.abs(grad_y * expected_scale ** -beta)
             + numpy.abs(expected - grad_y * expected_scale ** -beta))
    assert grad_x.dtype == dtype
    assert numpy.all(numpy.abs(grad_x - expected) <= 8 * eps * terms)


def check_cuda_twins(to_device, to_host):
    """Each CUDA twin on a few fixed cases, against its NumPy reference."""
    cases = [  # input shape, kernel, stride, padding, ceil_mode, dilation
        ((2, 3, 7, 6), (3, 2), (2, 1), (1, 1), True, (1, 1)),    # overlapping rows, partial windows
        ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0), True, (1, 1)),    # non-overlapping, ceil_mode
        ((1, 2, 6, 7), (3, 3), (1, 2), (1, 0), False, (1, 1)),   # overlapping, stride 1
        ((2, 2, 9, 8), (3, 2), (2, 1), (1, 1), True, (2, 3)),    # dilated, partial windows
        ((1, 2, 2, 7), (1, 2), (1, 2), (0, 1), False, (1, 3)),   # a window of padding only
    ]
    for dtype in (numpy.float32, numpy.float64):
        for number, (shape, kernel, stride, padding, ceil_mode, dilation) in enumerate(cases):
            out = tuple(conv_output_size(size, k, s, p, ceil_mode=ceil_mode, dilation=d)
                        for size, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation))
            x = make_data(number, shape, dtype, ties=True)
            geometry = (kernel, stride, padding, out, dilation)
            if number == 0:
                odd = x.copy()
                odd[0, 1, 2, 2] = numpy.nan        # the first NaN wins the window
                odd[1, 2] = -numpy.inf            # windows of -inf report tap (0, 0)
                for actual, expected in zip(pooling.maxpool_forward_cuda(to_device(odd), *geometry),
                                            pooling.maxpool_forward(odd, *geometry)):
                    assert_identical(to_host(actual), expected)
            for pad_value in (0.0, -numpy.inf):
                assert_identical(to_host(im2col_col2im.im2col_cuda(to_device(x), *geometry[:4], pad_value,
                                                                   dilation)),
                                 im2col_col2im.im2col(x, *geometry[:4], pad_value, dilation))
            cols = make_data(number, (shape[1],) + kernel + (shape[0],) + out, dtype, ties=False)
            # col2im: each pixel gathers its entries in tap order: tolerance zero
            assert_identical(to_host(im2col_col2im.col2im_cuda(to_device(cols), shape, kernel,
                                                               stride, padding, dilation)),
                             im2col_col2im.col2im(cols, shape, kernel, stride, padding, dilation))
            y, switches = (to_host(a) for a in pooling.maxpool_forward_cuda(to_device(x), *geometry))
            expected_y, expected_switches = pooling.maxpool_forward(x, *geometry)
            assert_identical(y, expected_y)
            assert_identical(switches, expected_switches)
            assert_identical(to_host(pooling.maxpool_gather_cuda(to_device(x), to_device(switches))),
                             pooling.maxpool_gather(x, switches))
            values = make_data(number + 10, y.shape, dtype, ties=False)
            scattered = to_host(pooling.maxpool_scatter_cuda(to_device(values), to_device(switches),
                                                             shape))
            assert_sums_close(scattered, pooling.maxpool_scatter(values, switches, shape),
                              pooling.maxpool_scatter(numpy.abs(values), switches, shape),
                              pooling.maxpool_scatter(numpy.ones_like(values), switches, shape),
                              dtype)
        check_lrn(to_device, to_host, dtype)


SIMULATOR_SCRIPT = f"""
import sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
import numpy
import test_kernels
test_kernels.check_cuda_twins(numpy.asarray, numpy.asarray)
print("cuda twins agree with the reference under the simulator")
"""


def test_cuda_twins_under_the_simulator():
    """The numba.cuda kernels, run on the CPU by Numba's CUDA simulator.

    NUMBA_ENABLE_CUDASIM must be set before numba is imported, hence the
    subprocess. Tiny shapes: the simulator runs one Python thread per GPU thread.
    """
    pytest.importorskip("numba", reason="the CUDA simulator is part of numba")
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", SIMULATOR_SCRIPT], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cuda_twins_say_why_they_cannot_run():
    """Without a GPU (and without the simulator) calling a CUDA twin raises
    RuntimeError with a reason; the dispatcher would run the reference."""
    if backend.cupy is not None:
        pytest.skip("this machine has a CUDA GPU, so the CUDA twins run")
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    script = ("import sys; sys.path.insert(0, %r)\n"
              "import numpy\n"
              "from minicnn.engine.kernels import compiled, pooling\n"
              "print('reason:', compiled.cuda_reason())\n"
              "try:\n"
              "    pooling.maxpool_forward_cuda(numpy.zeros((1, 1, 2, 2)), (2, 2), (2, 2), (0, 0), (1, 1))\n"
              "except RuntimeError as error:\n    print('RuntimeError:', error)\n" % str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if "RuntimeError" not in result.stdout:
        pytest.skip("numba.cuda finds a GPU here, so the CUDA twins run")
    reason = result.stdout.splitlines()[0][len("reason: "):]
    assert len(reason) > 60, reason
    assert "RuntimeError: a CUDA twin cannot run here: " + reason in result.stdout


# numba.cuda warns that a tiny grid under-uses the GPU; these shapes are tiny on purpose.
quiet_small_grids = pytest.mark.filterwarnings("ignore:Grid size")


@pytest.mark.gpu
@needs_gpu
@quiet_small_grids
def test_cuda_twins_on_a_gpu():
    cupy = backend.cupy
    check_cuda_twins(cupy.asarray, cupy.asnumpy)
    x = cupy.asarray(make_data(0, (2, 3, 8, 8), numpy.float32, ties=False))
    for name, kernel in kernels.KERNELS.items():
        expected = kernel.cuda if kernel.cuda_used else kernel.reference
        assert kernels._pick(name, x) is expected, name


@pytest.mark.gpu
@needs_gpu
@quiet_small_grids
@settings(max_examples=30)
@given(geometries(), dtypes, seeds, st.booleans())
def test_cuda_maxpool_and_col2im_on_drawn_shapes(geometry, dtype, seed, ties):
    cupy = backend.cupy
    x = make_data(seed, geometry.input_shape, dtype, ties)
    arguments = (geometry.kernel, geometry.stride, geometry.padding, geometry.out)
    y, switches = (cupy.asnumpy(a) for a in pooling.maxpool_forward_cuda(cupy.asarray(x), *arguments,
                                                                         geometry.dilation))
    expected_y, expected_switches = pooling.maxpool_forward(x, *arguments, geometry.dilation)
    assert_identical(y, expected_y)
    assert_identical(switches, expected_switches)
    assert_identical(cupy.asnumpy(im2col_col2im.im2col_cuda(cupy.asarray(x), *arguments, 0.0, geometry.dilation)),
                     im2col_col2im.im2col(x, *arguments, 0.0, geometry.dilation))
    cols = make_data(seed, (geometry.input_shape[1],) + geometry.kernel + (geometry.input_shape[0],) + geometry.out, dtype, False)
    col2im_arguments = (geometry.input_shape, geometry.kernel, geometry.stride, geometry.padding, geometry.dilation)
    assert_identical(cupy.asnumpy(im2col_col2im.col2im_cuda(cupy.asarray(cols), *col2im_arguments)),
                     im2col_col2im.col2im(cols, *col2im_arguments))


def test_switches_stay_inside_the_image_when_a_window_holds_only_minus_infinity():
    """Padding wins only when every tap is -inf; the switch is then clipped onto the
    window's first real pixel, so scatter and gather never leave the plane."""
    x = numpy.full((1, 1, 2, 2), -numpy.inf, numpy.float32)
    y, switches = pooling.maxpool_forward(x, (2, 2), (1, 1), (1, 1), (3, 3))
    assert switches.min() >= 0 and switches.max() < 4
    assert switches[0, 0].tolist() == [[0, 0, 1], [0, 0, 1], [2, 2, 3]]
    assert pooling.maxpool_scatter(numpy.ones_like(y), switches, x.shape).sum() == 9
    if backend.numba is not None:
        y_numba, switches_numba = pooling.maxpool_forward_numba(x, (2, 2), (1, 1), (1, 1), (3, 3))
        numpy.testing.assert_array_equal(switches_numba, switches)
        numpy.testing.assert_array_equal(y_numba, y)
