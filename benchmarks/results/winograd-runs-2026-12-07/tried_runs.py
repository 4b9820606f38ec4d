"""Tried and not kept: Winograd's input transform and its adjoint along runs of tiles.

kernels/winograd.py computes the output transform and dL/dy's along a run of
tiles (consecutive images of one filter), one row of the result at a time,
so that the compiler vectorises them. These are the same idea for the other
two transforms, as they were timed (loops_ab.py): the input transform in two
passes (d B along the padded block's rows, tile by tile; B^T (d B) down the
columns, along the run), and the adjoint's B dV B^T along the run, then
added into the padded block tile by tile. The input transform gained
nothing, the adjoint little (loops-ab.txt): both move 16 values per tile
between the image and the rows one at a time, and that is most of their
work. Equal to the engine's loops (the input transform to rounding:
it adds in another order), which loops_ab.py checks.
"""

import numpy

from minicnn.engine.kernels.compiled import numba_helper, numba_loop, unsigned
from minicnn.engine.kernels.winograd import (RUN_VALUES, _b, _b_t, gather_runs, load_four, _run_length,
                                             scatter_runs, store_four)


@numba_helper
def _columns(rows, at, odd, down):
    """rows[at], rows[at + odd], rows[at + down], rows[at + odd + down]: the rows 2ty .. 2ty+3
    under a tile (even, odd, next even, next odd)."""
    return (rows[unsigned(at)], rows[unsigned(at + odd)], rows[unsigned(at + down)],
            rows[unsigned(at + odd + down)])


@numba_loop
def _input_loops(images, count, channels, height, width, padding_y, padding_x, tiles_y, tiles_x,
                 transformed, first, last):
    """V = B^T d B for every 4x4 tile d: images (N, C, H, W) -> transformed (16, C, T), flat.

    Items: planes c*N + n (image n moving fastest), a run of images of one
    channel at a time. Each plane is copied into a zero-padded block (so the
    tiles read no padding tests); then, in two passes,

    1. d B, along the block's rows: every row r of the block gives each tile
       column tx four values, B^T applied to the row's four pixels under the
       tile, (d[r][2tx], ..., d[r][2tx+3]). They are kept in ``rows``
       (4 values j, 2 row parities, the run's images, TY + 1 rows a, TX), at
       [((j*2 + r%2)*run + image)*(TY + 1) + r//2]*TX + tx: the even rows
       r = 2a apart from the odd ones, so that the four rows 2ty .. 2ty+3 of
       tile (ty, tx) sit at q, q, q + TX, q + TX of the two parities, with
       q = (image*(TY + 1) + ty)*TX + tx;
    2. B^T (d B), down the columns, in one pass along q over the whole run:
       value k = 4i + j into row k of ``staged`` (16, Q). That pass also
       computes the spare row a = TY of each image (never copied out).

    Then each image's 16 runs of TY*TX values go to their rows of V (the
    rows are C*T values apart: written straight from the loop they would fall
    on the same cache sets). The sums are B^T d B's, added in another order
    than the reference's einsum (the same to rounding).
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image                                 # T
    row = 2 * tiles_x + 2                                       # padded block: (2*TY + 2, 2*TX + 2)
    padded = numpy.zeros((2 * tiles_y + 2) * row, dtype=images.dtype)
    longest = max(1, RUN_VALUES // per_image)
    block = (tiles_y + 1) * tiles_x                             # one image's rows a, one parity
    rows = numpy.empty(4 * 2 * longest * block, dtype=images.dtype)
    staged = numpy.empty(16 * longest * block, dtype=images.dtype)
    plane = first
    while plane < last:
        c, n = plane // count, plane % count
        run = _run_length(plane, last, count, longest)
        span = run * block                                      # Q: one parity's values in the run
        for image in range(run):
            start = ((n + image) * channels + c) * height * width
            for y in range(height):
                for x in range(width):
                    padded[unsigned((y + padding_y) * row + padding_x + x)] = images[
                        unsigned(start + y * width + x)]
            for r in range(2 * tiles_y + 2):                    # 1. d B, row by row
                at = (r & 1) * span + (image * (tiles_y + 1) + (r >> 1)) * tiles_x
                for tx in range(tiles_x):
                    four = _b_t(*load_four(padded, r * row + 2 * tx, 1))
                    store_four(rows, at + tx, 2 * span, four)
        for i in range(4):                                      # 2. B^T (d B), along q: row i
            for q in range(span - tiles_x):
                store_four(staged, 4 * i * span + q, span,
                       (_b_t(*_columns(rows, q, span, tiles_x))[i],
                        _b_t(*_columns(rows, 2 * span + q, span, tiles_x))[i],
                        _b_t(*_columns(rows, 4 * span + q, span, tiles_x))[i],
                        _b_t(*_columns(rows, 6 * span + q, span, tiles_x))[i]))
        for image in range(run):
            scatter_runs(staged[image * block:], span, transformed,
                     c * columns + (n + image) * per_image, channels * columns, per_image, 16)
        plane += run


@numba_loop
def _input_adjoint_loops(transformed, count, channels, height, width, padding_y, padding_x,
                         tiles_y, tiles_x, grad_images, first, last):
    """dL/dx = B dV B^T added into every tile's place: transformed dV (16, C, T) ->
    grad_images (N, C, H, W), flat.

    Items: planes c*N + n, a run of images of one channel at a time: the
    run's 16 runs of dV are copied into ``values`` (16, P); B dV B^T is
    computed in one pass along the tiles t, value k into row k of ``spread``
    (16, P); then each image's tiles are added into a zero-padded block, in
    row-major order of the tiles (they overlap by two rows or columns), and
    the padding is cut off.
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image
    row = 2 * tiles_x + 2
    padded = numpy.empty((2 * tiles_y + 2) * row, dtype=grad_images.dtype)
    longest = max(1, RUN_VALUES // per_image)
    values = numpy.empty(16 * longest * per_image, dtype=grad_images.dtype)
    spread = numpy.empty(16 * longest * per_image, dtype=grad_images.dtype)
    plane = first
    while plane < last:
        c, n = plane // count, plane % count
        run = _run_length(plane, last, count, longest)
        p = run * per_image
        gather_runs(transformed, c * columns + n * per_image, channels * columns, p, values, 16)
        for i in range(4):                                      # row i of B dV B^T
            for t in range(p):
                c0 = _b(*load_four(values, t, 4 * p))[i]
                c1 = _b(*load_four(values, t + p, 4 * p))[i]
                c2 = _b(*load_four(values, t + 2 * p, 4 * p))[i]
                c3 = _b(*load_four(values, t + 3 * p, 4 * p))[i]
                store_four(spread, 4 * i * p + t, p, _b(c0, c1, c2, c3))
        for image in range(run):
            padded[:] = 0
            for ty in range(tiles_y):
                for tx in range(tiles_x):
                    t = image * per_image + ty * tiles_x + tx
                    corner = 2 * ty * row + 2 * tx
                    for i in range(4):
                        at = corner + i * row
                        for j in range(4):
                            padded[unsigned(at + j)] += spread[unsigned((4 * i + j) * p + t)]
            start = ((n + image) * channels + c) * height * width
            for y in range(height):
                for x in range(width):
                    grad_images[unsigned(start + y * width + x)] = padded[
                        unsigned((y + padding_y) * row + padding_x + x)]
        plane += run


@numba_helper
def _tap(phases, capacity, q, tiles_x, r, c):
    """d[r][c] of the tile at q."""
    return phases[unsigned((((r & 1) * 2 + (c & 1)) * 2 + (c >> 1)) * capacity + q + (r >> 1) * tiles_x)]

@numba_loop
def _input_loops_from_phases(images, count, channels, height, width, padding_y, padding_x, tiles_y,
                             tiles_x, transformed, first, last):
    """V = B^T d B along a run of images of one channel, from the padded image's phases.

    Pixel (Y, X) of the padded image (Y = y + PH, X = x + PW) goes to phase
    (Y % 2, X % 2), row Y // 2, column X // 2, in two copies shifted by one
    column (dj = 0, 1: ``phases`` holds 8 arrays of (TY + 1, TX) per image), so
    that tap d[i][j] of tile (ty, tx) is phase (i % 2, j % 2, j // 2) at
    q + (i // 2)*TX, q = (image*(TY + 1) + ty)*TX + tx: contiguous along q.
    Then B^T d B one row i at a time along q, as the engine's output
    transform, and each image's 16 runs to V. The same numbers as the
    engine's loop, bit for bit (the same additions in the same order).
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image
    longest = max(1, RUN_VALUES // per_image)
    block = (tiles_y + 1) * tiles_x
    capacity = longest * block
    phases = numpy.zeros(8 * capacity, dtype=images.dtype)
    staged = numpy.empty(16 * capacity, dtype=images.dtype)
    plane = first
    while plane < last:
        c, n = plane // count, plane % count
        run = _run_length(plane, last, count, longest)
        span = run * block
        for image in range(run):
            start = ((n + image) * channels + c) * height * width
            for y in range(height):
                big_y = y + padding_y
                for x in range(width):
                    big_x = x + padding_x
                    m = big_x >> 1
                    at = (((big_y & 1) * 2 + (big_x & 1)) * 2) * capacity + image * block + (big_y >> 1) * tiles_x + m
                    value = images[unsigned(start + y * width + x)]
                    if m < tiles_x:
                        phases[unsigned(at)] = value
                    if m >= 1:
                        phases[unsigned(at + capacity - 1)] = value
        for i in range(4):
            for q in range(span - tiles_x):
                e0 = _b_t(_tap(phases, capacity, q, tiles_x, 0, 0), _tap(phases, capacity, q, tiles_x, 1, 0),
                          _tap(phases, capacity, q, tiles_x, 2, 0), _tap(phases, capacity, q, tiles_x, 3, 0))[i]
                e1 = _b_t(_tap(phases, capacity, q, tiles_x, 0, 1), _tap(phases, capacity, q, tiles_x, 1, 1),
                          _tap(phases, capacity, q, tiles_x, 2, 1), _tap(phases, capacity, q, tiles_x, 3, 1))[i]
                e2 = _b_t(_tap(phases, capacity, q, tiles_x, 0, 2), _tap(phases, capacity, q, tiles_x, 1, 2),
                          _tap(phases, capacity, q, tiles_x, 2, 2), _tap(phases, capacity, q, tiles_x, 3, 2))[i]
                e3 = _b_t(_tap(phases, capacity, q, tiles_x, 0, 3), _tap(phases, capacity, q, tiles_x, 1, 3),
                          _tap(phases, capacity, q, tiles_x, 2, 3), _tap(phases, capacity, q, tiles_x, 3, 3))[i]
                store_four(staged, 4 * i * span + q, span, _b_t(e0, e1, e2, e3))
        for image in range(run):
            scatter_runs(staged[image * block:], span, transformed, c * columns + (n + image) * per_image,
                     channels * columns, per_image, 16)
        plane += run
