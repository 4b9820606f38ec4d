"""A 3x3 convolution with fewer multiplications: Winograd's minimal filtering, F(2x2, 3x3).

functional/conv.py computes every convolution as im2col and one matrix
product: each output pixel costs KH*KW = 9 multiply-adds per input channel
and filter. For a 3x3 filter with stride 1 there is a cheaper way (Lavin and
Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, after
Winograd's minimal filtering algorithms, 1980; docs/sources.md, "Other
papers the code names").

One dimension first. Two outputs of a 3-tap filter g over four inputs d,

    y0 = d0 g0 + d1 g1 + d2 g2
    y1 = d1 g0 + d2 g1 + d3 g2                       (6 multiplications)

are also

    m1 = (d0 - d2) g0                 m2 = (d1 + d2) (g0 + g1 + g2) / 2
    m4 = (d1 - d3) g2                 m3 = (d2 - d1) (g0 - g1 + g2) / 2
    y0 = m1 + m2 + m3                 y1 = m2 - m3 - m4  (4 multiplications)

where the filter's sums are computed once per filter, not once per output.
In matrices: y = A^T [(G g) * (B^T d)], with * elementwise, and

          | 1  0 -1  0 |          | 1    0    0  |
    B^T = | 0  1  1  0 |      G = | 1/2  1/2  1/2|      A^T = | 1  1  1  0 |
          | 0 -1  1  0 |          | 1/2 -1/2  1/2|            | 0  1 -1 -1 |
          | 0  1  0 -1 |          | 0    0    1  |

Two dimensions nest the one-dimensional formula: a 2x2 tile of output pixels
comes from the 4x4 tile of input pixels under it,

    Y = A^T [ U * V ] A      U = G w G^T (4x4, per filter and input channel)
                             V = B^T d B (4x4, per input tile and channel)

16 multiplications per channel where the direct formula makes 4 * 9 = 36.
Summed over the input channels c, for each of the 16 positions k of the 4x4
tile, that sum is a matrix product:

    V[k]  (C, T)   every input tile's value k, T = N * tiles per image
    U[k]  (F, C)   every filter's value k
    M[k] = U[k] @ V[k]            (F, T): 16 products of (F, C) by (C, T)
    y    = A^T M A, tile by tile, + b

so the convolution becomes 16 smaller matrix products instead of one of
(F, 9C) by (9C, N*OH*OW): 2.25 times fewer multiply-adds, a little less
where OH or OW is odd (the last tile's row or column is computed and
dropped). The tiles overlap: tile (ty, tx) starts at input pixel
(2*ty - PH, 2*tx - PW) of the padded image and covers output pixels
(2*ty, 2*tx) to (2*ty + 1, 2*tx + 1).

Backward, every step above is linear, so its gradient is its transpose
(what the autograd chain rule asks of a linear map), with dM the tiles of
dL/dy, transformed:

    dM    = A dY A^T            per 2x2 tile of dL/dy (zero beyond OH, OW): (16, F, T)
    dL/db = sum of dL/dy over N, OH, OW
    dU[k] = dM[k] @ V[k]^T      (F, C), and  dL/dw = G^T dU G     per filter and channel
    dV[k] = U[k]^T @ dM[k]      (C, T), and  dL/dx = B dV B^T     added back into every
                                             4x4 tile's place (tiles overlap: they add)

The same numbers as the direct convolution, up to rounding: the
transforms' additions and halvings are exact in binary, but the products
are summed in another order. In float64 the two agree to about 1e-15
relative to the largest output; in float32 to about 1e-7, as close as
im2col's float32 result is to the float64 one. (Larger tiles save more
multiplications but lose accuracy in float32: Lavin and Gray, section 5.
kernels/winograd_4x4.py computes F(4x4, 3x3), from a batch of 32 images on,
where it is faster; it says what that costs in float32.)

Only stride 1, dilation 1, one group and a 3x3 filter; any padding. Which
layers take this path: kernels/routes.py (``by_winograd``, in the table ROUTES).
In this file: the NumPy reference (read it to learn), then the Numba loops
and the numba backend's forward and backward, whose 16 products run on
minicnn's threads, each with NumPy's BLAS on one thread (all on the calling
thread when there are too few multiply-adds to share: a batch of a few images).
"""

import numpy

from .. import buffers, threads
from .compiled import (SHARE_FROM_BYTES_COMPUTING, flat, ints, numba_helper, numba_loop, share_out,
                       unsigned)

B_T = numpy.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
G = numpy.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
A_T = numpy.array([[1, 1, 1, 0], [0, 1, -1, -1]])


def tiles(out):
    """(TY, TX): 2x2 output tiles per image for an output of out = (OH, OW) pixels."""
    return (out[0] + 1) // 2, (out[1] + 1) // 2


# Where F(2x2, 3x3) is faster. It saves multiply-adds, but moves more data:
# its transformed tiles V and M hold 16 values per tile and channel or filter,
# (16, C, T) and (16, F, T), written and read back in forward and backward
# alike, and its 16 products are smaller (inner size C) than im2col's one.
# So it pays where the multiply-adds saved per value moved are many:
#
#     saved = C * F * (9 * N*OH*OW - 16 * T)     (direct minus Winograd multiply-adds)
#     moved = 16 * T * (C + F)                   (the values of V and M)
#
# Timed in training steps on a 2-core machine (benchmarks/README.md, "What
# each change bought", the Winograd rows): zfnet_small's four 3x3 layers
# (saved/moved 27 to 35) were faster by Winograd at batch 32 and 128;
# keras-MNIST's second layer (19: 32 channels, 11x11 outputs) was not; its
# third (8: 3x3 outputs, so 2x2 tiles compute 16 outputs for 9) was slower.
# The threshold lies between 19 and 27.
SAVED_PER_MOVED = 24


def pays(input_shape, filters, padding):
    """Whether F(2x2, 3x3) is expected to be faster than im2col for a 3x3, stride-1
    convolution of an (N, C, H, W) input with F filters and padding (PH, PW)."""
    batch, channels, height, width = input_shape
    out = (height + 2 * padding[0] - 2, width + 2 * padding[1] - 2)
    tile_count = batch * tiles(out)[0] * tiles(out)[1]                        # T
    saved = channels * filters * (9 * batch * out[0] * out[1] - 16 * tile_count)
    moved = 16 * tile_count * (channels + filters)
    return saved >= SAVED_PER_MOVED * moved


def check_output_size(function, input_shape, padding, out):
    """ValueError unless out = (H + 2*PH - 2, W + 2*PW - 2), the output of a 3x3 filter at
    stride 1 over an (N, C, H, W) input. The Numba loops of this file and of winograd_4x4.py
    size their buffers from both and would read or write past them otherwise; each twin's
    wrapper calls this first, named ``function`` in the error. (The routes always pass that
    size.)"""
    expected = (input_shape[2] + 2 * padding[0] - 2, input_shape[3] + 2 * padding[1] - 2)
    if tuple(out) != expected:
        raise ValueError(f"{function}: output size must be (H + 2*PH - 2, W + 2*PW - 2) = {expected} "
                         f"for input {tuple(input_shape)} and padding {tuple(padding)}, got {tuple(out)}; "
                         f"for a smaller output, pass only the pixels it reads")


# ==========================================================================
# Reference (NumPy)
# ==========================================================================

def _input_tiles(x, padding, out, size):
    """Every input tile of a size x size output tile, (N, C, TY, TX, size + 2, size + 2):
    tile (ty, tx) is rows size*ty .. size*ty + size + 1 and the same columns of x padded
    with PH, PW zeros (and more zeros after, so that the last tile fits)."""
    (padding_y, padding_x) = padding
    tiles_y, tiles_x = -(-out[0] // size), -(-out[1] // size)
    n, c, height, width = x.shape
    padded = numpy.zeros((n, c, size * tiles_y + 2, size * tiles_x + 2), dtype=x.dtype)
    padded[:, :, padding_y:padding_y + height, padding_x:padding_x + width] = x
    windows = numpy.lib.stride_tricks.sliding_window_view(padded, (size + 2, size + 2), axis=(2, 3))
    return windows[:, :, ::size, ::size]


def by_matrices(x, weight, bias, padding, out, b_t, g, a_t):
    """y = A^T [(G w G^T) * (B^T d B)] A, tile by tile, summed over channels, + b: the
    formulas above for any tile size, given its matrices (A^T has one row per output of a
    tile: 2 here, 4 in winograd_4x4.py). Shapes as in ``winograd_forward``."""
    dtype, size = x.dtype, a_t.shape[0]
    u = numpy.einsum("ai,fcij,bj->abfc", g, weight, g).astype(dtype)           # G w G^T
    v = numpy.einsum("ai,nctsij,bj->abcnts", b_t, _input_tiles(x, padding, out, size), b_t)  # B^T d B
    m = numpy.einsum("abfc,abcnts->abfnts", u, v.astype(dtype))                # sum over c
    y_tiles = numpy.einsum("ia,abfnts,jb->nftisj", a_t, m, a_t)                # A^T M A
    n, f, tiles_y, _, tiles_x, _ = y_tiles.shape
    y = y_tiles.reshape(n, f, size * tiles_y, size * tiles_x)[:, :, :out[0], :out[1]]
    if bias is not None:
        y = y + bias.reshape(1, f, 1, 1)
    return numpy.ascontiguousarray(y, dtype=dtype)


def winograd_forward(x, weight, bias, padding, out):
    """y = conv2d(x, w) + b for a 3x3 filter, stride 1, by F(2x2, 3x3) (formulas above).

    x: (N, C, H, W); weight: (F, C, 3, 3); bias: (F,) or None; padding: (PH, PW);
    out: (OH, OW) = (H + 2*PH - 2, W + 2*PW - 2). Returns y: (N, F, OH, OW).
    """
    return by_matrices(x, weight, bias, padding, out, B_T, G, A_T)


# ==========================================================================
# Numba loops (CPU)
# ==========================================================================
# Each 4x4 transform is written out on scalars, one row or column of four
# (or two, or three) values at a time by a small helper. The loops go over
# image planes, so one plane's tiles are transformed while it is in the
# cache; two of them (the output transform and dL/dy's) take a run of
# consecutive planes at once, as said further down. Flat offsets, as in
# kernels/compiled.py:
#     V, dV   (16, C, T)   value k of channel c, tile t:   (k*C + c)*T + t
#     M, dM   (16, F, T)   value k of filter f, tile t:    (k*F + f)*T + t
#     U       (16, F, C)   value k of filter f, channel c: (k*F + f)*C + c
# with T = N*TY*TX and t = (n*TY + ty)*TX + tx.

@numba_helper
def _b_t(d0, d1, d2, d3):
    """B^T @ (d0, d1, d2, d3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@numba_helper
def _b(v0, v1, v2, v3):
    """B @ (v0, v1, v2, v3): the transpose of _b_t."""
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


@numba_helper
def _a_t(m0, m1, m2, m3):
    """A^T @ (m0, m1, m2, m3)."""
    return m0 + m1 + m2, m1 - m2 - m3


@numba_helper
def _a(g0, g1):
    """A @ (g0, g1): the transpose of _a_t."""
    return g0, g0 + g1, g0 - g1, -g1


@numba_helper
def _g(w0, w1, w2, half):
    """G @ (w0, w1, w2); half: 0.5 in the arrays' dtype (a bare 0.5 would compute in float64)."""
    return w0, (w0 + w1 + w2) * half, (w0 - w1 + w2) * half, w2


@numba_helper
def _g_t(u0, u1, u2, u3, half):
    """G^T @ (u0, u1, u2, u3): the transpose of _g."""
    return u0 + (u1 + u2) * half, (u1 - u2) * half, (u1 + u2) * half + u3


@numba_helper
def store_four(array, start, step, values):
    """array[start + i*step] = values[i] for the four values."""
    array[unsigned(start)] = values[0]
    array[unsigned(start + step)] = values[1]
    array[unsigned(start + 2 * step)] = values[2]
    array[unsigned(start + 3 * step)] = values[3]


@numba_helper
def load_four(array, start, step):
    """(array[start], array[start + step], array[start + 2*step], array[start + 3*step])."""
    return (array[unsigned(start)], array[unsigned(start + step)],
            array[unsigned(start + 2 * step)], array[unsigned(start + 3 * step)])


@numba_helper
def gather_runs(array, first, stride, length, values, rows):
    """values (rows, length), flat = the runs array[first + k*stride ...][:length], k = 0..rows-1:
    one plane's (or filter's) 16 values, from the 16 rows of V, M or U (36 rows for
    winograd_4x4.py's 6x6 tiles)."""
    for k in range(rows):
        start = first + k * stride
        for t in range(length):
            values[unsigned(k * length + t)] = array[unsigned(start + t)]


@numba_helper
def scatter_runs(values, row_length, array, first, stride, length, rows):
    """The reverse of gather_runs: the runs values[k*row_length ...][:length], k = 0..rows-1,
    into their rows of ``array``, array[first + k*stride ...][:length]."""
    for k in range(rows):
        start = first + k * stride
        for t in range(length):
            array[unsigned(start + t)] = values[unsigned(k * row_length + t)]


@numba_loop
def _weight_loops(weight, filters, channels, out, first, last):
    """U = G w G^T: weight (F, C, 3, 3) -> out (16, F, C), both flat; items: filters.
    A filter's 16 x C values are gathered in ``values`` and then copied, 16 runs of C
    (see _input_loops for why)."""
    half = numpy.full(1, 0.5, dtype=weight.dtype)[0]
    values = numpy.empty(16 * channels, dtype=weight.dtype)
    for f in range(first, last):
        for c in range(channels):
            w = (f * channels + c) * 9
            # G w: columns j of w, each to four values
            c0 = _g(weight[w], weight[w + 3], weight[w + 6], half)
            c1 = _g(weight[w + 1], weight[w + 4], weight[w + 7], half)
            c2 = _g(weight[w + 2], weight[w + 5], weight[w + 8], half)
            for i in range(4):                                  # (G w) G^T: row i to four values
                store_four(values, 4 * i * channels + c, channels, _g(c0[i], c1[i], c2[i], half))
        scatter_runs(values, channels, out, f * channels, filters * channels, channels, 16)


@numba_loop
def _weight_adjoint_loops(grad_u, filters, channels, grad_weight, first, last):
    """dL/dw = G^T dU G: grad_u dU (16, F, C) -> grad_weight (F, C, 3, 3), both flat; items:
    filters. A filter's 16 runs of C values are gathered in ``values`` first (see
    _input_loops for why)."""
    half = numpy.full(1, 0.5, dtype=grad_u.dtype)[0]
    values = numpy.empty(16 * channels, dtype=grad_u.dtype)
    for f in range(first, last):
        gather_runs(grad_u, f * channels, filters * channels, channels, values, 16)
        for c in range(channels):
            # G^T dU: columns j of dU (values k = j, 4 + j, 8 + j, 12 + j), four values to three
            c0 = _g_t(*load_four(values, c, 4 * channels), half)
            c1 = _g_t(*load_four(values, c + channels, 4 * channels), half)
            c2 = _g_t(*load_four(values, c + 2 * channels, 4 * channels), half)
            c3 = _g_t(*load_four(values, c + 3 * channels, 4 * channels), half)
            w = (f * channels + c) * 9
            for i in range(3):                                  # (G^T dU) G: row i, four to three
                row = _g_t(c0[i], c1[i], c2[i], c3[i], half)
                grad_weight[unsigned(w + 3 * i)] = row[0]
                grad_weight[unsigned(w + 3 * i + 1)] = row[1]
                grad_weight[unsigned(w + 3 * i + 2)] = row[2]


# ----- the tiles' transforms ------------------------------------------------------------------
# _input_loops and _input_adjoint_loops go tile by tile. _output_loops and
# _gradient_loops go along a run of tiles instead: a plane's tiles are
# consecutive in M's (or dM's) rows, and so are the tiles of consecutive
# images of one filter, t = (n*TY + ty)*TX + tx. So these two take up to
# RUN_VALUES // (TY*TX) such images at once and compute their transform
# along t over the whole run (the output transform its four pixels in one
# pass, dL/dy's its 16 values one row of four at a time): long loops over
# contiguous values, which the compiler turns into vector instructions
# (eight float32 at a time with AVX2), where tile by tile it works on one
# value at a time. (A 7x7 layer's plane has only 16 tiles, too few for a
# vector loop on its own; and a loop writing all 16 rows at once is not
# vectorised: the compiler gives up on checking that many pairs of rows
# for overlap.) What is left tile by tile in them is moving pixels
# between the image and the rows: copies, not arithmetic. Timed against the
# tile-by-tile loops at zfnet_small's batch-32 sizes, this made the output
# transform and dL/dy's faster; the input transform and its adjoint, which
# move 16 values per tile between the image and the rows (the adjoint adds
# them, overlapping), gained little or nothing from it, so they stay as they
# are (benchmarks/README.md, "Winograd's transforms along a run of tiles").
RUN_VALUES = 256      # tiles per run at most (16 rows of them: 16 KB in float32, in the L1 cache)


@numba_helper
def _run_length(plane, last, count, longest):
    """How many planes from ``plane`` on (items c*N + n, or f*N + n) are consecutive images of
    one channel or filter: at most ``longest``, and none past image N-1 or item last-1."""
    return min(longest, count - plane % count, last - plane)


@numba_loop
def _input_loops(images, count, channels, height, width, padding_y, padding_x, tiles_y, tiles_x,
                 transformed, first, last):
    """V = B^T d B for every 4x4 tile d: images (N, C, H, W) -> transformed (16, C, T), flat.

    Items: planes c*N + n (image n moving fastest, so that consecutive planes
    continue the same 16 rows of V). Each plane is first copied into a
    zero-padded block, so the tiles read no padding tests, and its tiles'
    values are gathered in ``values`` (16, TY*TX) before they are copied to
    their 16 rows of V: 16 runs of TY*TX values, where writing each tile's 16
    values straight to V would touch 16 places C*T values apart, which the
    processor's cache handles badly (the addresses fall on the same cache sets).
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image                                 # T
    row = 2 * tiles_x + 2                                       # padded block: (2*TY + 2, 2*TX + 2)
    padded = numpy.zeros((2 * tiles_y + 2) * row, dtype=images.dtype)
    values = numpy.empty(16 * per_image, dtype=images.dtype)
    for plane in range(first, last):
        c, n = plane // count, plane % count
        image = (n * channels + c) * height * width
        for y in range(height):
            for x in range(width):
                padded[unsigned((y + padding_y) * row + padding_x + x)] = images[
                    unsigned(image + y * width + x)]
        for ty in range(tiles_y):
            for tx in range(tiles_x):
                corner = 2 * ty * row + 2 * tx                  # d[0][0]
                # B^T d: columns j of d, each four values
                c0 = _b_t(*load_four(padded, corner, row))
                c1 = _b_t(*load_four(padded, corner + 1, row))
                c2 = _b_t(*load_four(padded, corner + 2, row))
                c3 = _b_t(*load_four(padded, corner + 3, row))
                t = ty * tiles_x + tx
                for i in range(4):                              # (B^T d) B: row i
                    store_four(values, 4 * i * per_image + t, per_image, _b_t(c0[i], c1[i], c2[i], c3[i]))
        scatter_runs(values, per_image, transformed, c * columns + n * per_image, channels * columns,
                 per_image, 16)


@numba_loop
def _output_loops(product, count, filters, out_height, out_width, tiles_y, tiles_x, bias,
                  images, first, last):
    """y = A^T M A + b for every tile: product M (16, F, T) -> images (N, F, OH, OW), flat.

    Items: planes f*N + n (image n moving fastest), a run of images of one
    filter at a time. The run's 16 runs of P tiles' values are first copied
    into ``values`` (16, P), as _input_loops does the other way round; A^T M A
    is then computed in one pass along the run's tiles t, the four output
    pixels of tile t, (y00, y01, y10, y11), into ``corners`` (4, P); and last
    every image row is filled from its two rows of ``corners`` (even pixels
    from y?0, odd ones from y?1). The last tile's second row or column is
    dropped where OH or OW is odd.
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image
    longest = max(1, RUN_VALUES // per_image)
    values = numpy.empty(16 * longest * per_image, dtype=product.dtype)
    corners = numpy.empty(4 * longest * per_image, dtype=product.dtype)
    pairs = out_width // 2
    plane = first
    while plane < last:
        f, n = plane // count, plane % count
        run = _run_length(plane, last, count, longest)
        p = run * per_image                                     # P
        gather_runs(product, f * columns + n * per_image, filters * columns, p, values, 16)
        b = bias[f]                                             # zeros when the layer has none
        for t in range(p):
            # A^T M: columns j of M (values j, 4 + j, 8 + j, 12 + j), four values to two
            c0 = _a_t(*load_four(values, t, 4 * p))
            c1 = _a_t(*load_four(values, t + p, 4 * p))
            c2 = _a_t(*load_four(values, t + 2 * p, 4 * p))
            c3 = _a_t(*load_four(values, t + 3 * p, 4 * p))
            for i in range(2):                                  # (A^T M) A: row i, two pixels
                top = _a_t(c0[i], c1[i], c2[i], c3[i])
                corners[unsigned(2 * i * p + t)] = top[0] + b
                corners[unsigned((2 * i + 1) * p + t)] = top[1] + b
        for image in range(run):
            start = ((n + image) * filters + f) * out_height * out_width
            for y in range(out_height):
                at = start + y * out_width
                even = 2 * (y & 1) * p + image * per_image + (y >> 1) * tiles_x   # y?0 of the row
                for pair in range(pairs):
                    images[unsigned(at + 2 * pair)] = corners[unsigned(even + pair)]
                    images[unsigned(at + 2 * pair + 1)] = corners[unsigned(even + p + pair)]
                if out_width & 1:
                    images[unsigned(at + out_width - 1)] = corners[unsigned(even + pairs)]
        plane += run


@numba_loop
def _gradient_loops(grad_images, count, filters, out_height, out_width, tiles_y, tiles_x,
                    transformed, sums, first, last):
    """dM = A dY A^T for every 2x2 tile dY of dL/dy (zeros beyond OH, OW):
    grad_images (N, F, OH, OW) -> transformed (16, F, T), flat; and sums[f*N + n] = the
    sum of plane (n, f) in float64 (for dL/db).

    Items: planes f*N + n, a run of images of one filter at a time, the
    reverse of _output_loops: each plane's pixels go to ``corners`` (4, P),
    pixel (2ty + i, 2tx + j) of the plane to row 2i + j at its tile t; A dY A^T
    is computed in one pass along t into ``values`` (16, P); its 16 rows go to
    their rows of dM. The plane's sum is added in four running sums (pixels
    4m, 4m + 1, 4m + 2, 4m + 3), so that one does not wait for the other.
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image
    pixels = out_height * out_width
    longest = max(1, RUN_VALUES // per_image)
    values = numpy.empty(16 * longest * per_image, dtype=grad_images.dtype)
    corners = numpy.zeros(4 * longest * per_image, dtype=grad_images.dtype)  # beyond OH, OW: 0
    pairs = out_width // 2
    plane = first
    while plane < last:
        f, n = plane // count, plane % count
        run = _run_length(plane, last, count, longest)
        p = run * per_image
        if (out_height | out_width) & 1:
            corners[:4 * p] = 0             # a shorter run's rows start elsewhere: clear the gaps
        for image in range(run):
            start = ((n + image) * filters + f) * pixels
            s0, s1, s2, s3 = 0.0, 0.0, 0.0, 0.0
            for m in range(pixels // 4):
                at = start + 4 * m
                s0 += grad_images[unsigned(at)]
                s1 += grad_images[unsigned(at + 1)]
                s2 += grad_images[unsigned(at + 2)]
                s3 += grad_images[unsigned(at + 3)]
            for pixel in range(pixels - pixels % 4, pixels):
                s0 += grad_images[unsigned(start + pixel)]
            sums[plane + image] = (s0 + s1) + (s2 + s3)
            for y in range(out_height):
                at = start + y * out_width
                even = 2 * (y & 1) * p + image * per_image + (y >> 1) * tiles_x
                for pair in range(pairs):
                    corners[unsigned(even + pair)] = grad_images[unsigned(at + 2 * pair)]
                    corners[unsigned(even + p + pair)] = grad_images[unsigned(at + 2 * pair + 1)]
                if out_width & 1:
                    corners[unsigned(even + pairs)] = grad_images[unsigned(at + out_width - 1)]
        for i in range(4):                                      # row i of A dY A^T
            for t in range(p):
                # (A dY)[i]: row i of A times the two columns of dY (corners 0, 2 and 1, 3)
                c0 = _a(corners[unsigned(t)], corners[unsigned(2 * p + t)])[i]
                c1 = _a(corners[unsigned(p + t)], corners[unsigned(3 * p + t)])[i]
                store_four(values, 4 * i * p + t, p, _a(c0, c1))            # times A^T
        scatter_runs(values, p, transformed, f * columns + n * per_image, filters * columns, p, 16)
        plane += run


@numba_loop
def _input_adjoint_loops(transformed, count, channels, height, width, padding_y, padding_x,
                         tiles_y, tiles_x, grad_images, first, last):
    """dL/dx = B dV B^T added into every tile's place: transformed dV (16, C, T) ->
    grad_images (N, C, H, W), flat. Items: planes c*N + n; each plane's 16 runs of
    dV are gathered in ``values`` first. Tiles overlap by two rows or columns; they
    are added in row-major order of the tiles, then the padding is cut off."""
    per_image = tiles_y * tiles_x
    columns = count * per_image
    row = 2 * tiles_x + 2
    padded = numpy.empty((2 * tiles_y + 2) * row, dtype=grad_images.dtype)
    values = numpy.empty(16 * per_image, dtype=grad_images.dtype)
    for plane in range(first, last):
        c, n = plane // count, plane % count
        gather_runs(transformed, c * columns + n * per_image, channels * columns, per_image, values, 16)
        padded[:] = 0
        for ty in range(tiles_y):
            for tx in range(tiles_x):
                t = ty * tiles_x + tx
                # B dV: columns j of dV, four values
                c0 = _b(*load_four(values, t, 4 * per_image))
                c1 = _b(*load_four(values, t + per_image, 4 * per_image))
                c2 = _b(*load_four(values, t + 2 * per_image, 4 * per_image))
                c3 = _b(*load_four(values, t + 3 * per_image, 4 * per_image))
                corner = 2 * ty * row + 2 * tx
                for i in range(4):                              # (B dV) B^T: row i
                    values_i = _b(c0[i], c1[i], c2[i], c3[i])
                    at = corner + i * row
                    for j in range(4):
                        padded[unsigned(at + j)] += values_i[j]
        image = (n * channels + c) * height * width
        for y in range(height):
            for x in range(width):
                grad_images[unsigned(image + y * width + x)] = padded[
                    unsigned((y + padding_y) * row + padding_x + x)]


# ----- the numba backend's convolution -------------------------------------------------------

def products(left, right, out, transpose_left=False, transpose_right=False):
    """out[k] = left[k] @ right[k] for the 16 values k (36 for winograd_4x4.py; each operand optionally
    transposed), on minicnn's threads: each thread one stacked product over its share
    of the k (NumPy's matmul, which calls BLAS once per k), BLAS on one thread.
    Below threads.SPLIT_FROM_MULTIPLY_ADDS multiply-adds in all (a batch of a few
    images) the 16 run on the calling thread: handing half to another thread would
    cost more than it saves (threads.py says why)."""
    return products_together((left, right, out, transpose_left, transpose_right))[0]


def products_together(*jobs):
    """``products`` of several (left, right, out, transpose_left, transpose_right) with the
    same number of k at once: each thread takes the same share of the k of every job, so
    the threads are woken once for all of them. Each array is a stack (K, rows, columns),
    left[k] (A, B) or (B, A) transposed, right[k] (B, D) or (D, B), out[k] (A, D).
    Returns the outs."""
    def work(first, last):
        for left, right, out, transpose_left, transpose_right in jobs:
            a, b = left[first:last], right[first:last]
            numpy.matmul(a.transpose(0, 2, 1) if transpose_left else a,
                         b.transpose(0, 2, 1) if transpose_right else b, out=out[first:last])

    multiply_adds = sum(out.size * (left.shape[1] if transpose_left else left.shape[2])
                        for left, _, out, transpose_left, _ in jobs)
    with threads.blas_on_one_thread():
        if multiply_adds < threads.SPLIT_FROM_MULTIPLY_ADDS:
            work(0, len(jobs[0][0]))
        else:
            threads.parallel_for(len(jobs[0][0]), work)
    return [out for _, _, out, _, _ in jobs]


def winograd_forward_numba(x, weight, bias, padding, out):
    """The Numba twin of ``winograd_forward``, keeping what backward needs.

    Returns (y, saved): y (N, F, OH, OW); saved = (V, U), V (16, C, T) the
    transformed input tiles and U (16, F, C) the transformed filters.
    """
    check_output_size("winograd_forward_numba", x.shape, padding, out)
    x = numpy.ascontiguousarray(x)
    batch, channels, height, width = x.shape
    filters = weight.shape[0]
    tiles_y, tiles_x = tiles(out)
    columns = batch * tiles_y * tiles_x                                        # T
    dtype = x.dtype
    u = numpy.empty((16, filters, channels), dtype)
    _weight_loops(flat(weight), *ints(filters, channels), u.reshape(-1), 0, filters)
    v = buffers.empty((16, channels, columns), dtype)
    share_out(_input_loops, batch * channels, flat(x),
              *ints(batch, channels, height, width, *padding, tiles_y, tiles_x), v.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    m = products(u, v, buffers.empty((16, filters, columns), dtype))         # M[k] = U[k] @ V[k]
    bias = numpy.zeros(filters, dtype) if bias is None else numpy.ascontiguousarray(bias)
    y = buffers.empty((batch, filters) + tuple(out), dtype)
    share_out(_output_loops, batch * filters, m.reshape(-1),
              *ints(batch, filters, *out, tiles_y, tiles_x), bias, y.reshape(-1),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return y, (v, u)


def winograd_backward_numba(grad_y, saved, input_shape, padding, needs_x, needs_weight, needs_bias):
    """(dL/dx, dL/dw, dL/db) of ``winograd_forward_numba``'s y, from its ``saved`` (V, U).

    grad_y: (N, F, OH, OW); input_shape: (N, C, H, W). Each gradient is None
    where its ``needs_*`` is False.
    """
    v, u = saved
    batch, channels, height, width = input_shape
    filters, out = grad_y.shape[1], tuple(grad_y.shape[2:])
    check_output_size("winograd_backward_numba", input_shape, padding, out)
    tiles_y, tiles_x = tiles(out)
    columns = batch * tiles_y * tiles_x
    dtype = v.dtype
    grad_m = buffers.empty((16, filters, columns), dtype)
    sums = numpy.empty(filters * batch, numpy.float64)
    share_out(_gradient_loops, batch * filters, flat(grad_y),
              *ints(batch, filters, *out, tiles_y, tiles_x), grad_m.reshape(-1), sums,
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    grad_x = grad_weight = grad_bias = None
    if needs_bias:
        grad_bias = sums.reshape(filters, batch).sum(axis=1).astype(dtype)
    if needs_weight:
        grad_u = products(grad_m, v, numpy.empty((16, filters, channels), dtype),
                           transpose_right=True)                               # dU[k] = dM[k] @ V[k]^T
        grad_weight = numpy.empty((filters, channels, 3, 3), dtype)
        _weight_adjoint_loops(grad_u.reshape(-1), *ints(filters, channels), grad_weight.reshape(-1),
                              0, filters)
    if needs_x:
        grad_v = products(u, grad_m, buffers.empty((16, channels, columns), dtype),
                           transpose_left=True)                                # dV[k] = U[k]^T @ dM[k]
        grad_x = buffers.empty(tuple(input_shape), dtype)
        share_out(_input_adjoint_loops, batch * channels, grad_v.reshape(-1),
                  *ints(batch, channels, height, width, *padding, tiles_y, tiles_x),
                  grad_x.reshape(-1), share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return grad_x, grad_weight, grad_bias
