"""Before: Winograd's output transform and dL/dy's tile by tile, and its 16 products always
shared out, as kernels/winograd.py had them.

The engine now computes these two transforms along runs of tiles
(consecutive images of one filter), so that the compiler vectorises them;
these are the loops they replaced, kept for the A/Bs beside them
(loops_ab.py, step_ab.py), with scatter_runs's new row-length argument. They
give the same numbers (dL/db's plane sums to rounding: the engine adds them
in four running sums). ``_products`` shared the 16 products out among the
threads at every size; the engine's runs them on the calling thread below
threads.SPLIT_FROM_MULTIPLY_ADDS (small_batch_ab.py).
"""

import numpy

from minicnn.engine import threads
from minicnn.engine.kernels.compiled import numba_loop, unsigned
from minicnn.engine.kernels.winograd import _a, _a_t, gather_runs, load_four, scatter_runs, store_four


@numba_loop
def _output_loops(product, count, filters, out_height, out_width, tiles_y, tiles_x, bias,
                  images, first, last):
    """y = A^T M A + b for every tile: product M (16, F, T) -> images (N, F, OH, OW), flat.

    Items: planes f*N + n (image n moving fastest: consecutive planes read
    on along the same 16 rows of M). A plane's 16 runs of TY*TX values are
    first copied into ``values``, as _input_loops does the other way round.
    The last tile's second row or column is dropped where OH or OW is odd.
    """
    per_image = tiles_y * tiles_x
    columns = count * per_image
    values = numpy.empty(16 * per_image, dtype=product.dtype)
    for plane in range(first, last):
        f, n = plane // count, plane % count
        gather_runs(product, f * columns + n * per_image, filters * columns, per_image, values, 16)
        image = (n * filters + f) * out_height * out_width
        b = bias[f]                                             # zeros when the layer has none
        for ty in range(tiles_y):
            for tx in range(tiles_x):
                t = ty * tiles_x + tx
                # A^T M: columns j of M, four values to two
                c0 = _a_t(*load_four(values, t, 4 * per_image))
                c1 = _a_t(*load_four(values, t + per_image, 4 * per_image))
                c2 = _a_t(*load_four(values, t + 2 * per_image, 4 * per_image))
                c3 = _a_t(*load_four(values, t + 3 * per_image, 4 * per_image))
                for i in range(2):                              # (A^T M) A: row i
                    y = 2 * ty + i
                    if y < out_height:
                        top = _a_t(c0[i], c1[i], c2[i], c3[i])
                        x = 2 * tx
                        images[unsigned(image + y * out_width + x)] = top[0] + b
                        if x + 1 < out_width:
                            images[unsigned(image + y * out_width + x + 1)] = top[1] + b


@numba_loop
def _gradient_loops(grad_images, count, filters, out_height, out_width, tiles_y, tiles_x,
                    transformed, sums, first, last):
    """dM = A dY A^T for every 2x2 tile dY of dL/dy (zeros beyond OH, OW):
    grad_images (N, F, OH, OW) -> transformed (16, F, T), flat; and sums[f*N + n] = the
    sum of plane (n, f) in float64 (for dL/db). Items: planes f*N + n; each plane's
    values are gathered in ``values`` first, as in _input_loops."""
    per_image = tiles_y * tiles_x
    columns = count * per_image
    zero = numpy.zeros(1, dtype=grad_images.dtype)[0]
    values = numpy.empty(16 * per_image, dtype=grad_images.dtype)
    for plane in range(first, last):
        f, n = plane // count, plane % count
        image = (n * filters + f) * out_height * out_width
        total = 0.0
        for pixel in range(out_height * out_width):
            total += grad_images[unsigned(image + pixel)]
        sums[plane] = total
        for ty in range(tiles_y):
            for tx in range(tiles_x):
                y, x = 2 * ty, 2 * tx
                top = image + y * out_width + x
                g00 = grad_images[unsigned(top)]
                g01 = grad_images[unsigned(top + 1)] if x + 1 < out_width else zero
                g10, g11 = zero, zero
                if y + 1 < out_height:
                    g10 = grad_images[unsigned(top + out_width)]
                    g11 = grad_images[unsigned(top + out_width + 1)] if x + 1 < out_width else zero
                c0 = _a(g00, g10)                               # A dY: columns j, two to four
                c1 = _a(g01, g11)
                t = ty * tiles_x + tx
                for i in range(4):                              # (A dY) A^T: row i, two to four
                    store_four(values, 4 * i * per_image + t, per_image, _a(c0[i], c1[i]))
        scatter_runs(values, per_image, transformed, f * columns + n * per_image, filters * columns,
                 per_image, 16)


def _products(left, right, out, transpose_left=False, transpose_right=False):
    """out[k] = left[k] @ right[k] for the 16 values k, always shared out among minicnn's threads."""
    def work(first, last):
        a, b = left[first:last], right[first:last]
        numpy.matmul(a.transpose(0, 2, 1) if transpose_left else a,
                     b.transpose(0, 2, 1) if transpose_right else b, out=out[first:last])

    with threads.blas_on_one_thread():
        threads.parallel_for(16, work)
    return out
