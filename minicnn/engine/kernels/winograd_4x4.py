"""Winograd's minimal filtering with larger tiles: F(4x4, 3x3).

kernels/winograd.py explains F(2x2, 3x3): a 2x2 tile of output pixels from
the 4x4 input tile under it, Y = A^T [(G w G^T) * (B^T d B)] A, summed over
channels as 16 matrix products. Here the same formula makes a 4x4 tile of
output pixels from a 6x6 input tile: 36 multiplications per channel and
filter where the direct formula makes 16 * 9 = 144, four times fewer (2.25
for 2x2 tiles), and 36 transformed values per 16 outputs where 2x2 tiles
move 16 per 4. In one dimension, four outputs of a 3-tap filter from six
inputs, with the matrices Lavin and Gray (2016) give for F(4x4, 3x3),
built on the points 0, 1, -1, 2, -2 and infinity:

          | 4  0 -5  0  1  0 |        | 1/4   0     0   |
          | 0  4  4 -1 -1  0 |        | 1/6   1/6   1/6 |        | 1  1  1  1  1  0 |
    B^T = | 0 -4  4  1 -1  0 |    G = | 1/6  -1/6   1/6 |  A^T = | 0  1 -1  2 -2  0 |
          | 0 -2 -1  2  1  0 |        | 1/24  1/12  1/6 |        | 0  1  1  4  4  0 |
          | 0  2 -1 -2  1  0 |        | 1/24 -1/12  1/6 |        | 0  1 -1  8 -8  1 |
          | 0  4  0 -5  0  1 |        | 0     0     1   |

(Row k of G w is the filter's polynomial w0 + w1 p + w2 p^2 at point p
divided by a constant; row k of B^T d the matching interpolation weights
times the same constant; A^T evaluates the product back at 1, p, p^2, p^3.
The sign of rows 1 and 2 is the paper's times -1, in both B^T and G.)

Two dimensions, the tiles and the backward pass are those of
kernels/winograd.py with 6x6 tiles (36 values k = 6*i + j) in place of 4x4,
and 4x4 output tiles in place of 2x2: tile (ty, tx) reads input pixels from
(4*ty - PH, 4*tx - PW) and writes output pixels (4*ty, 4*tx) to
(4*ty + 3, 4*tx + 3); the last tiles' rows and columns beyond OH, OW are
computed and dropped (forward) or read as zeros (backward). Forward:

    V[k] (C, T) = B^T d B      U[k] (F, C) = G w G^T      M[k] = U[k] @ V[k]
    y = A^T M A + b,           T = N * ceil(OH/4) * ceil(OW/4)

Backward: dM = A dY A^T, dU[k] = dM[k] @ V[k]^T, dL/dw = G^T dU G,
dV[k] = U[k]^T @ dM[k], dL/dx = B dV B^T added into every tile's place.

The price is rounding. The larger points (2, -2, and 8 = 2^3 in A^T) make
the transformed values larger than the sums they stand for, and the
products' rounding errors grow with them (Lavin and Gray, section 5): in
float32 the result is several times further from the exact convolution
than im2col's or F(2x2, 3x3)'s, though still a small fraction of the
largest output (how far: benchmarks/README.md, "Winograd F(4x4, 3x3)", and
the script it names). tests/test_winograd_4x4.py holds float32 to a stated
bound, float64 to a few roundings. Where this route runs: kernels/routes.py
(``by_winograd_4x4``).

In this file: the NumPy reference (read it to learn), then the Numba loops,
which transform the tiles of all the batch's images at once, and the numba
backend's forward and backward.
"""

import numpy

from .. import buffers
from .compiled import (SHARE_FROM_BYTES_COMPUTING, flat, ints, numba_helper, numba_loop, share_out,
                       unsigned)
from .winograd import (by_matrices, check_output_size, gather_runs, products, products_together,
                       scatter_runs, store_four)

B_T = numpy.array([[4, 0, -5, 0, 1, 0],
                   [0, 4, 4, -1, -1, 0],
                   [0, -4, 4, 1, -1, 0],
                   [0, -2, -1, 2, 1, 0],
                   [0, 2, -1, -2, 1, 0],
                   [0, 4, 0, -5, 0, 1]])
G = numpy.array([[1 / 4, 0, 0],
                 [1 / 6, 1 / 6, 1 / 6],
                 [1 / 6, -1 / 6, 1 / 6],
                 [1 / 24, 1 / 12, 1 / 6],
                 [1 / 24, -1 / 12, 1 / 6],
                 [0, 0, 1]])
A_T = numpy.array([[1, 1, 1, 1, 1, 0],
                   [0, 1, -1, 2, -2, 0],
                   [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]])
VALUES = 36                                           # per 6x6 tile
# The transforms below compute every image of a batch at once, the images
# being their vectors' lanes (eight float32 with AVX2); with few images they
# are scalar work, and F(2x2, 3x3)'s loops are faster. From this many images
# on, the four layers of zfnet_small were faster by F(4x4, 3x3), forward and
# backward (benchmarks/README.md, "Winograd F(4x4, 3x3)").
IMAGES_FROM = 32
SIXTH = 1 / 6                                         # G's sixths, multiplied (a division is slower)


def tiles(out):
    """(TY, TX): 4x4 output tiles per image for an output of out = (OH, OW) pixels."""
    return (out[0] + 3) // 4, (out[1] + 3) // 4


# ==========================================================================
# Reference (NumPy)
# ==========================================================================

def winograd_4x4_forward(x, weight, bias, padding, out):
    """y = conv2d(x, w) + b for a 3x3 filter, stride 1, by F(4x4, 3x3): kernels/winograd.py's
    formulas (``by_matrices``, read there) with this file's matrices.

    x: (N, C, H, W); weight: (F, C, 3, 3); bias: (F,) or None; padding: (PH, PW);
    out: (OH, OW) = (H + 2*PH - 2, W + 2*PW - 2). Returns y: (N, F, OH, OW).
    """
    return by_matrices(x, weight, bias, padding, out, B_T, G, A_T)


# ==========================================================================
# Numba loops (CPU)
# ==========================================================================
# Each 6x6 transform is written out on scalars, one row or column of six
# values at a time by a helper below, with the common sums computed once.
# The integer factors come in the arrays' dtype (``k`` = (2, 4, 5, 8)), since
# a bare 4 times a float32 would compute in float64; the filter's transforms
# (G, with its sixths) compute in float64 and round once when stored.
# Flat offsets, as in kernels/winograd.py with 36 rows:
#     V, dV   (36, C, T)   value k of channel c, tile t:   (k*C + c)*T + t
#     M, dM   (36, F, T)   value k of filter f, tile t:    (k*F + f)*T + t
#     U, dU   (36, F, C)   value k of filter f, channel c: (k*F + f)*C + c
# with T = N*TY*TX and t = (n*TY + ty)*TX + tx.

@numba_helper
def _b_t(d0, d1, d2, d3, d4, d5, k):
    """B^T @ (d0, ..., d5); k = (2, 4, 5, 8) in the arrays' dtype."""
    two, four, five = k[0], k[1], k[2]
    return (four * d0 - five * d2 + d4,
            four * (d1 + d2) - (d3 + d4),
            four * (d2 - d1) + (d3 - d4),
            two * (d3 - d1) + (d4 - d2),
            two * (d1 - d3) + (d4 - d2),
            four * d1 - five * d3 + d5)


@numba_helper
def _b(v0, v1, v2, v3, v4, v5, k):
    """B @ (v0, ..., v5): the transpose of _b_t."""
    two, four, five = k[0], k[1], k[2]
    return (four * v0,
            four * (v1 - v2 + v5) + two * (v4 - v3),
            four * (v1 + v2) - five * v0 - (v3 + v4),
            (v2 - v1) + two * (v3 - v4) - five * v5,
            v0 - v1 - v2 + v3 + v4,
            v5)


@numba_helper
def _a_t(m0, m1, m2, m3, m4, m5, k):
    """A^T @ (m0, ..., m5): four values."""
    two, four, eight = k[0], k[1], k[3]
    plus, minus = m1 + m2, m1 - m2
    plus_2, minus_2 = m3 + m4, m3 - m4
    return m0 + plus + plus_2, minus + two * minus_2, plus + four * plus_2, minus + eight * minus_2 + m5


@numba_helper
def _a(g0, g1, g2, g3, k):
    """A @ (g0, g1, g2, g3): the transpose of _a_t, six values."""
    two, four, eight = k[0], k[1], k[3]
    even, odd = g0 + g2, g1 + g3
    even_2, odd_2 = g0 + four * g2, two * g1 + eight * g3
    return g0, even + odd, even - odd, even_2 + odd_2, even_2 - odd_2, g3


@numba_helper
def _g(w0, w1, w2):
    """G @ (w0, w1, w2), in float64: six values."""
    w0, w1, w2 = numpy.float64(w0), numpy.float64(w1), numpy.float64(w2)
    outer, outer_2 = w0 + w2, w0 + 4.0 * w2
    return (w0 * 0.25, (outer + w1) * SIXTH, (outer - w1) * SIXTH, (outer_2 + 2.0 * w1) * SIXTH * 0.25,
            (outer_2 - 2.0 * w1) * SIXTH * 0.25, w2)


@numba_helper
def _g_t(u0, u1, u2, u3, u4, u5):
    """G^T @ (u0, ..., u5), in float64: the transpose of _g, three values."""
    u1, u2, u3, u4 = numpy.float64(u1), numpy.float64(u2), numpy.float64(u3), numpy.float64(u4)
    plus, minus = (u1 + u2) * SIXTH, (u1 - u2) * SIXTH
    plus_2, minus_2 = (u3 + u4) * SIXTH, (u3 - u4) * SIXTH
    return (numpy.float64(u0) * 0.25 + plus + plus_2 * 0.25, minus + minus_2 * 0.5,
            plus + plus_2 + numpy.float64(u5))


@numba_helper
def _load6(array, start, step):
    """(array[start], array[start + step], ..., array[start + 5*step])."""
    return (array[unsigned(start)], array[unsigned(start + step)],
            array[unsigned(start + 2 * step)], array[unsigned(start + 3 * step)],
            array[unsigned(start + 4 * step)], array[unsigned(start + 5 * step)])


@numba_helper
def _store6(array, start, step, values):
    """array[start + i*step] = values[i] for the six values."""
    array[unsigned(start)] = values[0]
    array[unsigned(start + step)] = values[1]
    array[unsigned(start + 2 * step)] = values[2]
    array[unsigned(start + 3 * step)] = values[3]
    array[unsigned(start + 4 * step)] = values[4]
    array[unsigned(start + 5 * step)] = values[5]


@numba_loop
def _weight_loops(weight, filters, channels, out, first, last):
    """U = G w G^T: weight (F, C, 3, 3) -> out (36, F, C), both flat; items: filters.
    A filter's 36 x C values are gathered in ``values``, then copied, 36 runs of C."""
    values = numpy.empty(VALUES * channels, dtype=weight.dtype)
    for f in range(first, last):
        for c in range(channels):
            w = (f * channels + c) * 9
            # G w: columns j of w, each to six values
            c0 = _g(weight[w], weight[w + 3], weight[w + 6])
            c1 = _g(weight[w + 1], weight[w + 4], weight[w + 7])
            c2 = _g(weight[w + 2], weight[w + 5], weight[w + 8])
            for i in range(6):                                  # (G w) G^T: row i to six values
                _store6(values, 6 * i * channels + c, channels, _g(c0[i], c1[i], c2[i]))
        scatter_runs(values, channels, out, f * channels, filters * channels, channels, VALUES)


@numba_loop
def _weight_adjoint_loops(grad_u, filters, channels, grad_weight, first, last):
    """dL/dw = G^T dU G: grad_u dU (36, F, C) -> grad_weight (F, C, 3, 3), both flat;
    items: filters."""
    values = numpy.empty(VALUES * channels, dtype=grad_u.dtype)
    for f in range(first, last):
        gather_runs(grad_u, f * channels, filters * channels, channels, values, VALUES)
        for c in range(channels):
            # G^T dU: columns j of dU (values j, 6 + j, ..., 30 + j), six values to three
            c0 = _g_t(*_load6(values, c, 6 * channels))
            c1 = _g_t(*_load6(values, c + channels, 6 * channels))
            c2 = _g_t(*_load6(values, c + 2 * channels, 6 * channels))
            c3 = _g_t(*_load6(values, c + 3 * channels, 6 * channels))
            c4 = _g_t(*_load6(values, c + 4 * channels, 6 * channels))
            c5 = _g_t(*_load6(values, c + 5 * channels, 6 * channels))
            w = (f * channels + c) * 9
            for i in range(3):                                  # (G^T dU) G: row i, six to three
                row = _g_t(c0[i], c1[i], c2[i], c3[i], c4[i], c5[i])
                grad_weight[unsigned(w + 3 * i)] = row[0]
                grad_weight[unsigned(w + 3 * i + 1)] = row[1]
                grad_weight[unsigned(w + 3 * i + 2)] = row[2]


# ----- the tiles' transforms, images innermost ------------------------------------------------
# A tile's transform done one tile at a time is scalar work: a 6x6 tile's
# values are too few, and too scattered, for vector instructions. So these
# four loops take one channel (or filter) at a time and do every transform
# for all N images at once: the images are the innermost index of their
# working arrays and of the tile columns of V, M, dM and dV,
#
#     t = (ty*TX + tx)*N + n          (kernels/winograd.py: (n*TY + ty)*TX + tx)
#
# (the 36 products do not care in which order their columns come). Each
# transform is two passes, down a tile's columns, then along its rows, every
# pass a loop over the N images that reads and writes runs of N consecutive
# values: the compiler turns it into vector instructions. Only the copies
# between the images' planes (N, C, H, W) and the working arrays go one value
# at a time.
#
# The first pass goes along a whole row of tiles at once (a "band"): for the
# input, B^T down every column of the six rows under the row of tiles, each
# column once (neighbouring tiles share two columns); for M and dV, the
# first pass of every tile of the row, whose columns t are consecutive for
# fixed ty. One long loop in place of six short ones per tile, with the same
# arithmetic on the same values: the results are the same bit for bit.

@numba_loop
def _input_loops(images, count, channels, height, width, padding_y, padding_x, tiles_y, tiles_x,
                 factors, transformed, first, last):
    """V = B^T d B for every 6x6 tile d: images (N, C, H, W) -> transformed (36, C, T), flat,
    t = (ty*TX + tx)*N + n. Items: channels. Each channel's N planes are first copied into
    a zero-padded block (4*TY + 2, 4*TX + 2, N). factors: (2, 4, 5, 8) in the dtype."""
    k = (factors[0], factors[1], factors[2], factors[3])
    columns = count * tiles_y * tiles_x                         # T
    row = 4 * tiles_x + 2
    down = row * count                                          # one row of the block further
    padded = numpy.zeros((4 * tiles_y + 2) * down, dtype=images.dtype)
    band = numpy.empty(6 * down, dtype=images.dtype)            # B^T d of a row of tiles: (6, row, N)
    rows = channels * columns                                   # from V[k] to V[k + 1]
    for c in range(first, last):
        for n in range(count):
            image = (n * channels + c) * height * width
            for y in range(height):
                for x in range(width):
                    padded[unsigned(((y + padding_y) * row + padding_x + x) * count + n)] = images[
                        unsigned(image + y * width + x)]
        for ty in range(tiles_y):
            corner = 4 * ty * down                              # block row 4*ty, column 0, image 0
            for m in range(down):                               # B^T d: every column of the band
                _store6(band, m, down, _b_t(*_load6(padded, corner + m, down), k))
            for tx in range(tiles_x):
                at = c * columns + (ty * tiles_x + tx) * count
                for i in range(6):                              # (B^T d) B: row i of tile tx
                    source = i * down + 4 * tx * count
                    for n in range(count):
                        _store6(transformed, at + 6 * i * rows + n, rows,
                                _b_t(*_load6(band, source + n, count), k))


@numba_loop
def _output_loops(product, count, filters, out_height, out_width, tiles_y, tiles_x, bias, factors,
                  images, first, last):
    """y = A^T M A + b for every tile: product M (36, F, T) -> images (N, F, OH, OW), flat,
    t = (ty*TX + tx)*N + n. Items: filters. Each row of a tile's pixels, for the N images,
    is stored straight into the images, dropping the last tiles' rows and columns beyond
    OH, OW."""
    k = (factors[0], factors[1], factors[2], factors[3])
    columns = count * tiles_y * tiles_x
    plane = out_height * out_width
    run = tiles_x * count                                       # a row of tiles, every image
    rows = filters * columns                                    # from M[k] to M[k + 1]
    work = numpy.empty(24 * run, dtype=product.dtype)           # A^T M of a row of tiles: (4, 6, run)
    for f in range(first, last):
        b = bias[f]                                             # zeros when the layer has none
        for ty in range(tiles_y):
            at = f * columns + ty * run
            for j in range(6):                                  # A^T M: column j, six to four
                for m in range(run):
                    store_four(work, j * run + m, 6 * run,
                               _a_t(*_load6(product, at + j * rows + m, 6 * rows), k))
            for i in range(min(4, out_height - 4 * ty)):        # (A^T M) A: row i, four pixels
                for tx in range(tiles_x):
                    corner = f * plane + (4 * ty + i) * out_width + 4 * tx
                    source = 6 * i * run + tx * count
                    width = min(4, out_width - 4 * tx)
                    if width == 4:
                        for n in range(count):
                            pixels = _a_t(*_load6(work, source + n, run), k)
                            store_four(images, corner + n * filters * plane, 1,
                                       (pixels[0] + b, pixels[1] + b, pixels[2] + b, pixels[3] + b))
                    else:                                       # the last tile of a row, cut
                        for n in range(count):
                            pixels = _a_t(*_load6(work, source + n, run), k)
                            for j in range(width):
                                images[unsigned(corner + n * filters * plane + j)] = pixels[j] + b


@numba_loop
def _gradient_loops(grad_images, count, filters, out_height, out_width, tiles_y, tiles_x, factors,
                    transformed, sums, first, last):
    """dM = A dY A^T for every 4x4 tile dY of dL/dy (zeros beyond OH, OW):
    grad_images (N, F, OH, OW) -> transformed (36, F, T), flat, t = (ty*TX + tx)*N + n;
    and sums[f*N + n] = the sum of plane (n, f) in float64 (for dL/db). Items: filters.
    A tile's 16 pixels of the N images are first copied into ``pixels`` (16, N)."""
    k = (factors[0], factors[1], factors[2], factors[3])
    columns = count * tiles_y * tiles_x
    plane = out_height * out_width
    work = numpy.empty(24 * count, dtype=grad_images.dtype)     # A dY: (6, 4, N)
    pixels = numpy.zeros(16 * count, dtype=grad_images.dtype)
    for f in range(first, last):
        for n in range(count):
            start = (n * filters + f) * plane
            total = 0.0
            for pixel in range(plane):
                total += grad_images[unsigned(start + pixel)]
            sums[f * count + n] = total
        for ty in range(tiles_y):
            for tx in range(tiles_x):
                rows, width = min(4, out_height - 4 * ty), min(4, out_width - 4 * tx)
                if rows < 4 or width < 4:
                    pixels[:] = 0
                for i in range(rows):
                    for j in range(width):
                        pixel = (4 * ty + i) * out_width + 4 * tx + j
                        for n in range(count):
                            pixels[unsigned((4 * i + j) * count + n)] = grad_images[
                                unsigned((n * filters + f) * plane + pixel)]
                for j in range(4):                              # A dY: column j, four to six
                    for n in range(count):
                        column = _a(pixels[unsigned(j * count + n)],
                                    pixels[unsigned((4 + j) * count + n)],
                                    pixels[unsigned((8 + j) * count + n)],
                                    pixels[unsigned((12 + j) * count + n)], k)
                        _store6(work, j * count + n, 4 * count, column)
                at = f * columns + (ty * tiles_x + tx) * count
                for i in range(6):                              # (A dY) A^T: row i, four to six
                    for n in range(count):
                        w = 4 * i * count + n
                        _store6(transformed, at + 6 * i * filters * columns + n, filters * columns,
                                _a(work[unsigned(w)], work[unsigned(w + count)],
                                   work[unsigned(w + 2 * count)], work[unsigned(w + 3 * count)], k))


@numba_loop
def _input_adjoint_loops(transformed, count, channels, height, width, padding_y, padding_x,
                         tiles_y, tiles_x, factors, grad_images, first, last):
    """dL/dx = B dV B^T added into every tile's place: transformed dV (36, C, T) ->
    grad_images (N, C, H, W), flat, t = (ty*TX + tx)*N + n. Items: channels. Tiles overlap
    by two rows or columns; they are added in row-major order of the tiles into a padded
    block (4*TY + 2, 4*TX + 2, N), then the padding is cut off."""
    k = (factors[0], factors[1], factors[2], factors[3])
    columns = count * tiles_y * tiles_x
    row = 4 * tiles_x + 2
    run = tiles_x * count                                       # a row of tiles, every image
    rows = channels * columns                                   # from dV[k] to dV[k + 1]
    padded = numpy.empty((4 * tiles_y + 2) * row * count, dtype=grad_images.dtype)
    band = numpy.empty(VALUES * run, dtype=grad_images.dtype)   # B dV of a row of tiles: (6, 6, run)
    for c in range(first, last):
        padded[:] = 0
        for ty in range(tiles_y):
            at = c * columns + ty * run
            for j in range(6):                                  # B dV: column j
                for m in range(run):
                    _store6(band, j * run + m, 6 * run,
                            _b(*_load6(transformed, at + j * rows + m, 6 * rows), k))
            for tx in range(tiles_x):
                corner = (4 * ty * row + 4 * tx) * count
                for i in range(6):                              # (B dV) B^T: row i, added
                    source = 6 * i * run + tx * count
                    for n in range(count):
                        values = _b(*_load6(band, source + n, run), k)
                        for j in range(6):
                            padded[unsigned(corner + (i * row + j) * count + n)] += values[j]
        for n in range(count):
            image = (n * channels + c) * height * width
            for y in range(height):
                for x in range(width):
                    grad_images[unsigned(image + y * width + x)] = padded[
                        unsigned(((y + padding_y) * row + padding_x + x) * count + n)]


# ----- the numba backend's convolution -------------------------------------------------------
# The work is shared out among minicnn's threads (threads.py) in as few
# sections as the data allow, since every section wakes the other threads,
# which costs tens of microseconds each time. What needs nothing else goes
# in one section, each thread taking the same share of every part:
#
#   forward   1. U of a share of the filters, V of the same share of the channels
#             2. M[k] = U[k] @ V[k], a share of the 36 k
#             3. y's planes of a share of the filters
#   backward  1. dM of a share of the filters
#             2. dU[k] = dM[k] @ V[k]^T and dV[k] = U[k]^T @ dM[k], a share of the k
#             3. dL/dw of a share of the filters, dL/dx of the same share of the channels
#
# The products are shared by k, never by rows: the numbers are then the
# same whatever the number of threads (BLAS may sum a block of rows in
# another order than the whole product).

def _factors(dtype):
    """(2, 4, 5, 8) in ``dtype``: the integer factors of B^T and A^T."""
    return numpy.array([2, 4, 5, 8], dtype=dtype)


def _same_share(total, of, first, last):
    """(start, end): the same share of ``total`` items as items first .. last-1 are of ``of``."""
    return total * first // of, total * last // of


def winograd_4x4_forward_numba(x, weight, bias, padding, out):
    """The Numba twin of ``winograd_4x4_forward``, keeping what backward needs.

    Returns (y, saved): y (N, F, OH, OW); saved = (V, U), V (36, C, T) the
    transformed input tiles and U (36, F, C) the transformed filters.
    """
    check_output_size("winograd_4x4_forward_numba", x.shape, padding, out)
    x = numpy.ascontiguousarray(x)
    batch, channels, height, width = x.shape
    filters = weight.shape[0]
    tiles_y, tiles_x = tiles(out)
    columns = batch * tiles_y * tiles_x                                        # T
    dtype, factors = x.dtype, _factors(x.dtype)
    u = numpy.empty((VALUES, filters, channels), dtype)
    v = buffers.empty((VALUES, channels, columns), dtype)

    def transforms(weights, images, transformed, first, last):     # filters first..last-1
        _weight_loops(weights, *ints(filters, channels), u.reshape(-1), first, last)
        _input_loops(images, *ints(batch, channels, height, width, *padding, tiles_y, tiles_x),
                     factors, transformed, *_same_share(channels, filters, first, last))

    share_out(transforms, filters, flat(weight), flat(x), v.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    m = products(u, v, buffers.empty((VALUES, filters, columns), dtype))      # M[k] = U[k] @ V[k]
    bias = numpy.zeros(filters, dtype) if bias is None else numpy.ascontiguousarray(bias)
    y = buffers.empty((batch, filters) + tuple(out), dtype)
    share_out(_output_loops, filters, m.reshape(-1),
              *ints(batch, filters, *out, tiles_y, tiles_x), bias, factors, y.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return y, (v, u)


def winograd_4x4_backward_numba(grad_y, saved, input_shape, padding, needs_x, needs_weight,
                                needs_bias):
    """(dL/dx, dL/dw, dL/db) of ``winograd_4x4_forward_numba``'s y, from its ``saved`` (V, U).

    grad_y: (N, F, OH, OW); input_shape: (N, C, H, W). Each gradient is None
    where its ``needs_*`` is False.
    """
    v, u = saved
    batch, channels, height, width = input_shape
    filters, out = grad_y.shape[1], tuple(grad_y.shape[2:])
    check_output_size("winograd_4x4_backward_numba", input_shape, padding, out)
    tiles_y, tiles_x = tiles(out)
    columns = batch * tiles_y * tiles_x
    dtype, factors = v.dtype, _factors(v.dtype)
    grad_m = buffers.empty((VALUES, filters, columns), dtype)
    sums = numpy.empty(filters * batch, numpy.float64)
    share_out(_gradient_loops, filters, flat(grad_y),
              *ints(batch, filters, *out, tiles_y, tiles_x), factors, grad_m.reshape(-1),
              sums, share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    grad_u = grad_weight = grad_v = grad_x = None
    jobs = []
    if needs_weight:
        grad_u = numpy.empty((VALUES, filters, channels), dtype)
        grad_weight = numpy.empty((filters, channels, 3, 3), dtype)
        jobs.append((grad_m, v, grad_u, False, True))                          # dU[k] = dM[k] @ V[k]^T
    if needs_x:
        grad_v = buffers.empty((VALUES, channels, columns), dtype)
        grad_x = buffers.empty(tuple(input_shape), dtype)
        jobs.append((u, grad_m, grad_v, True, False))                          # dV[k] = U[k]^T @ dM[k]

    def adjoints(weights, images, first, last):                    # filters first..last-1
        if needs_weight:                                           # dL/dw = G^T dU G
            _weight_adjoint_loops(grad_u.reshape(-1), *ints(filters, channels), weights, first, last)
        if needs_x:                                                # dL/dx = B dV B^T, added up
            _input_adjoint_loops(grad_v.reshape(-1),
                                 *ints(batch, channels, height, width, *padding, tiles_y, tiles_x),
                                 factors, images, *_same_share(channels, filters, first, last))

    if jobs:
        products_together(*jobs)
        share_out(adjoints, filters, flat(grad_weight) if needs_weight else None,
                  flat(grad_x) if needs_x else None, share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    grad_bias = sums.reshape(filters, batch).sum(axis=1).astype(dtype) if needs_bias else None
    return grad_x, grad_weight, grad_bias
