"""im2col and its adjoint col2im: every window of an image as a column, and back.

The convolution (functional/conv.py) unfolds its input with im2col, so that
the whole batch is convolved by one matrix product, and its input gradient
folds the column gradients back with col2im. Max pooling unfolds with im2col
too, padding with -inf.

In this file: the plain-array references ``im2col`` and ``col2im`` (read
these to learn), then their Numba twins ``im2col_numba`` and
``col2im_numba``, then their CUDA twins ``im2col_cuda`` and ``col2im_cuda``.
What the twins share, and why they look as they do, is explained in
kernels/compiled.py; which of them run, and when, in kernels/__init__.py.
Notation as in kernels/compiled.py: x (N, C, H, W); kernel (KH, KW),
stride (SH, SW), padding (PH, PW), dilation (DH, DW), output (OH, OW).
Tap (i, j) of window (oy, ox) reads pixel (oy*SH + i*DH - PH, ox*SW + j*DW - PW):
with dilation D the taps sit D pixels apart (D = 1: next to each other).

Same sums as the reference, in every twin: col2im adds each pixel's column
entries tap by tap, in row-major order of the taps (i, j), in the input's
dtype, so all three agree bit for bit.
"""

import functools

import numpy

from ..backend import get_array_module
from .. import buffers
from .compiled import (SHARE_FROM_BYTES_COMPUTING, cuda, cuda_kernel, flat, inside, ints, launch,
                       numba_helper, numba_loop, share_out, unsigned)


# ==========================================================================
# References (NumPy or CuPy)
# ==========================================================================

def _padding_after(size, kernel, stride, padding, out, dilation):
    """Zeros to add after the input (bottom or right) so that ``out`` windows fit.

    The last window starts at (out - 1)*S - P and ends D(K - 1) pixels later;
    at least ``padding`` (one more when ceil_mode keeps a partial window).
    """
    return max(padding, stride * (out - 1) + dilation * (kernel - 1) + 1 - size - padding)


def _pad_for_windows(x, kernel, stride, padding, out, value, dilation=(1, 1)):
    """Pad x so that ``out`` windows fit along H and W.

    Pads ``padding`` on the top/left and enough on the bottom/right for the
    last window (see ``_padding_after``). Returns the padded array, (N, C, Hp, Wp).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow), (dh, dw) = kernel, stride, padding, out, dilation
    n, c, h, w = x.shape
    bottom = _padding_after(h, kh, sh, ph, oh, dh)
    right = _padding_after(w, kw, sw, pw, ow, dw)
    return xp.pad(x, ((0, 0), (0, 0), (ph, bottom), (pw, right)), constant_values=value)


def im2col(x, kernel, stride, padding, out, pad_value=0.0, dilation=(1, 1)):
    """Unfold every window of ``x`` into a column.

    x: (N, C, H, W); kernel=(KH, KW), stride=(SH, SW), padding=(PH, PW),
    out=(OH, OW), dilation=(DH, DW). Returns cols: (C, KH, KW, N, OH, OW) with

        cols[c, i, j, n, oy, ox] = x_padded[n, c, oy*SH + i*DH, ox*SW + j*DW]

    The loop runs over the KH*KW filter taps, not over the OH*OW output
    pixels: each tap (i, j) is one strided slice of the padded input
    (Chainer's im2col), starting at row i*DH and column j*DW. The layout
    puts the batch next to the window positions so that
    ``cols.reshape(C*KH*KW, N*OH*OW)`` is one matrix without copying:
    convolution of the whole batch is then one matrix product with the
    filters reshaped to (F, C*KH*KW). The channels come first, so the rows
    of one group of channels are contiguous (grouped convolution).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (oh, ow), (dh, dw) = kernel, stride, out, dilation
    padded = _pad_for_windows(x, kernel, stride, padding, out, pad_value, dilation)
    n, c = x.shape[:2]
    cols = xp.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            # (N, C, OH, OW) slice of the padded input, stored as (C, N, OH, OW)
            cols[:, i, j] = padded[:, :, top:top + sh * oh:sh, left:left + sw * ow:sw].transpose(1, 0, 2, 3)
    return cols


def col2im(cols, input_shape, kernel, stride, padding, dilation=(1, 1)):
    """The adjoint of im2col: add every column entry back to its pixel.

    cols: (C, KH, KW, N, OH, OW); input_shape = (N, C, H, W).
    Returns (N, C, H, W) with

        x[n, c, y, x] = sum of cols[c, i, j, n, oy, ox]
                        over all (i, j, oy, ox) with oy*SH + i*DH - PH = y
                                                 and ox*SW + j*DW - PW = x

    Overlapping windows add up; entries that fell on the padding are dropped.
    This is the backward pass of im2col (and of the convolution's input).
    """
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = cols.shape[4:]
    bottom = _padding_after(h, kh, sh, ph, oh, dh)
    right = _padding_after(w, kw, sw, pw, ow, dw)
    padded = xp.zeros((n, c, h + ph + bottom, w + pw + right), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            padded[:, :, top:top + sh * oh:sh, left:left + sw * ow:sw] += cols[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, ph:ph + h, pw:pw + w]


# ==========================================================================
# Numba twins (CPU)
# ==========================================================================

@numba_helper
def _rows_inside(taps, out, stride, dilation, padding, size):
    """(firsts, ends): for each tap t of a window, the positions o = firsts[t] .. ends[t]-1
    of 0 .. out-1 whose tap t lands inside 0 .. size-1 (``inside``, for every tap at once)."""
    firsts = numpy.empty(taps, dtype=numpy.int64)
    ends = numpy.empty(taps, dtype=numpy.int64)
    for tap in range(taps):
        firsts[tap], ends[tap] = inside(out, stride, tap * dilation - padding, size)
    return firsts, ends


@numba_loop
def _im2col_loops(images, count, channels, height, width, kernel_height, kernel_width,
                  stride_y, stride_x, padding_y, padding_x, dilation_y, dilation_x,
                  out_height, out_width, pad_value, cols, first, last):
    """images: (N, C, H, W) -> cols: (C, KH, KW, N, OH, OW), both flat, cols written in place.

        cols[c, i, j, n, oy, ox] = images[n, c, oy*SH + i*DH - PH, ox*SW + j*DW - PW]

    or ``pad_value`` where that row or column lies in the padding. Flat
    offsets (see kernels/compiled.py for why):
        images[n, c, y, x]          at ((n*C + c)*H + y)*W + x
        cols[c, i, j, n] (OH x OW)  starts at (((c*KH + i)*KW + j)*N + n) * OH*OW

    The planes (n, c) go channel by channel, and within a channel image by
    image. In cols the N images' blocks for one tap lie one after another,
    so plane (n+1, c) writes each of its KH*KW blocks right after plane
    (n, c)'s: KH*KW straight streams, which the hardware prefetcher follows
    (with the channel moving fastest, each plane would jump between blocks
    N*OH*OW apart).
    """
    window_size = out_height * out_width
    # which rows oy and columns ox of each tap read the image (the others the
    # padding) is the same for every plane: found once, here
    tops, bottoms = _rows_inside(kernel_height, out_height, stride_y, dilation_y, padding_y, height)
    lefts, rights = _rows_inside(kernel_width, out_width, stride_x, dilation_x, padding_x, width)
    for plane in range(first, last):   # of count * channels: this thread's share
        c, n = plane // count, plane % count              # image n moves fastest: see above
        image = (n * channels + c) * height * width
        for i in range(kernel_height):
            row_offset = i * dilation_y - padding_y                # tap i's row in window 0
            # rows oy in top .. bottom-1 read the image, the others the padding
            top, bottom = tops[i], bottoms[i]
            for j in range(kernel_width):
                column_offset = j * dilation_x - padding_x
                # columns ox in left .. right-1 read the image, the others the padding
                left, right = lefts[j], rights[j]
                window = (((c * kernel_height + i) * kernel_width + j) * count + n) * window_size
                for oy in range(out_height):
                    out = window + oy * out_width                      # cols[c, i, j, n, oy, 0]
                    if oy < top or oy >= bottom:
                        for ox in range(out_width):
                            cols[unsigned(out + ox)] = pad_value
                        continue
                    # images[n, c, oy*SH + i*DH - PH, j*DW - PW]: the tap for ox = 0
                    source = image + (oy * stride_y + row_offset) * width + column_offset
                    for ox in range(left):
                        cols[unsigned(out + ox)] = pad_value
                    if stride_x == 1:                 # a contiguous run: copied in vectors
                        for ox in range(left, right):
                            cols[unsigned(out + ox)] = images[unsigned(source + ox)]
                    else:
                        for ox in range(left, right):
                            cols[unsigned(out + ox)] = images[unsigned(source + ox * stride_x)]
                    for ox in range(right, out_width):
                        cols[unsigned(out + ox)] = pad_value


# Below these many windows OH*OW per plane, im2col and col2im go through a
# table of every tap's pixel (_im2col_table_loops, _col2im_table_loops): the
# loops above set up three runs per tap and output row, which for keras-MNIST's
# third layer (3x3 windows of a 5x5 plane) are 3 values long, so the setting up
# is the work. With longer runs those loops win: from about 11x11 windows for
# im2col, 7x7 for col2im, whose table adds where its loops add whole rows
# (benchmarks/README.md, "im2col and col2im of small planes by a table").
IM2COL_TABLE_BELOW = 128
COL2IM_TABLE_BELOW = 64


@functools.lru_cache(maxsize=64)
def tap_table(height, width, kernel_height, kernel_width, stride_y, stride_x, padding_y, padding_x,
              dilation_y, dilation_x, out_height, out_width):
    """(KH*KW*OH*OW,) int64: entry (i*KW + j)*OH*OW + oy*OW + ox is the pixel y*W + x that tap
    (i, j) of window (oy, ox) reads, y = oy*SH + i*DH - PH, x = ox*SW + j*DW - PW; -1 where
    that pixel is padding. The same for every plane and every call of the same geometry:
    made once and kept (read-only)."""
    i, j, oy, ox = numpy.meshgrid(numpy.arange(kernel_height), numpy.arange(kernel_width),
                                  numpy.arange(out_height), numpy.arange(out_width), indexing="ij")
    y = oy * stride_y + i * dilation_y - padding_y
    x = ox * stride_x + j * dilation_x - padding_x
    pixel = numpy.where((y >= 0) & (y < height) & (x >= 0) & (x < width), y * width + x, -1)
    table = pixel.reshape(-1).astype(numpy.int64)
    table.setflags(write=False)
    return table


@numba_loop
def _im2col_table_loops(images, count, channels, plane_size, taps, window_size, table, pad_value,
                        cols, first, last):
    """_im2col_loops by a table (tap_table): the same copies, one lookup each.

        cols[c, t, n, s] = images[n, c].flat[table[t, s]], or pad_value where table[t, s] = -1

    t = i*KW + j a tap, s = oy*OW + ox a window; planes as in _im2col_loops."""
    for plane in range(first, last):   # of count * channels: this thread's share
        c, n = plane // count, plane % count
        image = (n * channels + c) * plane_size
        for t in range(taps):
            out = ((c * taps + t) * count + n) * window_size          # cols[c, t, n, 0]
            row = t * window_size
            for s in range(window_size):
                pixel = table[row + s]
                cols[unsigned(out + s)] = images[unsigned(image + pixel)] if pixel >= 0 else pad_value


def im2col_planes(images, count, channels, height, width, kernel_height, kernel_width, stride_y,
                  stride_x, padding_y, padding_x, dilation_y, dilation_x, out_height, out_width,
                  pad_value, cols, first, last):
    """_im2col_loops, or for fewer than IM2COL_TABLE_BELOW windows a plane
    _im2col_table_loops: the same arguments, the same copies."""
    if out_height * out_width >= IM2COL_TABLE_BELOW:
        _im2col_loops(images, count, channels, height, width, kernel_height, kernel_width, stride_y,
                      stride_x, padding_y, padding_x, dilation_y, dilation_x, out_height, out_width,
                      pad_value, cols, first, last)
        return
    table = tap_table(height, width, kernel_height, kernel_width, stride_y, stride_x, padding_y,
                      padding_x, dilation_y, dilation_x, out_height, out_width)
    _im2col_table_loops(images, count, channels, height * width, kernel_height * kernel_width,
                        out_height * out_width, table, images.dtype.type(pad_value), cols, first, last)


def im2col_numba(x, kernel, stride, padding, out, pad_value=0.0, dilation=(1, 1)):
    """Numba twin of ``im2col``, equal to it bit for bit.

    x: (N, C, H, W). Returns cols: (C, KH, KW, N, OH, OW), dtype of x.
    """
    (kernel_height, kernel_width), (out_height, out_width) = kernel, out
    n, c, height, width = x.shape
    cols = buffers.empty((c, kernel_height, kernel_width, n, out_height, out_width), x.dtype)
    # shared out from half a megabyte: short rows make this loop slow per byte, so
    # a second thread pays at smaller sizes than for a plain copy (keras-MNIST's third
    # layer, 0.8 MB: benchmarks/README.md, "Figures moved from the engine's comments")
    share_out(im2col_planes, n * c, flat(x), *ints(n, c, height, width, kernel_height, kernel_width, *stride,
                                 *padding, *dilation, out_height, out_width),
                  float(pad_value), cols.reshape(-1), share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return cols


@numba_loop
def _col2im_loops(cols, count, channels, height, width, kernel_height, kernel_width,
                  stride_y, stride_x, padding_y, padding_x, dilation_y, dilation_x,
                  out_height, out_width, images, first, last):
    """cols: (C, KH, KW, N, OH, OW) added into images: (N, C, H, W), both flat.

        images[n, c, oy*SH + i*DH - PH, ox*SW + j*DW - PW] += cols[c, i, j, n, oy, ox]

    Each plane is zeroed here, first (while it is about to be in the cache
    anyway). Entries that land in the padding are dropped. Within a plane the
    taps (i, j) come in row-major order, as in the reference, so every
    pixel's sum is added in the same order: the result is bit for bit the
    reference's. Flat offsets as in _im2col_loops. col2im_numba uses this
    loop for a column stride SW = 1, and _col2im_phased_loops for SW > 1.
    """
    window_size = out_height * out_width
    tops, bottoms = _rows_inside(kernel_height, out_height, stride_y, dilation_y, padding_y, height)
    lefts, rights = _rows_inside(kernel_width, out_width, stride_x, dilation_x, padding_x, width)
    for plane in range(first, last):   # of count * channels: this thread's share
        c, n = plane // count, plane % count              # image n moves fastest, as in im2col
        image = (n * channels + c) * height * width
        for pixel in range(height * width):
            images[unsigned(image + pixel)] = 0
        for i in range(kernel_height):
            row_offset = i * dilation_y - padding_y                # tap i's row in window 0
            # only windows oy in top .. bottom-1, ox in left .. right-1 put
            # this tap inside the image; the rest of the tap fell on padding
            top, bottom = tops[i], bottoms[i]
            for j in range(kernel_width):
                column_offset = j * dilation_x - padding_x
                left, right = lefts[j], rights[j]
                window = (((c * kernel_height + i) * kernel_width + j) * count + n) * window_size
                for oy in range(top, bottom):
                    column = window + oy * out_width                   # cols[c, i, j, n, oy, 0]
                    target = image + (oy * stride_y + row_offset) * width + column_offset
                    for ox in range(left, right):
                        images[unsigned(target + ox * stride_x)] += cols[unsigned(column + ox)]


@numba_loop
def _col2im_phased_loops(cols, count, channels, height, width, kernel_height, kernel_width,
                         stride_y, stride_x, padding_y, padding_x, dilation_y, dilation_x,
                         out_height, out_width, images, first, last):
    """_col2im_loops for a column stride SW > 1: the same sums, in the same order.

    There the innermost loop adds one tap's row, cols[c, i, j, n, oy, :], to
    every SW-th pixel of an image row: a store at a stride, which no vector
    instruction does. Here each plane is first gathered into SW "phases",
    phases[r, y, k] standing for pixel (y, k*SW + r); a tap's row then adds
    to a contiguous run of one phase, which the compiler vectorises, and the
    phases are copied into the image at the end. With SW = 1 the phases are
    the image itself and the copy is pure cost, so _col2im_loops does that
    case. (This pays off on ZFNet's conv1, 7x7 stride 2: see the col2im rows
    of benchmarks/results/kernels-cpu.md.)
    """
    window_size = out_height * out_width
    phase_width = (width + stride_x - 1) // stride_x           # k = 0 .. phase_width-1
    for plane in range(first, last):   # of count * channels: this thread's share
        c, n = plane // count, plane % count              # image n moves fastest, as in im2col
        image = (n * channels + c) * height * width
        phases = numpy.zeros(stride_x * height * phase_width, dtype=images.dtype)
        for i in range(kernel_height):
            row_offset = i * dilation_y - padding_y                # tap i's row in window 0
            top, bottom = inside(out_height, stride_y, row_offset, height)
            for j in range(kernel_width):
                column_offset = j * dilation_x - padding_x
                first, end = inside(out_width, stride_x, column_offset, width)
                window = (((c * kernel_height + i) * kernel_width + j) * count + n) * window_size
                # column ox*SW + j*DW - PW = (ox + skip)*SW + phase
                phase = column_offset % stride_x
                skip = (column_offset - phase) // stride_x
                for oy in range(top, bottom):
                    column = window + oy * out_width                   # cols[c, i, j, n, oy, 0]
                    target = (phase * height + oy * stride_y + row_offset) * phase_width + skip
                    for ox in range(first, end):
                        phases[unsigned(target + ox)] += cols[unsigned(column + ox)]
        for y in range(height):
            for x in range(width):
                images[unsigned(image + y * width + x)] = phases[
                    unsigned(((x % stride_x) * height + y) * phase_width + x // stride_x)]


@numba_loop
def _col2im_table_loops(cols, count, channels, plane_size, taps, window_size, table, images,
                        first, last):
    """_col2im_loops by a table (tap_table): the same sums, in the same order.

        images[n, c].flat[table[t, s]] += cols[c, t, n, s]    (entries with table -1 dropped)

    Each plane zeroed first; taps t in row-major order, so every pixel's sum
    is added in the reference's order, bit for bit."""
    for plane in range(first, last):   # of count * channels: this thread's share
        c, n = plane // count, plane % count
        image = (n * channels + c) * plane_size
        for pixel in range(plane_size):
            images[unsigned(image + pixel)] = 0
        for t in range(taps):
            column = ((c * taps + t) * count + n) * window_size       # cols[c, t, n, 0]
            row = t * window_size
            for s in range(window_size):
                pixel = table[row + s]
                if pixel >= 0:
                    images[unsigned(image + pixel)] += cols[unsigned(column + s)]


def col2im_planes(cols, count, channels, height, width, kernel_height, kernel_width, stride_y,
                  stride_x, padding_y, padding_x, dilation_y, dilation_x, out_height, out_width,
                  images, first, last):
    """_col2im_loops (SW = 1), _col2im_phased_loops (SW > 1), or for fewer than
    COL2IM_TABLE_BELOW windows a plane _col2im_table_loops: the same arguments, the same
    sums in the same order."""
    geometry = (height, width, kernel_height, kernel_width, stride_y, stride_x, padding_y, padding_x,
                dilation_y, dilation_x, out_height, out_width)
    if out_height * out_width < COL2IM_TABLE_BELOW:
        _col2im_table_loops(cols, count, channels, height * width, kernel_height * kernel_width,
                            out_height * out_width, tap_table(*geometry), images, first, last)
        return
    loops = _col2im_loops if stride_x == 1 else _col2im_phased_loops
    loops(cols, count, channels, *geometry, images, first, last)


def col2im_numba(cols, input_shape, kernel, stride, padding, dilation=(1, 1)):
    """Numba twin of ``col2im``, equal to it bit for bit.

    cols: (C, KH, KW, N, OH, OW). Returns (N, C, H, W) = input_shape, dtype of cols.
    """
    c, kernel_height, kernel_width, n, out_height, out_width = cols.shape
    height, width = input_shape[2], input_shape[3]
    x = buffers.empty(tuple(input_shape), cols.dtype)
    share_out(col2im_planes, n * c, flat(cols), *ints(n, c, height, width, kernel_height, kernel_width, *stride,
                            *padding, *dilation, out_height, out_width), x.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)           # from half a megabyte, as im2col
    return x


# ==========================================================================
# CUDA twins (GPU)
# ==========================================================================

@cuda_kernel
def _im2col_kernel(images, kernel_height, kernel_width, stride_y, stride_x,
                   padding_y, padding_x, dilation_y, dilation_x, pad_value, cols):
    """One thread per window (plane, oy, ox), plane = n*C + c.

    images: (N, C, H, W) -> cols: (C, KH, KW, N, OH, OW).

        cols[c, i, j, n, oy, ox] = images[n, c, oy*SH + i*DH - PH, ox*SW + j*DW - PW]

    or ``pad_value`` where that row or column lies in the padding.
    """
    count, channels, height, width = images.shape
    out_height, out_width = cols.shape[4], cols.shape[5]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, count * channels, plane_step):
        n, c = plane // channels, plane % channels
        for window in range(first_window, out_height * out_width, window_step):
            oy, ox = window // out_width, window % out_width
            for i in range(kernel_height):
                row = oy * stride_y + i * dilation_y - padding_y
                for j in range(kernel_width):
                    column = ox * stride_x + j * dilation_x - padding_x
                    if 0 <= row < height and 0 <= column < width:
                        cols[c, i, j, n, oy, ox] = images[n, c, row, column]
                    else:
                        cols[c, i, j, n, oy, ox] = pad_value


def im2col_cuda(x, kernel, stride, padding, out, pad_value=0.0, dilation=(1, 1)):
    """CUDA twin of ``im2col``, equal to it bit for bit (a copy: no arithmetic).

    x: (N, C, H, W), a CuPy array. Returns cols: (C, KH, KW, N, OH, OW), dtype of x.
    """
    xp = get_array_module(x)
    (kernel_height, kernel_width), (stride_y, stride_x) = kernel, stride
    (padding_y, padding_x), (out_height, out_width) = padding, out
    n, c = x.shape[:2]
    cols = xp.empty((c, kernel_height, kernel_width, n, out_height, out_width), dtype=x.dtype)
    launch(_im2col_kernel, out_height * out_width, n * c, xp.ascontiguousarray(x),
           *ints(kernel_height, kernel_width, stride_y, stride_x, padding_y, padding_x, *dilation),
           float(pad_value), cols)
    return cols


@cuda_kernel
def _col2im_kernel(cols, stride_y, stride_x, padding_y, padding_x, dilation_y, dilation_x,
                   zero, images):
    """One thread per pixel (plane, row, column) of images: (N, C, H, W),
    plane = n*C + c; cols: (C, KH, KW, N, OH, OW).

    A gather, not a scatter (kernels/compiled.py): the pixel collects
    cols[c, i, j, n, oy, ox] from every tap (i, j) and window (oy, ox) that
    lands on it:

        oy*SH + i*DH - PH = row   and   ox*SW + j*DW - PW = column

    Tap i reaches this row only when row + PH - i*DH is a multiple of SH,
    from window row oy = (row + PH - i*DH) / SH, if that lies in 0 .. OH-1
    (likewise for j). No two threads write the same pixel, so no atomic
    additions are needed. Taps are added in row-major order starting from
    ``zero`` (0 in the arrays' dtype): the reference's order and precision,
    so the sums agree bit for bit.
    """
    count, channels, height, width = images.shape
    kernel_height, kernel_width = cols.shape[1], cols.shape[2]
    out_height, out_width = cols.shape[4], cols.shape[5]
    first_pixel, first_plane = cuda.grid(2)
    pixel_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, count * channels, plane_step):
        n, c = plane // channels, plane % channels
        for pixel in range(first_pixel, height * width, pixel_step):
            row, column = pixel // width, pixel % width
            total = zero
            for i in range(kernel_height):
                reach_y = row + padding_y - i * dilation_y           # = oy*SH for the window oy
                oy = reach_y // stride_y
                if reach_y < 0 or reach_y % stride_y != 0 or oy >= out_height:
                    continue
                for j in range(kernel_width):
                    reach_x = column + padding_x - j * dilation_x
                    ox = reach_x // stride_x
                    if reach_x >= 0 and reach_x % stride_x == 0 and ox < out_width:
                        total += cols[c, i, j, n, oy, ox]
            images[n, c, row, column] = total


def col2im_cuda(cols, input_shape, kernel, stride, padding, dilation=(1, 1)):
    """CUDA twin of ``col2im``, equal to it bit for bit.

    cols: (C, KH, KW, N, OH, OW), a CuPy array. Returns (N, C, H, W) = input_shape,
    dtype of cols.
    """
    xp = get_array_module(cols)
    x = xp.empty(tuple(input_shape), dtype=cols.dtype)
    launch(_col2im_kernel, x.shape[2] * x.shape[3], x.shape[0] * x.shape[1],
           xp.ascontiguousarray(cols), *ints(*stride, *padding, *dilation),
           cols.dtype.type(0), x)
    return x
