"""A convolution's product pooled straight from its rows: a route of conv2d+max_pool2d.

The reference runs the two ops one after the other (functional/conv_pool.py):

    forward    cols = im2col(x)                       (K, N*S)      S = OH*OW
               rows = W @ cols                        (F, N*S)
               y    = rows laid out as images, + b    (N, F, OH, OW)   written to memory
               pooled, switches = max_pool2d(y)       (N, F, PH, PW)   y read back
    backward   dL/dy = the pooled gradient put back at the switches   (N, F, OH, OW)
               g     = dL/dy laid out as rows, and its sums (dL/db)   (F, N*S)
               dL/dW = g @ cols^T,  dL/dx = col2im(W^T @ g)

y and dL/dy are the largest arrays of such a layer besides cols (keras-MNIST's
second convolution at batch 128: 4 MB each), and each is written once and
read once just to change its layout. Here the product stays one matrix
product over the whole batch (the layer's K = C*KH*KW is large enough for
BLAS to run well: CHUNKS_BELOW_ROWS and more, the first layers take the
chunks route), and only the layout moves go a chunk of images at a time on
each thread, through a block that stays in the cache:

    forward    for each chunk of images n0 .. n1-1:
                   block  = rows[:, n0*S : n1*S] laid out as images, + b   (in the cache)
                   pooled[n0:n1], switches[n0:n1] = max_pool2d(block)
    backward   for each chunk:
                   block = the chunk's pooled gradient put back at its switches (in the cache)
                   g[:, n0*S : n1*S] = block laid out as rows; sums_c = its sums per pixel, float64
               dL/db = sums_0 + sums_1 + ..., in chunk order, then over the pixels

The loops are the reference's (conv_layout.py's layout, pooling.py's
pooling and scatter) or copies of them with a chunk's offsets, so the
output, the switches, g and dL/dW are the reference's bit for bit. dL/db
adds the same values in another order (chunk by chunk; the same for any
number of threads), and dL/dx is the chunks route's col2im(W^T @ g)
(convolution.py), which conv2d's own backward takes on this backend too.
tests/test_routes.py compares them all with the reference.

Where the pool leaves few switches and the layer has channels enough, the
route "im2col pooled, gradients at switches" takes this forward pass and
skips the backward pass above: its gradients are read at the switches only
(switch_gradients.py).
"""

import numpy

from .. import buffers, threads
from .compiled import flat, ints, numba_loop, unsigned
from .convolution import images_per_chunk, input_gradient_numba, sum_in_chunk_order
from .im2col_col2im import im2col_numba


@numba_loop
def _rows_to_block_loops(rows, batch, filters, size, bias, first_image, count, block):
    """rows: (F, N, S) flat -> block: (count, F, S) flat, images first_image .. +count-1:

        block[(m*F + f)*S + s] = rows[(f*N + first_image + m)*S + s] + bias[f]

    conv_layout's rows_to_images_plus_bias for a chunk of images (the same additions)."""
    for m in range(count):
        for f in range(filters):
            source, target = (f * batch + first_image + m) * size, (m * filters + f) * size
            shift = bias[f]
            for s in range(size):
                block[unsigned(target + s)] = rows[unsigned(source + s)] + shift


@numba_loop
def _block_to_rows_loops(block, batch, filters, size, first_image, count, rows, per_pixel):
    """block: (count, F, S) flat -> rows: (F, N, S) flat, images first_image .. +count-1;
    per_pixel: (F, S) float64, this chunk's sums over its images, written.

        rows[(f*N + first_image + m)*S + s] = block[(m*F + f)*S + s]

    conv_layout's images_to_rows_and_sums for a chunk of images (the same copies; the
    sums per pixel are the chunk's, added over the chunks by the caller)."""
    for f in range(filters):
        sums = f * size
        for s in range(size):
            per_pixel[unsigned(sums + s)] = 0.0
        for m in range(count):
            source, target = (m * filters + f) * size, (f * batch + first_image + m) * size
            for s in range(size):
                value = block[unsigned(source + s)]
                rows[unsigned(target + s)] = value
                per_pixel[unsigned(sums + s)] += value


def _chunks(batch, filters, size, dtype):
    per_chunk = images_per_chunk(filters * size * numpy.dtype(dtype).itemsize, batch)
    return per_chunk, -(-batch // per_chunk)


def conv2d_max_pool_forward_rows(x, weight, bias, stride, padding, dilation, out, pool, positive=None):
    """max_pool2d(conv2d(x)): im2col and one product for the whole batch, pooled from the
    product's rows a chunk of images at a time (formulas above).

    pool: (kernel, stride, padding, dilation, pooled), (h, w) pairs. Returns
    (pooled (N, F, PH, PW), switches (N, F, PH, PW) int64, cols (K, N*S)), the
    reference's numbers; cols is kept for the backward pass, as the reference keeps it.
    positive: None, or a bool array (N, F, PH, PW): then relu(max_pool2d(conv2d(x))),
    each chunk's maxima put through ReLU while in the cache, and relu's mask written
    into positive (pooling.py, chunk_pooler).
    """
    from .pooling import chunk_pooler
    x = numpy.ascontiguousarray(x)
    batch = x.shape[0]
    filters, _, kernel_height, kernel_width = weight.shape
    size = out[0] * out[1]
    cols = im2col_numba(x, (kernel_height, kernel_width), stride, padding, out, dilation=dilation)
    rows = threads.matmul(numpy.ascontiguousarray(weight).reshape(filters, -1),
                          cols.reshape(-1, batch * size))                    # W @ cols: (F, N*S)
    bias = numpy.zeros(filters, x.dtype) if bias is None else numpy.ascontiguousarray(bias)
    pooled = buffers.empty((batch, filters) + tuple(pool[4]), x.dtype)
    switches = buffers.empty((batch, filters) + tuple(pool[4]), numpy.int64)
    pool_planes = chunk_pooler(out, pool, x.dtype)
    per_chunk, chunks = _chunks(batch, filters, size, x.dtype)
    rows_flat = flat(rows)
    mask = None if positive is None else positive.reshape(-1)

    def work(first_chunk, last_chunk):
        block_memory = buffers.empty((per_chunk * filters * size,), x.dtype)
        for chunk in range(first_chunk, last_chunk):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            block = block_memory[:count * filters * size]
            _rows_to_block_loops(rows_flat, *ints(batch, filters, size), bias, *ints(start, count), block)
            pool_planes(block, pooled.reshape(-1), switches.reshape(-1), start * filters, count * filters,
                        mask)

    threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    return pooled, switches, cols


def conv2d_max_pool_backward_rows(grad_pooled, switches, cols, weight, input_shape, stride, padding,
                                  dilation, out, needs_x, needs_weight, needs_bias):
    """(dL/dx, dL/dW, dL/db) of ``conv2d_max_pool_forward_rows``'s output, from the pooled
    gradient, the switches and the columns (formulas above)."""
    from .pooling import _maxpool_scatter_loops
    batch = input_shape[0]
    filters = weight.shape[0]
    size = out[0] * out[1]
    windows = grad_pooled.shape[2] * grad_pooled.shape[3]
    dtype = cols.dtype
    values = numpy.ascontiguousarray(grad_pooled).reshape(-1, windows)          # (N*F, PH*PW)
    indices = numpy.ascontiguousarray(switches).reshape(-1, windows)
    per_chunk, chunks = _chunks(batch, filters, size, dtype)
    g = buffers.empty((filters, batch * size), dtype)
    g_flat = g.reshape(-1)
    per_pixel = numpy.empty((chunks, filters, size), numpy.float64)

    def work(first_chunk, last_chunk):
        block_memory = buffers.empty((per_chunk * filters * size,), dtype)
        for chunk in range(first_chunk, last_chunk):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            block = block_memory[:count * filters * size]
            planes = slice(start * filters, (start + count) * filters)
            out_of_range = numpy.zeros(count * filters, dtype=numpy.int64)
            _maxpool_scatter_loops(values[planes], indices[planes], block.reshape(count * filters, size),
                                   out_of_range, 0, count * filters)
            _block_to_rows_loops(block, *ints(batch, filters, size, start, count), g_flat,
                                 per_pixel[chunk].reshape(-1))

    threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    grad_x = grad_weight = grad_bias = None
    if needs_bias:
        grad_bias = sum_in_chunk_order(per_pixel).sum(axis=1).astype(dtype)
    if needs_weight:              # dL/dW = g @ cols^T, as (cols @ g^T)^T: the reference's product
        grad_weight = threads.matmul(cols.reshape(-1, batch * size), g.T).T.reshape(weight.shape)
    if needs_x:                                                                   # col2im(W^T @ g)
        grad_x = input_gradient_numba(g, weight, tuple(input_shape), stride, padding, dilation, out)
    return grad_x, grad_weight, grad_bias
