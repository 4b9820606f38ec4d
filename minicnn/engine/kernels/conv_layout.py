"""The convolution's two layouts, and the moves between them.

A convolution computes its whole batch as one matrix product (see
functional/conv.py), with one row per filter and one column per window
of every image. Everything else sees images:

    rows:    (F, N*S)     one row per filter, the images side by side:
                          rows[f, n*S + s]     S = OH*OW pixels per map
    images:  (N, F, S)    one map per image and filter, as layers pass them:
                          images[n, f, s]      (reshaped to (N, F, OH, OW))

    rows_to_images_plus_bias   the forward product W @ cols, plus the bias
                               b[f], laid out as images:  y = W @ cols + b
    images_to_rows             the gradient dL/dy laid out as rows, g
    images_to_rows_and_sums    g, and its row sums: dL/db = sum of g over
                               the N*S columns, added in float64

In this file: the plain-array references (read these to learn), then their
Numba twins (``*_numba``). There are no CUDA twins: on the GPU the
references are CuPy's own copies and sums. What the twins share is
explained in kernels/compiled.py; which of them run, and when, in
kernels/__init__.py.

Why twins for a transpose: the reference makes one pass for the bias (or
the sums) and another for the copy, on one thread; a loop does both in one
pass, on every thread, moving whole (n, f) blocks of S values, which are
contiguous in both layouts. The same additions in the same order: the
twins agree bit for bit.
"""

import numpy

from ..backend import get_array_module
from .. import buffers
from .compiled import flat, ints, numba_loop, share_out, unsigned


# ==========================================================================
# References (NumPy or CuPy)
# ==========================================================================

def rows_to_images_plus_bias(rows, batch, bias=None):
    """A convolution's (F, N*S) product -> (N, F, S) images, plus the bias.

    rows: (F, N*S) with S = OH*OW, one row per filter; batch: N;
    bias: (F,) or None. Returns out: (N, F, S), C-contiguous, with

        out[n, f, s] = rows[f, n*S + s] + bias[f]
    """
    xp = get_array_module(rows)
    filters, size = rows.shape[0], _pixels_per_map(rows, batch)
    if bias is not None:
        rows = rows + bias.reshape(filters, 1)
    return xp.ascontiguousarray(rows.reshape(filters, batch, size).transpose(1, 0, 2))


def _pixels_per_map(rows, batch):
    """S = OH*OW of an (F, N*S) matrix; 0 for an empty batch (N = 0), which has no maps."""
    return rows.shape[1] // batch if batch else 0


def images_to_rows(images):
    """(N, F, OH, OW) -> (F, N*OH*OW), C-contiguous: one row per filter.

        out[f, n*S + s] = images[n, f, s]   with S = OH*OW
    """
    n, filters = images.shape[:2]
    return images.transpose(1, 0, 2, 3).reshape(filters, -1)


def images_to_rows_and_sums(images):
    """images_to_rows(images), and its row sums: the gradient of a convolution's bias.

    images: (N, F, OH, OW). Returns (rows (F, N*OH*OW), sums (F,) in images'
    dtype). The sums are added in float64 (a filter's bias gradient sums
    N*OH*OW terms: tens of thousands in a first layer), first over the
    images in order, then over the pixels:

        per_pixel[f, s] = images[0, f, s] + images[1, f, s] + ... + images[N-1, f, s]
        sums[f]         = sum over s of per_pixel[f, s]        (NumPy's sum)
    """
    xp = get_array_module(images)
    n, filters = images.shape[:2]
    size = images.shape[2] * images.shape[3]
    per_pixel = images.reshape(n, filters, size).sum(axis=0, dtype=xp.float64)
    return images_to_rows(images), per_pixel.sum(axis=1).astype(images.dtype)


# ==========================================================================
# Numba twins (CPU): whole blocks of S values, shared out among the threads
# ==========================================================================

@numba_loop
def _rows_to_images_loops(rows, batch, filters, size, bias, add_bias, out, first, last):
    """rows: (F, N, S) -> out: (N, F, S), both flat, out written in place.

        out[(n*F + f)*S + s] = rows[(f*N + n)*S + s] (+ bias[f] if add_bias)

    Each (n, f) block of S values is one contiguous read and one contiguous
    write; the blocks are shared out among the threads.
    """
    for block in range(first, last):   # of batch * filters: this thread's share
        n, f = block // filters, block % filters
        source, target = (f * batch + n) * size, block * size
        if add_bias:
            shift = bias[f]
            for s in range(size):
                out[unsigned(target + s)] = rows[unsigned(source + s)] + shift
        else:
            for s in range(size):
                out[unsigned(target + s)] = rows[unsigned(source + s)]


def rows_to_images_plus_bias_numba(rows, batch, bias=None):
    """Numba twin of ``rows_to_images_plus_bias``, equal to it bit for bit.

    rows: (F, N*S); bias: (F,) or None. Returns (N, F, S), dtype of rows.
    """
    filters, size = rows.shape[0], _pixels_per_map(rows, batch)
    out = buffers.empty((batch, filters, size), rows.dtype)
    add_bias = bias is not None
    bias = numpy.ascontiguousarray(bias) if add_bias else numpy.zeros(filters, dtype=rows.dtype)
    share_out(_rows_to_images_loops, batch * filters, flat(rows), *ints(batch, filters, size), bias, add_bias, out.reshape(-1))
    return out


@numba_loop
def _images_to_rows_loops(images, batch, filters, size, out, first, last):
    """images: (N, F, S) -> out: (F, N, S), both flat, out written in place."""
    for block in range(first, last):   # of batch * filters: this thread's share
        f, n = block // batch, block % batch
        source, target = (n * filters + f) * size, block * size
        for s in range(size):
            out[unsigned(target + s)] = images[unsigned(source + s)]


def images_to_rows_numba(images):
    """Numba twin of ``images_to_rows``, equal to it bit for bit.

    images: (N, F, OH, OW). Returns (F, N*OH*OW), dtype of images.
    """
    batch, filters = images.shape[:2]
    size = images.shape[2] * images.shape[3]
    out = buffers.empty((filters, batch * size), images.dtype)
    share_out(_images_to_rows_loops, batch * filters, flat(images), *ints(batch, filters, size), out.reshape(-1))
    return out


@numba_loop
def _images_to_rows_and_sums_loops(images, batch, filters, size, out, per_pixel, first, last):
    """images: (N, F, S) -> out: (F, N, S), and per_pixel: (F, S) float64 sums over n.

    One filter per task: its N blocks are copied in order and added, in
    float64, into that filter's S running sums (independent lanes, which
    the compiler vectorises): the reference's order, image by image.
    """
    for f in range(first, last):   # of filters: this thread's share
        sums = f * size
        for s in range(size):
            per_pixel[unsigned(sums + s)] = 0.0
        for n in range(batch):
            source, target = (n * filters + f) * size, (f * batch + n) * size
            for s in range(size):
                value = images[unsigned(source + s)]
                out[unsigned(target + s)] = value
                per_pixel[unsigned(sums + s)] += value


def images_to_rows_and_sums_numba(images):
    """Numba twin of ``images_to_rows_and_sums``, equal to it bit for bit.

    images: (N, F, OH, OW). Returns (rows (F, N*OH*OW), sums (F,)), dtype of images.
    """
    batch, filters = images.shape[:2]
    size = images.shape[2] * images.shape[3]
    out = buffers.empty((filters, batch * size), images.dtype)
    per_pixel = numpy.empty((filters, size), dtype=numpy.float64)
    share_out(_images_to_rows_and_sums_loops, filters, flat(images), *ints(batch, filters, size), out.reshape(-1),
                                   per_pixel.reshape(-1))
    return out, per_pixel.sum(axis=1).astype(images.dtype)   # the last sum is NumPy's, as in the reference
