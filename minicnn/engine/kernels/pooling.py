"""Max pooling: the forward pass with its switches, their scatter, and their gather.

    maxpool_forward   window maxima, and where each one sat (the "switches")
    maxpool_scatter   each value put back at its switch: the backward pass of
                      max pooling, and ZFNet's unpooling (section 2.1)
    maxpool_gather    the input read at the switches: the adjoint of the scatter

In this file: the plain-array references (read these to learn), then their
Numba twins (``*_numba``), then their CUDA twins (``*_cuda``). What the
twins share, and why they look as they do, is explained in
kernels/compiled.py; which of them run, and when, in kernels/__init__.py.
Notation as in kernels/compiled.py: x (N, C, H, W); kernel (KH, KW),
stride (SH, SW), padding (PH, PW), dilation (DH, DW), output (OH, OW).
Tap (i, j) of window (oy, ox) reads pixel (oy*SH + i*DH - PH, ox*SW + j*DW - PW).

The Numba forward twin has four loops, chosen per call by the windows:
every tap inside (``_maxpool_inside_loops``; 2x2 windows written out,
``_maxpool_2x2_loops``), 3x3 windows with stride 2 and some clipped
(``_maxpool_3x3_stride2_loops``, ZFNet's ceil-mode pools), and any other
(``_maxpool_forward_loops``). All four give the reference's numbers.

Switches are flat indices ``row * W + column`` into one (H, W) plane. The
forward pass only ever makes switches inside the plane (a window of padding
and -inf reports its first real pixel), so the scatter and the gather never
leave it; the Numba twins still check, and raise on a switch from elsewhere.

Same numbers as the reference: the forward twins visit the taps in the
reference's order with its tie rule, and the gather copies. The scatter
adds, in float64, the values that share a switch, then rounds once: the
Numba twin in window order, as ``numpy.bincount`` in the reference does, so
bit for bit; the CUDA twin with atomic additions, whose order varies from
run to run, so it agrees to float64 rounding before the final cast (see
tests/test_kernels.py).
"""

import numpy

from ..backend import get_array_module
from . import im2col_col2im
from .relu import relu_in_place
from .. import buffers
from .compiled import (cuda, cuda_kernel, flat, ints, launch, numba_helper, numba_loop, planes,
                       SHARE_FROM_BYTES_COMPUTING, share_out,
                       unsigned)


# ==========================================================================
# References (NumPy or CuPy)
# ==========================================================================

def maxpool_forward(x, kernel, stride, padding, out, dilation=(1, 1)):
    """Max over each window, and where it was (the "switches").

    x: (N, C, H, W). Returns
        y:        (N, C, OH, OW)  the window maxima
        switches: (N, C, OH, OW)  int64, flat index ``row * W + col`` into the
                  H*W plane of ``x`` where each maximum sits (ZFNet 2.1).
    Padding counts as -inf, so it never wins over a real value. Ties go to the first maximum
    in row-major window order (``argmax`` returns the first). A window whose
    taps are all -inf or padding reports its tap (0, 0), clipped into the image.
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow), (dh, dw) = kernel, stride, padding, out, dilation
    n, c, h, w = x.shape
    cols = im2col_col2im.im2col(x, kernel, stride, padding, out, pad_value=-xp.inf, dilation=dilation)
    cols = cols.reshape(c, kh * kw, n, oh, ow).transpose(2, 0, 1, 3, 4)   # (N, C, KH*KW, OH, OW)
    tap = cols.argmax(axis=2)                                   # 0 .. KH*KW-1
    y = xp.take_along_axis(cols, tap[:, :, None], axis=2)[:, :, 0]
    # tap (i, j) of window (oy, ox) is row oy*SH - PH + i*DH, column ox*SW - PW + j*DW
    # of x. Padding wins only when every tap is -inf (then argmax picks tap 0):
    # clipping moves that switch onto a real pixel, so it never leaves the image.
    rows = xp.clip(xp.arange(oh).reshape(oh, 1) * sh - ph + (tap // kw) * dh, 0, h - 1)
    columns = xp.clip(xp.arange(ow).reshape(1, ow) * sw - pw + (tap % kw) * dw, 0, w - 1)
    switches = (rows * w + columns).astype(xp.int64)
    return y, switches


def maxpool_scatter(values, switches, input_shape):
    """Put each value back at its switch position; values sharing one add up.

    values, switches: (N, C, OH, OW); input_shape = (N, C, H, W).
    Returns (N, C, H, W), zero except at switch positions. This is both the
    backward pass of max pooling (the gradient flows only to the maximum)
    and ZFNet's unpooling. Where overlapping windows picked the same pixel,
    their values add: unpooling is the adjoint of pooling.
    """
    xp = get_array_module(values)
    n, c, h, w = input_shape
    plane = xp.arange(n * c, dtype=xp.int64).reshape(n, c, 1, 1) * (h * w)
    flat_switches = (switches + plane).ravel()
    summed = xp.bincount(flat_switches, weights=values.ravel(), minlength=n * c * h * w)
    return summed.astype(values.dtype).reshape(n, c, h, w)


def maxpool_gather(x, switches):
    """Read ``x`` at the switch positions: the adjoint of maxpool_scatter.

    x: (N, C, H, W); switches: (N, C, OH, OW). Returns (N, C, OH, OW) with
    out[n, c, oy, ox] = x[n, c].flat[switches[n, c, oy, ox]].
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    flat_x = x.reshape(n, c, h * w)
    windows = switches.shape[2] * switches.shape[3]               # OH*OW, named: N*C may be 0
    return xp.take_along_axis(flat_x, switches.reshape(n, c, windows), axis=2).reshape(switches.shape)


# ==========================================================================
# Numba twins (CPU)
# ==========================================================================

@numba_helper
def _has_nan(array, start, size):
    """True when array[start : start + size] holds a NaN (NaN != NaN)."""
    found = False
    for k in range(size):
        value = array[unsigned(start + k)]
        found |= value != value
    return found


@numba_helper
def _replaces(value, best_value, nan_in_plane):
    """Whether a window's next tap replaces the best so far: it is strictly larger, or, in a
    plane that holds a NaN, it is the window's first NaN (numpy.argmax's rule). The test of
    nan_in_plane is the same in every window, so the compiler hoists it out of the loops."""
    if nan_in_plane:
        return value > best_value or (value != value and best_value == best_value)
    return value > best_value


@numba_helper
def _keep_larger(value, index, best_value, best_index, nan_in_plane):
    """(best_value, best_index) after a window's next tap (value, index): the tap if it
    replaces the best so far (_replaces), else the best so far; chosen with selects, not
    branches, which random data would mispredict about every other tap."""
    take = _replaces(value, best_value, nan_in_plane)
    return (value if take else best_value), (index if take else best_index)


@numba_loop
def _maxpool_forward_loops(images, plane_count, height, width, stride_y, stride_x,
                           padding_y, padding_x, dilation_y, dilation_x, row_taps, column_taps,
                           minus_infinity, maxima, switches, first, last):
    """images: (N*C, H, W) -> maxima, switches: (N*C, OH, OW), all flat, written in place.

    Window (oy, ox) has its taps on rows top + i*DH, top = oy*SH - PH, and
    columns left + j*DW, left = ox*SW - PW (i < KH, j < KW); they are visited
    in row-major order, and one replaces the best so far only if it is strictly
    larger, so ties go to the first maximum (numpy.argmax's rule, which the
    reference uses). switches = row * W + column of the winning tap.

    Padding reads as -inf in the reference. Rather than reading it, the
    loops start every window at "-inf, found at tap (0, 0)" (clipped into
    the image, as the reference clips) and visit only the taps inside the
    image: the same answer, since a padding tap can win only when every tap
    is -inf, and then the first tap wins. Those taps are i in
    row_taps[oy, 0] .. row_taps[oy, 1]-1 and j in column_taps[ox, 0] ..
    column_taps[ox, 1]-1 (see _taps_inside), worked out once per call, not
    once per window: a division per window would cost more than the window.

    numpy.argmax also counts NaN as larger than anything (the first NaN
    wins), so a NaN input shows in the output. Testing for NaN at every tap
    would slow every window down for a case that training should never
    meet, so it is done only in planes that hold a NaN.
    """
    out_height, out_width = row_taps.shape[0], column_taps.shape[0]
    for plane in range(first, last):   # of plane_count: this thread's share
        image = plane * height * width                                 # images[plane, 0, 0]
        nan_in_plane = _has_nan(images, image, height * width)
        for oy in range(out_height):
            top = oy * stride_y - padding_y
            first_row, end_row = row_taps[oy, 0], row_taps[oy, 1]
            clipped_top = min(max(top, 0), height - 1)
            out = (plane * out_height + oy) * out_width                # maxima[plane, oy, 0]
            for ox in range(out_width):
                left = ox * stride_x - padding_x
                first_column, end_column = column_taps[ox, 0], column_taps[ox, 1]
                best_value = minus_infinity
                # tap (0, 0), clipped into the image
                best_index = clipped_top * width + min(max(left, 0), width - 1)
                for i in range(first_row, end_row):
                    row = top + i * dilation_y
                    for j in range(first_column, end_column):
                        index = row * width + left + j * dilation_x
                        best_value, best_index = _keep_larger(images[unsigned(image + index)], index,
                                                              best_value, best_index, nan_in_plane)
                maxima[unsigned(out + ox)] = best_value
                switches[unsigned(out + ox)] = best_index


@numba_loop
def _maxpool_inside_loops(images, height, width, stride_y, stride_x, dilation_y, dilation_x,
                          kernel_height, kernel_width, out_height, out_width, maxima, switches,
                          first, last):
    """_maxpool_forward_loops where every tap of every window lies inside the image
    (no padding, and the last window ends inside: see ``all_taps_inside``).

    Then no tap needs clipping, and a window starts from its first tap's
    value rather than from -inf: the same maximum and the same switch (a
    later tap replaces the best only if strictly larger, or, in a plane
    with a NaN, if it is the first NaN), with less work per window.

    Dilation 1 (every pool but a dilated one) is passed to the plane's loops
    as the constant 1 rather than as a variable: the compiler then knows
    that a window row's taps are neighbours, which made this loop faster
    (benchmarks/README.md, "Max-pool loops that know their dilation"; the
    general loop above, whose windows have bounds of their own, did not gain).
    """
    if kernel_height == 2 and kernel_width == 2 and dilation_y == 1 and dilation_x == 1:
        _maxpool_2x2_loops(images, height, width, stride_y, stride_x, out_height, out_width,
                           maxima, switches, first, last)
        return
    for plane in range(first, last):   # of N*C: this thread's share
        image = plane * height * width                                 # images[plane, 0, 0]
        out = plane * out_height * out_width                           # maxima[plane, 0, 0]
        nan_in_plane = _has_nan(images, image, height * width)
        if dilation_y == 1 and dilation_x == 1:                        # known to the compiler: see above
            _maxpool_plane_inside(images, image, width, stride_y, stride_x, 1, 1, kernel_height,
                                  kernel_width, out_height, out_width, maxima, switches, out,
                                  nan_in_plane)
        else:
            _maxpool_plane_inside(images, image, width, stride_y, stride_x, dilation_y, dilation_x,
                                  kernel_height, kernel_width, out_height, out_width, maxima,
                                  switches, out, nan_in_plane)


@numba_helper
def _maxpool_plane_inside(images, image, width, stride_y, stride_x, dilation_y, dilation_x,
                          kernel_height, kernel_width, out_height, out_width, maxima, switches,
                          out_first, nan_in_plane):
    """_maxpool_inside_loops for one plane, which starts at images[image] and maxima[out_first]."""
    for oy in range(out_height):
        top = oy * stride_y
        out = out_first + oy * out_width                               # maxima[plane, oy, 0]
        for ox in range(out_width):
            left = ox * stride_x
            best_index = top * width + left                            # tap (0, 0)
            best_value = images[unsigned(image + best_index)]
            for i in range(kernel_height):
                row = (top + i * dilation_y) * width + left
                for j in range(kernel_width):
                    index = row + j * dilation_x
                    best_value, best_index = _keep_larger(images[unsigned(image + index)], index,
                                                          best_value, best_index, nan_in_plane)
            maxima[unsigned(out + ox)] = best_value
            switches[unsigned(out + ox)] = best_index


@numba_helper
def _maxpool_2x2_loops(images, height, width, stride_y, stride_x, out_height, out_width, maxima,
                       switches, first, last):
    """_maxpool_inside_loops for a 2x2 window (keras-MNIST's, VGG's), its four taps written out.

    The same taps in the same order and the same rule, so the same numbers.
    Written out, the compiler knows there are four: no loops over i and j,
    and no row offset computed per tap (the four are 0, 1, W and W + 1 past
    the first), which made this loop several times faster than the general
    one (benchmarks/README.md, "What each change bought": max-pool with 2x2
    windows).
    """
    for plane in range(first, last):   # of N*C: this thread's share
        image = plane * height * width                                 # images[plane, 0, 0]
        nan_in_plane = _has_nan(images, image, height * width)
        for oy in range(out_height):
            top = oy * stride_y * width
            out = (plane * out_height + oy) * out_width                # maxima[plane, oy, 0]
            for ox in range(out_width):
                best_index = top + ox * stride_x                       # tap (0, 0)
                best_value = images[unsigned(image + best_index)]
                for index in (best_index + 1, best_index + width, best_index + width + 1):
                    best_value, best_index = _keep_larger(images[unsigned(image + index)], index,
                                                          best_value, best_index, nan_in_plane)
                maxima[unsigned(out + ox)] = best_value
                switches[unsigned(out + ox)] = best_index


@numba_helper
def _first_larger(value, tap, best_value, best_tap):
    """(best_value, best_tap) after the next tap: numpy.argmax's rule (strictly larger, or the
    first NaN), with NaN tested at every tap (a select, not a branch: see _maxpool_3x3_stride2_loops)."""
    take = (value > best_value) | ((value != value) & (best_value == best_value))
    return (value if take else best_value), (tap if take else best_tap)


@numba_loop
def _maxpool_3x3_stride2_loops(images, height, width, padding_y, padding_x, out_height, out_width,
                               maxima, switches, first, last):
    """Max pooling with 3x3 windows, stride 2 (AlexNet's and ZFNet's overlapping pool), any
    padding, ceil_mode or not: the numbers of _maxpool_forward_loops, bit for bit.

    A window row's taps sit at columns 2*ox + 0, 1, 2: no loop over the windows of a row
    runs over neighbouring values, so the loops above visit one window at a time. Here each
    plane is first copied into two arrays with a border of -inf, its even rows in one and its
    odd rows in the other, each row ``pitch`` (even) long. Window (oy, ox) then starts at
    2*q in the even rows, q = oy*pitch/2 + ox, and its nine taps are

        even[2q + j], odd[2q + j], even[2q + pitch + j]      j = 0, 1, 2 (rows 2*oy, +1, +2)

    one formula for every window of the plane, which the compiler turns into vector
    instructions over q (positions q whose ox >= OW are computed and dropped). The taps
    are visited in row-major order under numpy.argmax's rule, from the first tap, -inf
    where it is padding; a padding tap (-inf, never NaN) never replaces the best, so the
    maximum is the reference's, and the winning tap gives the switch, clipped into the
    image as the reference clips its start (which only a window of -inf keeps).
    """
    pitch = max(width + padding_x, 2 * out_width + 2)
    pitch += pitch % 2
    half = pitch // 2
    row_count = max(out_height + 2, (height + padding_y) // 2 + 1)        # rows of each array
    rows = numpy.full(2 * row_count * pitch, -numpy.inf, dtype=images.dtype)   # even, then odd
    odd = row_count * pitch
    count = (out_height - 1) * half + out_width
    best = numpy.empty(count, dtype=images.dtype)
    taps = numpy.empty(count, dtype=numpy.int64)
    for plane in range(first, last):   # of N*C: this thread's share
        image = plane * height * width
        for y in range(height):
            row = y + padding_y
            target = (row % 2) * odd + (row // 2) * pitch + padding_x
            for x in range(width):
                rows[unsigned(target + x)] = images[unsigned(image + y * width + x)]
        for q in range(count):                                     # vector instructions
            at = 2 * q
            value, tap = rows[unsigned(at)], 0
            value, tap = _first_larger(rows[unsigned(at + 1)], 1, value, tap)
            value, tap = _first_larger(rows[unsigned(at + 2)], 2, value, tap)
            value, tap = _first_larger(rows[unsigned(odd + at)], 3, value, tap)
            value, tap = _first_larger(rows[unsigned(odd + at + 1)], 4, value, tap)
            value, tap = _first_larger(rows[unsigned(odd + at + 2)], 5, value, tap)
            value, tap = _first_larger(rows[unsigned(at + pitch)], 6, value, tap)
            value, tap = _first_larger(rows[unsigned(at + pitch + 1)], 7, value, tap)
            value, tap = _first_larger(rows[unsigned(at + pitch + 2)], 8, value, tap)
            best[q], taps[q] = value, tap
        out = plane * out_height * out_width
        for oy in range(out_height):
            for ox in range(out_width):
                q = oy * half + ox
                i = taps[q] // 3
                y = min(max(2 * oy + i - padding_y, 0), height - 1)
                x = min(max(2 * ox + taps[q] - 3 * i - padding_x, 0), width - 1)
                maxima[unsigned(out + oy * out_width + ox)] = best[q]
                switches[unsigned(out + oy * out_width + ox)] = y * width + x


def three_by_three_stride_two(kernel, stride, dilation):
    """Whether _maxpool_3x3_stride2_loops can pool these windows (any padding, ceil_mode or
    not). It takes them where some window is clipped (padding, ceil_mode), in place of
    _maxpool_forward_loops; where every tap is inside, _maxpool_inside_loops stays, as fast
    on 13x13 planes and faster on 7x7 ones (benchmarks/README.md, "3x3 max pooling with
    stride 2")."""
    return tuple(kernel) == (3, 3) and tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)


def all_taps_inside(size, kernel, stride, padding, dilation, out):
    """True when no window along this axis has a tap in the padding or past the edge."""
    return padding == 0 and (out - 1) * stride + dilation * (kernel - 1) < size


def _taps_inside(out, kernel, stride, padding, dilation, size):
    """(OUT, 2) int64: for each window o along one axis, the taps t = first .. end-1
    whose pixel o*S - P + t*D lies inside 0 .. size-1 (the others are padding)."""
    start = numpy.arange(out, dtype=numpy.int64) * stride - padding     # tap 0 of each window
    first = numpy.clip((dilation - 1 - start) // dilation, 0, kernel)   # start + t*D >= 0
    end = numpy.clip((size - 1 - start) // dilation + 1, 0, kernel)     # start + t*D <= size-1
    return numpy.stack([first, numpy.maximum(first, end)], axis=1)


def chunk_pooler(size, pool, dtype):
    """pool_planes(images, pooled, switches, first, count, positive=None): max-pools
    ``count`` planes of (H, W) = ``size`` in images (count, H, W), flat, into pooled and
    switches (flat, from plane ``first`` on), with maxpool_forward_numba's loops and
    numbers. pool: (kernel, stride, padding, dilation, pooled size), (h, w) pairs. For the
    routes that pool a convolution's output a chunk of images at a time (convolution.py,
    pooled_product.py, direct_pool.py).

    positive (flat bool, like pooled), when given: a ReLU follows the pool. The planes'
    maxima, just written and still in the cache, become max(0, maximum) in place, and
    positive = maximum > 0 (relu.py's relu_in_place: relu_forward's numbers and mask).
    """
    pool_only = _plane_pooler(size, pool, dtype)
    windows = pool[4][0] * pool[4][1]

    def pool_planes(images, pooled, switches, first, count, positive=None):
        part = slice(first * windows, (first + count) * windows)
        pool_only(images, pooled[part], switches[part], count)
        if positive is not None:
            relu_in_place(pooled[part], positive[part])
    return pool_planes


def _plane_pooler(size, pool, dtype):
    """pool_only(images, pooled, switches, count): chunk_pooler's pooling of ``count``
    planes into pooled and switches (flat, the planes' part only), by the loop that fits."""
    kernel, stride, padding, dilation, pooled_size = pool
    if all(all_taps_inside(size[axis], kernel[axis], stride[axis], padding[axis], dilation[axis],
                           pooled_size[axis]) for axis in (0, 1)):
        settings = ints(*size, *stride, *dilation, *kernel, *pooled_size)

        def pool_only(images, pooled, switches, count):
            _maxpool_inside_loops(images, *settings, pooled, switches, 0, count)
        return pool_only
    if three_by_three_stride_two(kernel, stride, dilation):
        settings = ints(*size, *padding, *pooled_size)

        def pool_only(images, pooled, switches, count):
            _maxpool_3x3_stride2_loops(images, *settings, pooled, switches, 0, count)
        return pool_only
    row_taps = _taps_inside(pooled_size[0], kernel[0], stride[0], padding[0], dilation[0], size[0])
    column_taps = _taps_inside(pooled_size[1], kernel[1], stride[1], padding[1], dilation[1], size[1])
    settings = ints(*size, *stride, *padding, *dilation)
    minus_infinity = numpy.dtype(dtype).type(-numpy.inf)

    def pool_only(images, pooled, switches, count):
        _maxpool_forward_loops(images, count, *settings, row_taps, column_taps, minus_infinity,
                               pooled, switches, 0, count)
    return pool_only


def maxpool_forward_numba(x, kernel, stride, padding, out, dilation=(1, 1)):
    """Numba twin of ``maxpool_forward``, equal to it bit for bit (maxima and switches).

    x: (N, C, H, W). Returns y: (N, C, OH, OW), dtype of x, and
    switches: (N, C, OH, OW), int64 flat indices ``row * W + column``.
    """
    out_height, out_width = out
    n, c, height, width = x.shape
    y = buffers.empty((n, c, out_height, out_width), x.dtype)
    switches = buffers.empty((n, c, out_height, out_width), numpy.int64)
    if (all_taps_inside(height, kernel[0], stride[0], padding[0], dilation[0], out_height)
            and all_taps_inside(width, kernel[1], stride[1], padding[1], dilation[1], out_width)):
        share_out(_maxpool_inside_loops, n * c, flat(x),
                  *ints(height, width, *stride, *dilation, *kernel, out_height, out_width),
                  y.reshape(-1), switches.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
        return y, switches
    if three_by_three_stride_two(kernel, stride, dilation):              # some windows clipped
        share_out(_maxpool_3x3_stride2_loops, n * c, flat(x), *ints(height, width, *padding, *out),
                  y.reshape(-1), switches.reshape(-1), share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
        return y, switches
    row_taps = _taps_inside(out_height, kernel[0], stride[0], padding[0], dilation[0], height)
    column_taps = _taps_inside(out_width, kernel[1], stride[1], padding[1], dilation[1], width)
    share_out(_maxpool_forward_loops, n * c, flat(x),
              *ints(n * c, height, width, *stride, *padding, *dilation),
              row_taps, column_taps, x.dtype.type(-numpy.inf), y.reshape(-1), switches.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return y, switches


@numba_loop
def _maxpool_scatter_loops(values, switches, pixels, out_of_range, first, last):
    """values, switches: (N*C, OH*OW) -> pixels: (N*C, H*W), written in place.

        pixels[plane, switches[plane, k]] += values[plane, k]

    Summed in float64 and rounded once at the end, visiting k in order: the
    arithmetic of numpy.bincount in the reference, so the result is bit for
    bit the same. Switches outside 0 .. H*W-1 are skipped and counted in
    out_of_range[plane] (the wrapper raises).
    """
    plane_count, pixel_count = pixels.shape
    window_count = values.shape[1]
    for plane in range(first, last):   # of plane_count: this thread's share
        sums = numpy.zeros(pixel_count, dtype=numpy.float64)
        for k in range(window_count):
            pixel = switches[plane, k]
            if 0 <= pixel < pixel_count:
                sums[unsigned(pixel)] += values[plane, k]
            else:
                out_of_range[plane] += 1
        for pixel in range(pixel_count):
            pixels[plane, pixel] = sums[pixel]


def _check_switches(out_of_range, pixel_count, function):
    """Raise ValueError, in words, if any switch fell outside its plane."""
    bad = int(out_of_range.sum())
    if bad:
        raise ValueError(
            f"{function}: {bad} switches are not flat indices into the H*W = {pixel_count} "
            f"pixels of a plane (they must lie in 0 .. {pixel_count - 1}); were they made "
            "by maxpool_forward for an input of this shape?"
        )


def maxpool_scatter_numba(values, switches, input_shape):
    """Numba twin of ``maxpool_scatter``, equal to it bit for bit.

    values, switches: (N, C, OH, OW). Returns (N, C, H, W) = input_shape,
    dtype of values; values sharing a switch add up. Raises ValueError for
    a switch outside its plane.
    """
    n, c, height, width = input_shape
    x = buffers.empty((n, c, height, width), values.dtype)
    out_of_range = numpy.zeros(n * c, dtype=numpy.int64)
    windows = values.shape[2] * values.shape[3]       # OH*OW, named: N*C may be 0
    share_out(_maxpool_scatter_loops, n * c, planes(values).reshape(n * c, windows),
                           planes(switches.astype(numpy.int64, copy=False)).reshape(n * c, windows),
                           x.reshape(n * c, height * width), out_of_range)
    _check_switches(out_of_range, height * width, "maxpool_scatter")
    return x


@numba_loop
def _maxpool_gather_loops(pixels, switches, out, out_of_range, first, last):
    """pixels: (N*C, H*W), switches: (N*C, OH*OW) -> out: (N*C, OH*OW).

        out[plane, k] = pixels[plane, switches[plane, k]]

    Switches outside 0 .. H*W-1 give 0 and are counted in out_of_range[plane].
    """
    plane_count, pixel_count = pixels.shape
    window_count = switches.shape[1]
    for plane in range(first, last):   # of plane_count: this thread's share
        for k in range(window_count):
            pixel = switches[plane, k]
            if 0 <= pixel < pixel_count:
                out[plane, k] = pixels[plane, unsigned(pixel)]
            else:
                out[plane, k] = 0
                out_of_range[plane] += 1


def maxpool_gather_numba(x, switches):
    """Numba twin of ``maxpool_gather``, equal to it bit for bit.

    x: (N, C, H, W); switches: (N, C, OH, OW). Returns (N, C, OH, OW), dtype
    of x. Raises ValueError for a switch outside its plane.
    """
    n, c, height, width = x.shape
    out = buffers.empty(switches.shape, x.dtype)
    out_of_range = numpy.zeros(n * c, dtype=numpy.int64)
    windows = switches.shape[2] * switches.shape[3]   # OH*OW, named: N*C may be 0
    share_out(_maxpool_gather_loops, n * c, planes(x).reshape(n * c, height * width),
                          planes(switches.astype(numpy.int64, copy=False)).reshape(n * c, windows),
                          out.reshape(n * c, windows), out_of_range)
    _check_switches(out_of_range, height * width, "maxpool_gather")
    return out


# ==========================================================================
# CUDA twins (GPU)
# ==========================================================================

@cuda_kernel
def _maxpool_forward_kernel(images, kernel_height, kernel_width, stride_y, stride_x,
                            padding_y, padding_x, dilation_y, dilation_x, minus_infinity,
                            maxima, switches):
    """One thread per window (plane, oy, ox).

    images: (N*C, H, W) -> maxima, switches: (N*C, OH, OW), written in place.

    Window (oy, ox) has its taps on rows top + i*DH, top = oy*SH - PH, and
    columns left + j*DW, left = ox*SW - PW. The rules are the
    reference's (see _maxpool_forward_loops for why skipping the padding
    gives the same answer): taps in row-major order, strictly larger
    replaces (ties go to the first maximum), the first NaN wins, and a
    window whose taps are all -inf reports tap (0, 0), clipped into the
    image. switches = row * W + column of the winning tap.
    """
    plane_count, height, width = images.shape
    out_height, out_width = maxima.shape[1], maxima.shape[2]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, plane_count, plane_step):
        for window in range(first_window, out_height * out_width, window_step):
            oy, ox = window // out_width, window % out_width
            top = oy * stride_y - padding_y
            left = ox * stride_x - padding_x
            best_value = minus_infinity
            # tap (0, 0), clipped into the image
            best_index = min(max(top, 0), height - 1) * width + min(max(left, 0), width - 1)
            for i in range(kernel_height):
                row = top + i * dilation_y
                if row < 0 or row >= height:
                    continue
                for j in range(kernel_width):
                    column = left + j * dilation_x
                    if column < 0 or column >= width:
                        continue
                    value = images[plane, row, column]
                    if value > best_value or (value != value and best_value == best_value):
                        best_value = value
                        best_index = row * width + column
            maxima[plane, oy, ox] = best_value
            switches[plane, oy, ox] = best_index


def maxpool_forward_cuda(x, kernel, stride, padding, out, dilation=(1, 1)):
    """CUDA twin of ``maxpool_forward``, equal to it bit for bit (maxima and switches).

    x: (N, C, H, W), a CuPy array. Returns y: (N, C, OH, OW), dtype of x, and
    switches: (N, C, OH, OW), int64 flat indices ``row * W + column``.
    """
    xp = get_array_module(x)
    (kernel_height, kernel_width), (stride_y, stride_x) = kernel, stride
    (padding_y, padding_x), (out_height, out_width) = padding, out
    n, c = x.shape[:2]
    y = xp.empty((n, c, out_height, out_width), dtype=x.dtype)
    switches = xp.empty((n, c, out_height, out_width), dtype=xp.int64)
    launch(_maxpool_forward_kernel, out_height * out_width, n * c, planes(x, xp),
           *ints(kernel_height, kernel_width, stride_y, stride_x, padding_y, padding_x, *dilation),
           x.dtype.type(-xp.inf), planes(y, xp), planes(switches, xp))
    return y, switches


@cuda_kernel
def _maxpool_scatter_kernel(values, switches, sums):
    """One thread per value (plane, k); values, switches: (N*C, OH*OW); sums: (N*C, H*W), float64.

        sums[plane, switches[plane, k]] += values[plane, k]

    The switches say where each value goes, not which windows could reach a
    pixel, so this cannot become a gather (kernels/compiled.py): overlapping
    windows may share a switch, and the addition is atomic. A switch outside
    0 .. H*W-1 (maxpool_forward never makes one) is skipped rather than
    written outside its plane.
    """
    plane_count, pixel_count = sums.shape
    window_count = values.shape[1]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, plane_count, plane_step):
        for k in range(first_window, window_count, window_step):
            pixel = switches[plane, k]
            if 0 <= pixel < pixel_count:
                cuda.atomic.add(sums, (plane, pixel), float(values[plane, k]))


def maxpool_scatter_cuda(values, switches, input_shape):
    """CUDA twin of ``maxpool_scatter``: equal to it up to the order of the float64
    additions (atomic, so it varies), then rounded once to the values' dtype.

    values, switches: (N, C, OH, OW), CuPy arrays. Returns (N, C, H, W) = input_shape,
    dtype of values; values sharing a switch add up.
    """
    xp = get_array_module(values)
    n, c, height, width = input_shape
    sums = xp.zeros((n * c, height * width), dtype=xp.float64)
    launch(_maxpool_scatter_kernel, values.size // max(1, n * c), n * c,
           planes(values, xp).reshape(n * c, -1),
           planes(switches.astype(xp.int64, copy=False), xp).reshape(n * c, -1), sums)
    return sums.astype(values.dtype, copy=False).reshape(n, c, height, width)


@cuda_kernel
def _maxpool_gather_kernel(pixels, switches, out):
    """One thread per entry (plane, k) of out: (N*C, OH*OW); pixels: (N*C, H*W).

        out[plane, k] = pixels[plane, switches[plane, k]]

    (0 where a switch lies outside 0 .. H*W-1, which maxpool_forward never makes.)
    """
    plane_count, pixel_count = pixels.shape
    window_count = out.shape[1]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, plane_count, plane_step):
        for k in range(first_window, window_count, window_step):
            pixel = switches[plane, k]
            if 0 <= pixel < pixel_count:
                out[plane, k] = pixels[plane, pixel]
            else:
                out[plane, k] = 0


def maxpool_gather_cuda(x, switches):
    """CUDA twin of ``maxpool_gather``, equal to it bit for bit (a copy).

    x: (N, C, H, W); switches: (N, C, OH, OW), CuPy arrays. Returns (N, C, OH, OW),
    dtype of x.
    """
    xp = get_array_module(x)
    n, c, height, width = x.shape
    out = xp.empty(switches.shape, dtype=x.dtype)
    launch(_maxpool_gather_kernel, out.size // max(1, n * c), n * c,
           planes(x, xp).reshape(n * c, height * width),
           planes(switches.astype(xp.int64, copy=False), xp).reshape(n * c, -1),
           out.reshape(n * c, -1))
    return out
