"""Numba-compiled CPU twins of the loops in kernels/reference.py.

Each public function here has the name, arguments and return values of its
twin in ``reference.py`` (read that file first: it has the index formulas
in their plainest form). The work is done by a compiled loop, ``_*_loops``,
that runs over the N*C image planes in parallel (``numba.prange``); a thin
Python wrapper allocates the outputs and passes plain ints.

Why loops at all, when NumPy is already compiled? The reference makes one
pass over the whole batch per filter tap (KH*KW passes for col2im, plus a
padded copy, an argmax along a strided axis, ...). A loop visits each plane
once, while it sits in the cache, and does all the taps there. For im2col
itself the reference's strided slice copies are already close to memory
speed, so the loop gains little there (tinygrad's lesson: measure before
reaching for a kernel); ``FASTER_THAN_REFERENCE`` lists only the kernels
measured faster, and the dispatcher in ``kernels/__init__.py`` uses only
those.

Same numbers as the reference. These loops do the same arithmetic in the
same order, so results agree bit for bit (tests/test_kernels.py checks with
``array_equal``). Sums are added in the reference's order: col2im tap by
tap in row-major order, in the input's dtype; maxpool_scatter in float64 in
the order of the windows (as ``numpy.bincount`` does), then rounded once;
LRN channel by channel in the input's dtype. LRN leaves ``scale ** -beta``
to NumPy: Numba would call the C library's pow once per element, which is
slower than NumPy's vectorised power and may differ from it in the last bit.

Three habits make these loops fast; they are marked where they occur:

* im2col, col2im and the pooling forward index flat (1-D) arrays with
  offsets they compute themselves, written out in their docstrings.
  Indexing ``cols[c, i, j, n, oy, ox]`` multiplies six strides at every
  access, and taking a view such as ``cols[c, i, j, n]`` inside a compiled
  loop counts a reference up and down (atomically) each time. Going flat
  made im2col 1.45x and col2im 1.3x faster at keras-MNIST conv 2 size,
  x (128, 32, 13, 13) (interleaved timing against the previous version).
* Computed indices in the innermost loops are wrapped in ``unsigned(...)``
  (numba.uint64). Numba then knows the index cannot be negative and drops
  its Python-style wrap-around test (``a[-1]`` is the last element), a
  branch on every access that also stops LLVM from vectorising the loop.
  (A loop variable of ``range(n)`` needs no wrapping: LLVM sees it start
  at 0.) The loops only ever form non-negative indices: their ranges are
  clipped to the image first (``_inside``), and switches are checked.
* Comparisons choose with ``value if take else best`` rather than an
  ``if`` block: a select instead of a branch, which random data would
  mispredict about every other window.

Notation as in reference.py: x (N, C, H, W); kernel (KH, KW), stride
(SH, SW), padding (PH, PW), output (OH, OW). In the loops ``plane`` is
``n * C + c``, one (H, W) image: the wrappers pass (N, C, H, W) reshaped to
(N*C, H, W) or flat, views where the array was contiguous.
"""

import numpy

from .availability import numba, numba_reason

if numba is None:
    raise ImportError(f"minicnn.engine.kernels.numba_cpu needs numba: {numba_reason}")

# Numba's default thread pool is OpenMP's (libgomp). How its idle threads
# wait (spin briefly, then sleep) is set for the whole process by
# minicnn/engine/process.py, before libgomp loads: see the measurements there.

prange = numba.prange
unsigned = numba.uint64

# parallel: prange loops run on NUMBA_NUM_THREADS threads; cache: the machine
# code is saved in __pycache__, so only the first run pays for compiling;
# fastmath=False: no reordering of sums, no fused multiply-add, NaN respected.
compiled = numba.njit(parallel=True, cache=True, fastmath=False)

# The kernels measured faster than the reference, and so used by the
# dispatcher on the "numba" backend: all twelve, at batch 128 keras-MNIST and
# batch 32 ZFNet sizes (benchmarks/kernels.py; the figures are in
# benchmarks/results/kernels-cpu.md). On this project's 2-core machine:
# maxpool_forward 5-15x, col2im 6.2-6.5x, maxpool_scatter 3.8-5.0x,
# maxpool_gather 3.8-7.3x, ReLU 2.9-4.0x, im2col 2.3-2.6x, the layout
# kernels 1.7-2.9x, LRN 2.1-2.2x.
FASTER_THAN_REFERENCE = (
    "im2col", "col2im", "maxpool_forward", "maxpool_scatter", "maxpool_gather",
    "lrn_forward", "lrn_backward", "relu_forward", "relu_backward",
    "batch_major", "filter_major", "filter_major_with_sums",
)


# Below these sizes (elements of the first argument) the reference is faster:
# waking Numba's threads costs 40-60 microseconds on this project's 2-core
# machine, more than NumPy needs for a small elementwise pass (ReLU over
# 131,072 floats: NumPy 52/26 us forward/backward, these loops 75/73 us; over
# 346,112 floats: 134/68 against 90/82 us; over 2.8 million: 1,179/689
# against 450/272 us). The windowed kernels do enough work per element to
# win from small sizes on, and have no threshold.
SMALLEST_FASTER = {"relu_forward": 2**19, "relu_backward": 2**19}


def _flat(array):
    """Any array -> 1-D, C-contiguous (a view when it already was)."""
    return numpy.ascontiguousarray(array).reshape(-1)


def _ints(*values):
    """Sizes as plain Python ints (NumPy integers would compile another version)."""
    return tuple(int(value) for value in values)


def _planes(array):
    """(N, C, ...) -> (N*C, ...), C-contiguous (a view when it already was)."""
    array = numpy.ascontiguousarray(array)
    return array.reshape((array.shape[0] * array.shape[1],) + array.shape[2:])


# --------------------------------------------------------------------------
# im2col and its adjoint col2im
# --------------------------------------------------------------------------

@numba.njit(cache=True)
def _inside(out_size, stride, offset, size):
    """(first, end): the window positions o = first .. end-1 for which the tap
    o*stride + offset lands inside 0 .. size-1 (and not in the padding)."""
    first = min(out_size, max(0, (stride - 1 - offset) // stride))  # o*stride + offset >= 0
    end = min(out_size, (size - 1 - offset) // stride + 1)           # o*stride + offset <= size-1
    return first, max(first, end)


@compiled
def _im2col_loops(images, count, channels, height, width, kernel_height, kernel_width,
                  stride_y, stride_x, padding_y, padding_x, out_height, out_width,
                  pad_value, cols):
    """images: (N, C, H, W) -> cols: (C, KH, KW, N, OH, OW), both flat, cols written in place.

        cols[c, i, j, n, oy, ox] = images[n, c, oy*SH + i - PH, ox*SW + j - PW]

    or ``pad_value`` where that row or column lies in the padding. Flat
    offsets (see the module docstring for why):
        images[n, c, y, x]          at ((n*C + c)*H + y)*W + x
        cols[c, i, j, n] (OH x OW)  starts at (((c*KH + i)*KW + j)*N + n) * OH*OW

    The planes (n, c) go channel by channel, and within a channel image by
    image. In cols the N images' blocks for one tap lie one after another,
    so plane (n+1, c) writes each of its KH*KW blocks right after plane
    (n, c)'s: KH*KW straight streams, which the hardware prefetcher follows.
    (Image-fastest order made im2col 1.15x and col2im 1.2-1.3x faster than
    channel-fastest order at keras and ZFNet sizes.)
    """
    window_size = out_height * out_width
    for plane in prange(count * channels):
        c, n = plane // count, plane % count              # image n moves fastest: see below
        image = (n * channels + c) * height * width
        for i in range(kernel_height):
            # rows oy in top .. bottom-1 read the image, the others the padding
            top, bottom = _inside(out_height, stride_y, i - padding_y, height)
            for j in range(kernel_width):
                # columns ox in first .. end-1 read the image, the others the padding
                first, end = _inside(out_width, stride_x, j - padding_x, width)
                window = (((c * kernel_height + i) * kernel_width + j) * count + n) * window_size
                for oy in range(out_height):
                    out = window + oy * out_width                      # cols[c, i, j, n, oy, 0]
                    if oy < top or oy >= bottom:
                        for ox in range(out_width):
                            cols[unsigned(out + ox)] = pad_value
                        continue
                    # images[n, c, oy*SH + i - PH, j - PW]: the tap for ox = 0
                    source = image + (oy * stride_y + i - padding_y) * width + j - padding_x
                    for ox in range(first):
                        cols[unsigned(out + ox)] = pad_value
                    for ox in range(first, end):
                        cols[unsigned(out + ox)] = images[unsigned(source + ox * stride_x)]
                    for ox in range(end, out_width):
                        cols[unsigned(out + ox)] = pad_value


def im2col(x, kernel, stride, padding, out, pad_value=0.0):
    """Unfold every window of x into a column; see reference.im2col.

    x: (N, C, H, W). Returns cols: (C, KH, KW, N, OH, OW), dtype of x.
    """
    (kernel_height, kernel_width), (out_height, out_width) = kernel, out
    n, c, height, width = x.shape
    cols = numpy.empty((c, kernel_height, kernel_width, n, out_height, out_width), dtype=x.dtype)
    _im2col_loops(_flat(x), *_ints(n, c, height, width, kernel_height, kernel_width, *stride,
                                   *padding, out_height, out_width),
                  float(pad_value), cols.reshape(-1))
    return cols


@compiled
def _col2im_loops(cols, count, channels, height, width, kernel_height, kernel_width,
                  stride_y, stride_x, padding_y, padding_x, out_height, out_width, images):
    """cols: (C, KH, KW, N, OH, OW) added into images: (N, C, H, W), both flat.

        images[n, c, oy*SH + i - PH, ox*SW + j - PW] += cols[c, i, j, n, oy, ox]

    Each plane is zeroed here, first (while it is about to be in the cache
    anyway). Entries that land in the padding are dropped. Within a plane the
    taps (i, j) come in row-major order, as in the reference, so every
    pixel's sum is added in the same order: the result is bit for bit the
    reference's. Flat offsets as in _im2col_loops. col2im uses this loop
    for a column stride SW = 1, and _col2im_phased_loops for SW > 1.
    """
    window_size = out_height * out_width
    for plane in prange(count * channels):
        c, n = plane // count, plane % count              # image n moves fastest, as in im2col
        image = (n * channels + c) * height * width
        for pixel in range(height * width):
            images[unsigned(image + pixel)] = 0
        for i in range(kernel_height):
            # only windows oy in top .. bottom-1, ox in first .. end-1 put
            # this tap inside the image; the rest of the tap fell on padding
            top, bottom = _inside(out_height, stride_y, i - padding_y, height)
            for j in range(kernel_width):
                first, end = _inside(out_width, stride_x, j - padding_x, width)
                window = (((c * kernel_height + i) * kernel_width + j) * count + n) * window_size
                for oy in range(top, bottom):
                    column = window + oy * out_width                   # cols[c, i, j, n, oy, 0]
                    target = image + (oy * stride_y + i - padding_y) * width + j - padding_x
                    for ox in range(first, end):
                        images[unsigned(target + ox * stride_x)] += cols[unsigned(column + ox)]


@compiled
def _col2im_phased_loops(cols, count, channels, height, width, kernel_height, kernel_width,
                         stride_y, stride_x, padding_y, padding_x, out_height, out_width,
                         images):
    """_col2im_loops for a column stride SW > 1: the same sums, in the same order.

    There the innermost loop adds one tap's row, cols[c, i, j, n, oy, :], to
    every SW-th pixel of an image row: a store at a stride, which no vector
    instruction does. Here each plane is first gathered into SW "phases",
    phases[r, y, k] standing for pixel (y, k*SW + r); a tap's row then adds
    to a contiguous run of one phase, which the compiler vectorises, and the
    phases are copied into the image at the end. (ZFNet conv1, 7x7 stride 2:
    1.4-1.5x faster. With SW = 1 the phases are the image itself and the copy is
    pure cost, so _col2im_loops does that case.)
    """
    window_size = out_height * out_width
    phase_width = (width + stride_x - 1) // stride_x           # k = 0 .. phase_width-1
    for plane in prange(count * channels):
        c, n = plane // count, plane % count              # image n moves fastest, as in im2col
        image = (n * channels + c) * height * width
        phases = numpy.zeros(stride_x * height * phase_width, dtype=images.dtype)
        for i in range(kernel_height):
            top, bottom = _inside(out_height, stride_y, i - padding_y, height)
            for j in range(kernel_width):
                first, end = _inside(out_width, stride_x, j - padding_x, width)
                window = (((c * kernel_height + i) * kernel_width + j) * count + n) * window_size
                # column ox*SW + j - PW = (ox + skip)*SW + phase
                phase = (j - padding_x) % stride_x
                skip = (j - padding_x - phase) // stride_x
                for oy in range(top, bottom):
                    column = window + oy * out_width                   # cols[c, i, j, n, oy, 0]
                    target = (phase * height + oy * stride_y + i - padding_y) * phase_width + skip
                    for ox in range(first, end):
                        phases[unsigned(target + ox)] += cols[unsigned(column + ox)]
        for y in range(height):
            for x in range(width):
                images[unsigned(image + y * width + x)] = phases[
                    unsigned(((x % stride_x) * height + y) * phase_width + x // stride_x)]


def col2im(cols, input_shape, kernel, stride, padding):
    """Add every column entry back to its pixel; see reference.col2im.

    cols: (C, KH, KW, N, OH, OW). Returns (N, C, H, W) = input_shape, dtype of cols.
    """
    c, kernel_height, kernel_width, n, out_height, out_width = cols.shape
    height, width = input_shape[2], input_shape[3]
    x = numpy.empty(tuple(input_shape), dtype=cols.dtype)
    loops = _col2im_loops if stride[1] == 1 else _col2im_phased_loops
    loops(_flat(cols), *_ints(n, c, height, width, kernel_height, kernel_width, *stride,
                              *padding, out_height, out_width), x.reshape(-1))
    return x


# --------------------------------------------------------------------------
# A convolution's layouts: (F, N*S) <-> (N, F, S), S = OH*OW
# --------------------------------------------------------------------------

@compiled
def _batch_major_loops(y, batch, filters, size, bias, add_bias, out):
    """y: (F, N, S) -> out: (N, F, S), both flat, out written in place.

        out[(n*F + f)*S + s] = y[(f*N + n)*S + s] (+ bias[f] if add_bias)

    Each (n, f) block of S values is one contiguous read and one contiguous
    write; the blocks are shared out among the threads.
    """
    for block in prange(batch * filters):
        n, f = block // filters, block % filters
        source, target = (f * batch + n) * size, block * size
        if add_bias:
            shift = bias[f]
            for s in range(size):
                out[unsigned(target + s)] = y[unsigned(source + s)] + shift
        else:
            for s in range(size):
                out[unsigned(target + s)] = y[unsigned(source + s)]


def batch_major(y, batch, bias=None):
    """(F, N*S) -> (N, F, S), adding the bias; see reference.batch_major."""
    filters = y.shape[0]
    size = y.shape[1] // batch
    out = numpy.empty((batch, filters, size), dtype=y.dtype)
    add_bias = bias is not None
    bias = numpy.ascontiguousarray(bias) if add_bias else numpy.zeros(filters, dtype=y.dtype)
    _batch_major_loops(_flat(y), *_ints(batch, filters, size), bias, add_bias, out.reshape(-1))
    return out


@compiled
def _filter_major_loops(grad, batch, filters, size, out):
    """grad: (N, F, S) -> out: (F, N, S), both flat, out written in place."""
    for block in prange(batch * filters):
        f, n = block // batch, block % batch
        source, target = (n * filters + f) * size, block * size
        for s in range(size):
            out[unsigned(target + s)] = grad[unsigned(source + s)]


def filter_major(grad):
    """(N, F, OH, OW) -> (F, N*OH*OW); see reference.filter_major."""
    batch, filters = grad.shape[:2]
    size = grad.shape[2] * grad.shape[3]
    out = numpy.empty((filters, batch * size), dtype=grad.dtype)
    _filter_major_loops(_flat(grad), *_ints(batch, filters, size), out.reshape(-1))
    return out


@compiled
def _filter_major_sums_loops(grad, batch, filters, size, out, per_pixel):
    """grad: (N, F, S) -> out: (F, N, S), and per_pixel: (F, S) float64 sums over n.

    One filter per task: its N blocks are copied in order and added, in
    float64, into that filter's S running sums (independent lanes, which
    the compiler vectorises): the reference's order, image by image.
    """
    for f in prange(filters):
        sums = f * size
        for s in range(size):
            per_pixel[unsigned(sums + s)] = 0.0
        for n in range(batch):
            source, target = (n * filters + f) * size, (f * batch + n) * size
            for s in range(size):
                value = grad[unsigned(source + s)]
                out[unsigned(target + s)] = value
                per_pixel[unsigned(sums + s)] += value


def filter_major_with_sums(grad):
    """filter_major and the bias gradient in one pass; see reference.filter_major_with_sums."""
    batch, filters = grad.shape[:2]
    size = grad.shape[2] * grad.shape[3]
    out = numpy.empty((filters, batch * size), dtype=grad.dtype)
    per_pixel = numpy.empty((filters, size), dtype=numpy.float64)
    _filter_major_sums_loops(_flat(grad), *_ints(batch, filters, size), out.reshape(-1),
                             per_pixel.reshape(-1))
    return out, per_pixel.sum(axis=1).astype(grad.dtype)   # the last sum is NumPy's, as in the reference


# --------------------------------------------------------------------------
# Max pooling: forward with switches, scatter (backward / unpooling), gather
# --------------------------------------------------------------------------

@numba.njit(cache=True)
def _has_nan(array, start, size):
    """True when array[start : start + size] holds a NaN (NaN != NaN)."""
    found = False
    for k in range(size):
        value = array[unsigned(start + k)]
        found |= value != value
    return found


@compiled
def _maxpool_forward_loops(images, plane_count, height, width, kernel_height, kernel_width,
                           stride_y, stride_x, padding_y, padding_x, out_height, out_width,
                           minus_infinity, maxima, switches):
    """images: (N*C, H, W) -> maxima, switches: (N*C, OH, OW), all flat, written in place.

    Window (oy, ox) covers rows top .. top+KH-1, top = oy*SH - PH, and
    columns left .. left+KW-1, left = ox*SW - PW; its taps are visited in
    row-major order, and one replaces the best so far only if it is strictly
    larger, so ties go to the first maximum (numpy.argmax's rule, which the
    reference uses). switches = row * W + column of the winning tap.

    Padding reads as -inf in the reference. Rather than reading it, the
    loops start every window at "-inf, found at tap (0, 0)" and visit only
    the taps inside the image: the same answer, since a padding tap can win
    only when every tap is -inf, and then the first tap, (0, 0), wins.

    numpy.argmax also counts NaN as larger than anything (the first NaN
    wins), so a NaN input shows in the output. Testing for NaN at every tap
    made this loop three times slower, so it is done only in planes that
    hold a NaN.
    """
    for plane in prange(plane_count):
        image = plane * height * width                                 # images[plane, 0, 0]
        nan_in_plane = _has_nan(images, image, height * width)
        for oy in range(out_height):
            top = oy * stride_y - padding_y
            row_start, row_end = max(0, top), min(height, top + kernel_height)
            out = (plane * out_height + oy) * out_width                # maxima[plane, oy, 0]
            for ox in range(out_width):
                left = ox * stride_x - padding_x
                column_start, column_end = max(0, left), min(width, left + kernel_width)
                best_value = minus_infinity
                best_index = row_start * width + column_start  # tap (0, 0), clipped into the image
                for row in range(row_start, row_end):
                    for column in range(column_start, column_end):
                        index = row * width + column
                        value = images[unsigned(image + index)]
                        take = value > best_value or (
                            nan_in_plane and value != value and best_value == best_value)
                        best_value = value if take else best_value
                        best_index = index if take else best_index
                maxima[unsigned(out + ox)] = best_value
                switches[unsigned(out + ox)] = best_index


def maxpool_forward(x, kernel, stride, padding, out):
    """Window maxima and their switches; see reference.maxpool_forward.

    x: (N, C, H, W). Returns y: (N, C, OH, OW), dtype of x, and
    switches: (N, C, OH, OW), int64 flat indices ``row * W + column``.
    """
    (kernel_height, kernel_width), (out_height, out_width) = kernel, out
    n, c, height, width = x.shape
    y = numpy.empty((n, c, out_height, out_width), dtype=x.dtype)
    switches = numpy.empty((n, c, out_height, out_width), dtype=numpy.int64)
    _maxpool_forward_loops(_flat(x), *_ints(n * c, height, width, kernel_height, kernel_width,
                                            *stride, *padding, out_height, out_width),
                           x.dtype.type(-numpy.inf), y.reshape(-1), switches.reshape(-1))
    return y, switches


@compiled
def _maxpool_scatter_loops(values, switches, planes, out_of_range):
    """values, switches: (N*C, OH*OW) -> planes: (N*C, H*W), written in place.

        planes[plane, switches[plane, k]] += values[plane, k]

    Summed in float64 and rounded once at the end, visiting k in order: the
    arithmetic of numpy.bincount in the reference, so the result is bit for
    bit the same. Switches outside 0 .. H*W-1 are skipped and counted in
    out_of_range[plane] (the wrapper raises).
    """
    plane_count, pixel_count = planes.shape
    window_count = values.shape[1]
    for plane in prange(plane_count):
        sums = numpy.zeros(pixel_count, dtype=numpy.float64)
        for k in range(window_count):
            where = switches[plane, k]
            if 0 <= where < pixel_count:
                sums[unsigned(where)] += values[plane, k]
            else:
                out_of_range[plane] += 1
        for where in range(pixel_count):
            planes[plane, where] = sums[where]


def _check_switches(out_of_range, pixel_count, function):
    """Raise ValueError, in words, if any switch fell outside its plane."""
    bad = int(out_of_range.sum())
    if bad:
        raise ValueError(
            f"{function}: {bad} switches are not flat indices into the H*W = {pixel_count} "
            f"pixels of a plane (they must lie in 0 .. {pixel_count - 1}); were they made "
            "by maxpool_forward for an input of this shape?"
        )


def maxpool_scatter(values, switches, input_shape):
    """Put each value back at its switch position; see reference.maxpool_scatter.

    values, switches: (N, C, OH, OW). Returns (N, C, H, W) = input_shape,
    dtype of values; values sharing a switch add up.
    """
    n, c, height, width = input_shape
    x = numpy.empty((n, c, height, width), dtype=values.dtype)
    out_of_range = numpy.zeros(n * c, dtype=numpy.int64)
    _maxpool_scatter_loops(_planes(values).reshape(n * c, -1),
                           _planes(switches.astype(numpy.int64, copy=False)).reshape(n * c, -1),
                           x.reshape(n * c, height * width), out_of_range)
    _check_switches(out_of_range, height * width, "maxpool_scatter")
    return x


@compiled
def _maxpool_gather_loops(planes, switches, out, out_of_range):
    """planes: (N*C, H*W), switches: (N*C, OH*OW) -> out: (N*C, OH*OW).

        out[plane, k] = planes[plane, switches[plane, k]]

    Switches outside 0 .. H*W-1 give 0 and are counted in out_of_range[plane].
    """
    plane_count, pixel_count = planes.shape
    window_count = switches.shape[1]
    for plane in prange(plane_count):
        for k in range(window_count):
            where = switches[plane, k]
            if 0 <= where < pixel_count:
                out[plane, k] = planes[plane, unsigned(where)]
            else:
                out[plane, k] = 0
                out_of_range[plane] += 1


def maxpool_gather(x, switches):
    """Read x at the switch positions; see reference.maxpool_gather.

    x: (N, C, H, W); switches: (N, C, OH, OW). Returns (N, C, OH, OW), dtype of x.
    """
    n, c, height, width = x.shape
    out = numpy.empty(switches.shape, dtype=x.dtype)
    out_of_range = numpy.zeros(n * c, dtype=numpy.int64)
    _maxpool_gather_loops(_planes(x).reshape(n * c, height * width),
                          _planes(switches.astype(numpy.int64, copy=False)).reshape(n * c, -1),
                          out.reshape(n * c, -1), out_of_range)
    _check_switches(out_of_range, height * width, "maxpool_gather")
    return out


# --------------------------------------------------------------------------
# ReLU: forward with its mask, backward
# --------------------------------------------------------------------------

# One pass each instead of NumPy's two (the comparison, then the product or
# maximum, each a trip through memory): about 2.5x faster on a conv layer's
# output. Parallel over the elements, in chunks that Numba splits evenly.

@compiled
def _relu_forward_loops(x, y, positive):
    """x -> y = max(0, x), positive = x > 0; all flat, written in place.

    NaN stays NaN (``value != value``), as numpy.maximum keeps it.
    """
    for k in prange(x.size):
        value = x[k]
        keep = value > 0
        positive[k] = keep
        y[k] = value if keep or value != value else 0


def relu_forward(x):
    """max(0, x) and the mask x > 0; see reference.relu_forward."""
    y = numpy.empty_like(x, order="C")
    positive = numpy.empty(x.shape, dtype=numpy.bool_)
    _relu_forward_loops(_flat(x), y.reshape(-1), positive.reshape(-1))
    return y, positive


@compiled
def _relu_backward_loops(grad_y, positive, zero, grad_x):
    """grad_x = grad_y * positive; all flat, written in place.

    Where the mask is False the product is grad_y * 0, not a plain 0, so
    an infinite or NaN gradient gives NaN exactly as the reference's product.
    """
    for k in prange(grad_y.size):
        value = grad_y[k]
        grad_x[k] = value if positive[k] else value * zero


def relu_backward(grad_y, positive):
    """The gradient where x > 0, else 0; see reference.relu_backward."""
    grad_x = numpy.empty_like(grad_y, order="C")
    _relu_backward_loops(_flat(grad_y), _flat(positive), grad_y.dtype.type(0), grad_x.reshape(-1))
    return grad_x


# --------------------------------------------------------------------------
# Local response normalization (AlexNet 3.3): forward and backward
# --------------------------------------------------------------------------

# The window sums are loops; the power scale ** -beta is left to NumPy, the
# same expression as in the reference: its vectorised power is faster than
# calling the C library's pow once per element, and it gives the same bits.

@compiled
def _lrn_scale_loops(x, size, alpha_over_size, k, scale):
    """x: (N, C, H*W) -> scale: (N, C, H*W), written in place.

        scale[n, c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[n, c']^2

    Channels outside 0..C-1 are left out (the reference adds zeros there,
    which changes no sum). The scalars come in x's dtype, so float32 inputs
    are computed in float32 throughout, like the reference.
    """
    batch, channels, pixel_count = x.shape
    before, after = size // 2, (size - 1) // 2
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        # scale[n, c] first collects the sum of squares, channel by channel
        for p in range(pixel_count):
            scale[n, c, p] = 0
        for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
            for p in range(pixel_count):
                scale[n, c, p] += x[n, neighbour, p] * x[n, neighbour, p]
        for p in range(pixel_count):
            scale[n, c, p] = k + alpha_over_size * scale[n, c, p]


def lrn_forward(x, size, alpha, beta, k):
    """Local response normalization across channels; see reference.lrn_forward.

    x: (N, C, H, W). Returns (y, scale), both (N, C, H, W), dtype of x.
    """
    x = numpy.ascontiguousarray(x)
    n, c, height, width = x.shape
    as_dtype = x.dtype.type
    scale = numpy.empty_like(x)
    _lrn_scale_loops(x.reshape(n, c, height * width), int(size), as_dtype(alpha / size),
                     as_dtype(k), scale.reshape(n, c, height * width))
    return x * scale ** -beta, scale


@compiled
def _lrn_backward_loops(grad_y, x, y, scale, scale_to_minus_beta, size, coefficient, grad_x):
    """All arrays (N, C, H*W); grad_x written in place.

        ratio[c']   = grad_y[c'] * y[c'] / scale[c']
        mirrored[c] = sum_{c' = c - (size-1)//2}^{c + size//2} ratio[c']
        grad_x[c]   = grad_y[c] * scale[c] ** -beta - (2 alpha beta / size) * x[c] * mirrored[c]

    coefficient = 2 alpha beta / size, in the arrays' dtype.
    """
    batch, channels, pixel_count = x.shape
    before, after = (size - 1) // 2, size // 2
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        # grad_x[n, c] first collects the mirrored window sum of the ratios
        for p in range(pixel_count):
            grad_x[n, c, p] = 0
        for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
            for p in range(pixel_count):
                grad_x[n, c, p] += (grad_y[n, neighbour, p] * y[n, neighbour, p]
                                    / scale[n, neighbour, p])
        for p in range(pixel_count):
            grad_x[n, c, p] = (grad_y[n, c, p] * scale_to_minus_beta[n, c, p]
                               - coefficient * x[n, c, p] * grad_x[n, c, p])


def lrn_backward(grad_y, x, y, scale, size, alpha, beta):
    """Gradient of LRN with respect to x; see reference.lrn_backward.

    All arrays (N, C, H, W). Returns grad_x: (N, C, H, W), dtype of grad_y.
    """
    grad_y, x, y, scale = (numpy.ascontiguousarray(a) for a in (grad_y, x, y, scale))
    n, c, height, width = x.shape
    grad_x = numpy.empty_like(grad_y)
    flat = (n, c, height * width)
    _lrn_backward_loops(grad_y.reshape(flat), x.reshape(flat), y.reshape(flat),
                        scale.reshape(flat), (scale ** -beta).reshape(flat), int(size),
                        grad_y.dtype.type(2.0 * alpha * beta / size), grad_x.reshape(flat))
    return grad_x
