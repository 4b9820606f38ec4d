"""The whole convolution, a few images at a time: the Numba backend's conv2d.

functional/conv.py computes a convolution as im2col, one matrix product for
the whole batch, and a change of layout (its docstring has the formulas):

    forward    cols = im2col(x)          (K, N*S)   K = C*KH*KW, S = OH*OW
               y    = W @ cols + b       (F, N*S), laid out as (N, F, OH, OW)
    backward   g     = dL/dy as rows     (F, N*S)
               dL/db = sum of g over the N*S columns
               dL/dW = g @ cols^T        (F, K)
               dL/dx = col2im(W^T @ g)   (N, C, H, W)

Those matrices are large: for keras-MNIST's second convolution at batch
128, cols and W^T @ g are 17.8 MB each. Each is written to memory and read
back, and on the 2-core machine these kernels were tuned on that costs
more than the arithmetic (its memory's speed: benchmarks/README.md,
"Figures moved from the engine's comments"). Every column of them, though,
belongs to one image. So the functions here compute the same formulas for
a chunk of a few images at a time (``images_per_chunk``: their columns
take about CHUNK_BYTES), each chunk on one of minicnn's threads, start to
finish, while its matrices are still in the processor's cache:

    forward    for each chunk of images n0 .. n1-1:
                   cols_c = im2col(x[n0:n1])             (K, m*S), m = n1 - n0
                   y[n0:n1] = layout(W @ cols_c) + b
    backward   for each chunk:
                   g_c      = dL/dy[n0:n1] as rows       (F, m*S)
                   sums_c   = sum of g_c over each map   (F, S), in float64
                   dW_c     = g_c @ im2col(x[n0:n1])^T   (F, K): im2col again, not kept
                   dL/dx[n0:n1] = col2im(W^T @ g_c)
               dL/dW = dW_0 + dW_1 + ...   dL/db = sums_0 + sums_1 + ..., summed over S

Forward keeps x, not cols (9 times smaller for a 3x3 filter), and the
backward pass computes im2col a second time: cheaper, here, than keeping
the columns in memory. The loops are the Numba twins of the other kernel
files (im2col, col2im, the layout moves), called for one chunk; the matrix
products are NumPy's, on one BLAS thread each (minicnn/engine/threads.py).

Results: y and dL/dx are exactly the whole-batch formulas' (each column of
a product does not depend on the others). dL/dW and dL/db are sums over
the batch, here added chunk by chunk, in chunk order: equal to the
whole-batch sums up to rounding (float32: about 1e-7 relative), and the
same from run to run and for any number of threads, since the chunks
depend only on the shapes. tests/test_kernels.py compares both with the
whole-batch formulas. Groups (G > 1) are not done here: such a layer takes
the whole-batch path.
"""

import numpy

from .. import buffers, threads
from .compiled import flat, ints
from .conv_layout import _images_to_rows_and_sums_loops, _images_to_rows_loops, _rows_to_images_loops
from .im2col_col2im import col2im_planes, im2col_planes

# About this many bytes of columns per chunk: a few hundred KB stay in a core's cache.
CHUNK_BYTES = 1 << 19


def images_per_chunk(column_bytes_per_image, batch):
    """How many images one chunk holds: CHUNK_BYTES of columns, at least 1, at most the batch."""
    return max(1, min(batch, CHUNK_BYTES // max(1, column_bytes_per_image)))


def sum_in_chunk_order(parts):
    """parts[0] + parts[1] + ... added one after the other, in chunk order (a new array).

    The chunked routes add their per-chunk dL/dW and dL/db this way: the same
    order whatever the number of threads, so the same result from run to run."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _geometry(x, weight, out):
    batch, channels, height, width = x.shape
    filters, _, kernel_height, kernel_width = weight.shape
    out_height, out_width = out
    rows = channels * kernel_height * kernel_width            # K
    size = out_height * out_width                             # S
    per_chunk = images_per_chunk(rows * size * x.dtype.itemsize, batch)
    chunks = -(-batch // per_chunk)
    return batch, channels, height, width, filters, kernel_height, kernel_width, rows, size, per_chunk, chunks


def _im2col_chunk(x, first_image, count, stride, padding, dilation, out, kernel, cols):
    """cols (K, count*S) = im2col(x[first_image : first_image + count]), on this thread."""
    _, channels, height, width = x.shape
    im2col_planes(flat(x[first_image:first_image + count]),
                  *ints(count, channels, height, width, *kernel, *stride, *padding, *dilation, *out),
                  0.0, cols.reshape(-1), 0, count * channels)


def _forward_chunk(x, start, count, stride, padding, dilation, out, kernel, filter_rows, bias,
                   add_bias, cols_block, product_block, images):
    """images (count, F, OH*OW), flat = W @ im2col(x[start : start + count]) + b, on this thread.

    cols_block, product_block: flat scratch of at least K*count*S and F*count*S values.
    """
    filters, rows = filter_rows.shape
    size = out[0] * out[1]
    cols = cols_block[:rows * count * size].reshape(rows, count * size)
    _im2col_chunk(x, start, count, stride, padding, dilation, out, kernel, cols)
    product = product_block[:filters * count * size].reshape(filters, count * size)
    numpy.matmul(filter_rows, cols, out=product)                                 # W @ cols_c
    _rows_to_images_loops(product.reshape(-1), *ints(count, filters, size), bias, add_bias,
                          images, 0, count * filters)                            # + b, as images


# Below this many rows K = C*KH*KW (a first layer: 9 for one channel and a 3x3
# filter) a convolution runs in chunks, forward and backward: its products
# are thin (K or F small), so the time goes into moving the (K, N*S) and
# (F, N*S) matrices, and in chunks they never leave the cache. From here on
# the products dominate, and one product over the whole batch is faster
# than many small ones: forward and dL/dW stay whole-batch, and only dL/dx,
# col2im(W^T @ g), runs in chunks (input_gradient_numba).
CHUNKS_BELOW_ROWS = 64


def conv2d_forward_numba(x, weight, bias, stride, padding, dilation, out):
    """y = W @ im2col(x) + b laid out as (N, F, OH, OW), a chunk of images at a time.

    x: (N, C, H, W); weight: (F, C, KH, KW); bias: (F,) or None; stride,
    padding, dilation, out: (h, w) pairs. Returns y: (N, F, OH, OW), dtype of x.
    """
    x = numpy.ascontiguousarray(x)
    (batch, channels, height, width, filters, kernel_height, kernel_width, rows, size,
     per_chunk, chunks) = _geometry(x, weight, out)
    filter_rows = numpy.ascontiguousarray(weight).reshape(filters, rows)        # W: (F, K)
    add_bias = bias is not None
    bias = numpy.ascontiguousarray(bias) if add_bias else numpy.zeros(filters, dtype=x.dtype)
    y = buffers.empty((batch, filters, out[0], out[1]), x.dtype)
    y_flat = y.reshape(-1)

    def work(first, last):
        cols_block = buffers.empty((rows * per_chunk * size,), x.dtype)      # reused by every chunk
        product_block = buffers.empty((filters * per_chunk * size,), x.dtype)
        for chunk in range(first, last):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            _forward_chunk(x, start, count, stride, padding, dilation, out,
                           (kernel_height, kernel_width), filter_rows, bias, add_bias, cols_block,
                           product_block, y_flat[start * filters * size:(start + count) * filters * size])

    with threads.blas_on_one_thread():
        threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    return y


def conv2d_backward_numba(grad_y, x, weight, stride, padding, dilation, needs_x, needs_weight,
                          needs_bias):
    """(dL/dx, dL/dW, dL/db) of y = conv2d(x, W) + b, a chunk of images at a time.

    grad_y: (N, F, OH, OW); x, weight as in forward. Each gradient is None
    where its ``needs_*`` is False. dL/dW and dL/db are added chunk by
    chunk, in chunk order (see the module's docstring).
    """
    grad_flat = numpy.ascontiguousarray(grad_y).reshape(-1)
    filters, size = grad_y.shape[1], grad_y.shape[2] * grad_y.shape[3]

    def chunk_gradient(start, count, scratch):      # dL/dy of images start .. start+count-1
        return grad_flat[start * filters * size:(start + count) * filters * size]

    return _backward(chunk_gradient, x, weight, stride, padding, dilation, tuple(grad_y.shape[2:]),
                     needs_x, needs_weight, needs_bias)


def _backward(chunk_gradient, x, weight, stride, padding, dilation, out, needs_x, needs_weight,
              needs_bias):
    """The backward pass in chunks; chunk_gradient(start, count, scratch) gives the chunk's
    dL/dy, (count, F, OH*OW) flat, possibly computed into ``scratch`` (as long)."""
    x = numpy.ascontiguousarray(x)
    (batch, channels, height, width, filters, kernel_height, kernel_width, rows, size,
     per_chunk, chunks) = _geometry(x, weight, out)
    dtype = x.dtype
    filter_rows = numpy.ascontiguousarray(weight).reshape(filters, rows)        # W: (F, K)
    transposed = filter_rows.T                                                   # W^T: (K, F), a view
    grad_x = buffers.empty(x.shape, dtype) if needs_x else None
    grad_x_flat = grad_x.reshape(-1) if needs_x else None
    weight_parts = numpy.empty((chunks, rows, filters), dtype) if needs_weight else None   # dW_c^T
    bias_parts = numpy.empty((chunks, filters, size), numpy.float64) if needs_bias else None

    def work(first, last):
        g_block = buffers.empty((filters * per_chunk * size,), dtype)
        cols_block = buffers.empty((rows * per_chunk * size,), dtype)
        images_block = buffers.empty((filters * per_chunk * size,), dtype)
        for chunk in range(first, last):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            g = g_block[:filters * count * size].reshape(filters, count * size)
            images = chunk_gradient(start, count, images_block[:filters * count * size])
            if needs_bias:                                                       # g_c, and its sums
                _images_to_rows_and_sums_loops(images, *ints(count, filters, size), g.reshape(-1),
                                               bias_parts[chunk].reshape(-1), 0, filters)
            else:
                _images_to_rows_loops(images, *ints(count, filters, size), g.reshape(-1),
                                      0, count * filters)
            cols = cols_block[:rows * count * size].reshape(rows, count * size)
            if needs_weight:                  # dW_c = g_c @ cols_c^T, as (cols_c @ g_c^T)^T: see conv.py
                _im2col_chunk(x, start, count, stride, padding, dilation, out,
                              (kernel_height, kernel_width), cols)
                numpy.matmul(cols, g.T, out=weight_parts[chunk])
            if needs_x:                                                          # col2im(W^T @ g_c)
                numpy.matmul(transposed, g, out=cols)
                col2im_planes(cols.reshape(-1), *ints(count, channels, height, width, kernel_height,
                                                      kernel_width, *stride, *padding, *dilation, *out),
                              grad_x_flat[start * channels * height * width:
                                          (start + count) * channels * height * width],
                              0, count * channels)

    with threads.blas_on_one_thread():
        threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    grad_weight = grad_bias = None
    if needs_weight:
        grad_weight = numpy.ascontiguousarray(sum_in_chunk_order(weight_parts).T).reshape(weight.shape)
    if needs_bias:
        grad_bias = sum_in_chunk_order(bias_parts).sum(axis=1).astype(dtype)     # as the reference
    return grad_x, grad_weight, grad_bias


def input_gradient_numba(g, weight, input_shape, stride, padding, dilation, out):
    """dL/dx = col2im(W^T @ g), a chunk of images at a time.

    g: (F, N*S), dL/dy as rows; weight: (F, C, KH, KW); input_shape:
    (N, C, H, W); out: (OH, OW). Returns dL/dx: (N, C, H, W), dtype of g,
    exactly the whole-batch formula's (functional/conv.py,
    conv2d_input_gradient): W^T @ g_c is the chunk's columns of W^T @ g, and
    col2im adds each image's columns into that image alone.
    """
    batch, channels, height, width = input_shape
    filters, _, kernel_height, kernel_width = weight.shape
    rows, size = channels * kernel_height * kernel_width, out[0] * out[1]
    per_chunk = images_per_chunk(rows * size * g.dtype.itemsize, batch)
    chunks = -(-batch // per_chunk)
    transposed = numpy.ascontiguousarray(weight).reshape(filters, rows).T     # W^T: (K, F), a view
    grad_x = buffers.empty((batch, channels, height, width), g.dtype)
    grad_x_flat = grad_x.reshape(-1)
    plane = height * width

    def work(first, last):
        cols_block = buffers.empty((rows * per_chunk * size,), g.dtype)      # reused by every chunk
        for chunk in range(first, last):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            cols = cols_block[:rows * count * size].reshape(rows, count * size)
            numpy.matmul(transposed, g[:, start * size:(start + count) * size], out=cols)
            col2im_planes(cols.reshape(-1), *ints(count, channels, height, width, kernel_height,
                                                  kernel_width, *stride, *padding, *dilation, *out),
                          grad_x_flat[start * channels * plane:(start + count) * channels * plane],
                          0, count * channels)

    with threads.blas_on_one_thread():
        threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    return grad_x


# ----- a convolution followed by max pooling, in one pass --------------------------------------

def conv2d_max_pool_forward_numba(x, weight, bias, stride, padding, dilation, out, pool, positive=None):
    """max_pool2d(conv2d(x)) a chunk of images at a time: the convolution's output of a chunk
    is pooled while it is in the cache, and the whole (N, F, OH, OW) output is never stored.

    pool: (kernel, stride, padding, dilation, pooled), (h, w) pairs, pooled = (PH, PW).
    Returns (pooled (N, F, PH, PW), switches (N, F, PH, PW) int64), exactly
    maxpool_forward's numbers for conv2d_forward_numba's output. positive: None, or a
    bool array (N, F, PH, PW): then relu(max_pool2d(conv2d(x))), each chunk's maxima
    put through ReLU while in the cache and relu's mask written into positive
    (pooling.py, chunk_pooler).
    """
    from .pooling import chunk_pooler
    x = numpy.ascontiguousarray(x)
    (batch, channels, height, width, filters, kernel_height, kernel_width, rows, size,
     per_chunk, chunks) = _geometry(x, weight, out)
    pooled_size = pool[4]
    filter_rows = numpy.ascontiguousarray(weight).reshape(filters, rows)        # W: (F, K)
    add_bias = bias is not None
    bias = numpy.ascontiguousarray(bias) if add_bias else numpy.zeros(filters, dtype=x.dtype)
    pooled = buffers.empty((batch, filters) + tuple(pooled_size), x.dtype)
    switches = buffers.empty((batch, filters) + tuple(pooled_size), numpy.int64)
    pool_planes = chunk_pooler(out, pool, x.dtype)
    mask = None if positive is None else positive.reshape(-1)

    def work(first, last):
        cols_block = buffers.empty((rows * per_chunk * size,), x.dtype)
        product_block = buffers.empty((filters * per_chunk * size,), x.dtype)
        images_block = buffers.empty((filters * per_chunk * size,), x.dtype)
        for chunk in range(first, last):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            images = images_block[:filters * count * size]                       # the chunk's y, in the cache
            _forward_chunk(x, start, count, stride, padding, dilation, out,
                           (kernel_height, kernel_width), filter_rows, bias, add_bias, cols_block,
                           product_block, images)
            pool_planes(images, pooled.reshape(-1), switches.reshape(-1), start * filters,
                        count * filters, mask)                                   # then pooled

    with threads.blas_on_one_thread():
        threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    return pooled, switches


def conv2d_max_pool_backward_numba(grad_pooled, switches, x, weight, stride, padding, dilation, out,
                                   needs_x, needs_weight, needs_bias):
    """(dL/dx, dL/dW, dL/db) of max_pool2d(conv2d(x)): each chunk's dL/dy is made by
    maxpool_scatter from the pooled gradient and the switches, in the cache, and used there."""
    from .pooling import _maxpool_scatter_loops
    filters, windows = grad_pooled.shape[1], grad_pooled.shape[2] * grad_pooled.shape[3]
    size = out[0] * out[1]
    values = numpy.ascontiguousarray(grad_pooled).reshape(-1, windows)        # (N*F, PH*PW)
    indices = numpy.ascontiguousarray(switches).reshape(-1, windows)

    def chunk_gradient(start, count, scratch):
        planes = slice(start * filters, (start + count) * filters)
        out_of_range = numpy.zeros(count * filters, dtype=numpy.int64)
        _maxpool_scatter_loops(values[planes], indices[planes], scratch.reshape(count * filters, size),
                               out_of_range, 0, count * filters)
        return scratch

    return _backward(chunk_gradient, x, weight, stride, padding, dilation, tuple(out), needs_x,
                     needs_weight, needs_bias)
