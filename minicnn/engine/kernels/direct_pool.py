"""A first layer's convolution summed directly, pooled in the cache, its gradients read at the
switches: a route of conv2d+max_pool2d.

The reference runs the two ops one after the other (functional/conv_pool.py):
im2col, one matrix product, the pool; backward, the pooled gradient put back
at the switches as a whole (N, F, OH, OW) dL/dy, mostly zeros, then the
products g @ cols^T and col2im(W^T @ g). For a first layer K = C*KH*KW is
small (9 for one channel and a 3x3 filter): im2col copies every pixel K
times to feed a product of only K terms per sum, and in the backward pass
three quarters of dL/dy (a 2x2 pool) are zeros that the products multiply
all the same. Here, a few images at a time on each thread:

    forward    xp = x[n] with its zero padding           (C, Hp, Wp)   Hp = H + 2*PH, Wp = W + 2*PW
               offset[t] = c*Hp*Wp + ky*DH*Wp + kx*DW     for tap t = (c, ky, kx), in the weight's order
               wide[i]   = sum over t of W[f, t] * xp_flat[i + offset[t]]      i = oy*Wp + ox
               y[n, f, oy, ox] = wide[oy*Wp + ox] + b[f]                       ox < OW
               pooled, switches = max_pool2d(y) of the chunk's images, in the cache

    backward   for each pooled window w of image n, filter f:  g = dL/dpooled[n, f, w]
                   i = oy*Wp + ox, where (oy, ox) is w's switch: where its maximum was
                   dL/db[f]                     += g
                   dL/dW[f, t]                  += g * xp_flat[i + offset[t]]
                   dL/dxp_flat[i + offset[t]]   += g * W[f, t]
               dL/dx = dL/dxp without its padding

"wide": an output row is computed Wp long, as if the filter slid on past
the right edge into the next row, so that every tap reads one contiguous
run of the padded image; the OW columns that are real are kept. Only
stride 1 has such runs: kernels/routes.py sends only stride 1 here.

Nine taps at a time (TAPS). The forward loop holds nine weights in
registers and sums nine products per output in one pass (the compiler turns
the pass over i into vector instructions); the backward loop holds nine
sums in registers over a filter's windows. A filter of more taps takes
several passes of nine; the last block is filled up with weight 0 (the
forward pass) or its sums are dropped (the backward pass).

The backward pass reads only the switches: N*F*PH*PW*K multiply-adds,
against N*F*OH*OW*K for each of the reference's products, and no dL/dy, no
im2col. It adds the same nonzero products as the reference (the zeros of
dL/dy add nothing), in float64. That holds for finite pixels only: the
reference multiplies the zeros of dL/dy by an infinite pixel and gets NaN
(and a weight 0 times it would too). So where x holds a pixel that is not
finite, forward and backward are the chunks route's (convolution.py),
which computes as the reference does.

Results: y and the switches are the reference's up to rounding (each
output's products added nine at a time, in tap order, without fused
multiply-adds); the gradients are sums over the batch, added in float64
image by image, chunk by chunk in chunk order (the same for any number of
threads). tests/test_routes.py compares every output and gradient with the
reference.
"""

import functools

import numpy

from .. import buffers, threads
from .compiled import flat, ints, numba_helper, numba_loop, unsigned
from .convolution import (conv2d_max_pool_backward_numba, conv2d_max_pool_forward_numba, images_per_chunk,
                          sum_in_chunk_order)

TAPS = 9    # taps per pass: nine weights (forward) or nine sums (backward) held in registers

# At most this many taps K = C*KH*KW take this route (three passes of nine):
# at 9, 25 and 27 taps it was faster than the chunks route, at 50 slower, as
# each pass goes over the output once more (benchmarks/README.md, "A first
# layer summed directly").
MOST_TAPS = 3 * TAPS


@functools.lru_cache(maxsize=64)
def tap_offsets(channels, kernel, dilation, padded):
    """(blocks*TAPS,) int64: offset[t] = c*Hp*Wp + ky*DH*Wp + kx*DW for t = (c, ky, kx) in the
    weight's order, then the first tap's offset again to fill the last block of TAPS. Depends
    on the geometry alone: made once and kept (read-only)."""
    plane = padded[0] * padded[1]
    c, ky, kx = numpy.meshgrid(numpy.arange(channels), numpy.arange(kernel[0]), numpy.arange(kernel[1]),
                               indexing="ij")
    offsets = (c * plane + ky * dilation[0] * padded[1] + kx * dilation[1]).reshape(-1)
    filled = numpy.full(-(-offsets.shape[0] // TAPS) * TAPS, offsets[0], dtype=numpy.int64)
    filled[:offsets.shape[0]] = offsets
    filled.setflags(write=False)
    return filled


def tap_blocks(channels, kernel, dilation, padded, weight):
    """(offsets, weights): the taps in blocks of TAPS. offsets: tap_offsets; weights: (F,
    blocks*TAPS), the weight's rows, filled with 0 to match."""
    offsets = tap_offsets(channels, tuple(kernel), tuple(dilation), tuple(padded))
    taps = channels * kernel[0] * kernel[1]
    weights = numpy.zeros((weight.shape[0], offsets.shape[0]), dtype=weight.dtype)
    weights[:, :taps] = weight.reshape(weight.shape[0], taps)
    return offsets, weights


@functools.lru_cache(maxsize=64)
def corner_table(out, padded):
    """corners[oy*OW + ox] = oy*Wp + ox: where output (oy, ox) starts in the padded image (int64,
    made once per geometry and kept, read-only)."""
    oy, ox = numpy.meshgrid(numpy.arange(out[0]), numpy.arange(out[1]), indexing="ij")
    table = (oy * padded[1] + ox).reshape(-1).astype(numpy.int64)
    table.setflags(write=False)
    return table


@numba_loop
def _pad_image(x, n, channels, height, width, padding_h, padding_w, padded_width, padded):
    """padded (C, Hp, Wp) flat, its border zero already: the interior = image n of x (N, C, H, W) flat."""
    plane = padded.shape[0] // channels
    for c in range(channels):
        for row in range(height):
            source = ((n * channels + c) * height + row) * width
            target = c * plane + (row + padding_h) * padded_width + padding_w
            for column in range(width):
                padded[unsigned(target + column)] = x[unsigned(source + column)]


@numba_helper
def _nine(values, at):
    """values[at], values[at + 1], ..., values[at + 8]: a block's nine weights or offsets."""
    return (values[unsigned(at)], values[unsigned(at + 1)], values[unsigned(at + 2)],
            values[unsigned(at + 3)], values[unsigned(at + 4)], values[unsigned(at + 5)],
            values[unsigned(at + 6)], values[unsigned(at + 7)], values[unsigned(at + 8)])


@numba_helper
def _nine_products(padded, i, o0, o1, o2, o3, o4, o5, o6, o7, o8, w0, w1, w2, w3, w4, w5, w6, w7, w8):
    """w0 * padded[i + o0] + w1 * padded[i + o1] + ... + w8 * padded[i + o8], added in that order."""
    return (w0 * padded[unsigned(o0 + i)] + w1 * padded[unsigned(o1 + i)] + w2 * padded[unsigned(o2 + i)]
            + w3 * padded[unsigned(o3 + i)] + w4 * padded[unsigned(o4 + i)] + w5 * padded[unsigned(o5 + i)]
            + w6 * padded[unsigned(o6 + i)] + w7 * padded[unsigned(o7 + i)] + w8 * padded[unsigned(o8 + i)])


@numba_loop
def _direct_loops(x, channels, height, width, padding_h, padding_w, padded_height, padded_width,
                  out_height, out_width, offsets, weights, bias, add_bias, images, first, last):
    """images (last - first, F, OH*OW) flat = conv2d(x[n]) (+ b) for n = first .. last-1, stride 1.

    x: (N, C, H, W) flat; offsets, weights: tap_blocks's, weights (F, blocks*9) flat.
        wide[i] = sum over the blocks of (W[f, t0] * xp[i + offset[t0]] + ... + W[f, t8] * xp[i + offset[t8]])
        images[n - first, f, oy*OW + ox] = wide[oy*Wp + ox] (+ b[f])              (ox < OW)
    """
    per_filter = offsets.shape[0]                            # blocks * 9
    filters = weights.shape[0] // per_filter
    size = out_height * out_width
    padded = numpy.zeros(channels * padded_height * padded_width, dtype=x.dtype)
    run = (out_height - 1) * padded_width + out_width        # the wide positions that hold outputs
    wide = numpy.empty(run, dtype=x.dtype)
    for n in range(first, last):
        _pad_image(x, n, channels, height, width, padding_h, padding_w, padded_width, padded)
        for f in range(filters):
            for block in range(0, per_filter, TAPS):
                w0, w1, w2, w3, w4, w5, w6, w7, w8 = _nine(weights, f * per_filter + block)
                o0, o1, o2, o3, o4, o5, o6, o7, o8 = _nine(offsets, block)
                if block == 0:
                    for i in range(run):                     # one pass: vector instructions
                        wide[i] = _nine_products(padded, i, o0, o1, o2, o3, o4, o5, o6, o7, o8,
                                                 w0, w1, w2, w3, w4, w5, w6, w7, w8)
                else:                                        # added to the blocks before
                    for i in range(run):
                        wide[i] += _nine_products(padded, i, o0, o1, o2, o3, o4, o5, o6, o7, o8,
                                                  w0, w1, w2, w3, w4, w5, w6, w7, w8)
            target = ((n - first) * filters + f) * size
            shift = bias[f]
            for oy in range(out_height):                     # the OW real columns of each wide row
                source, row = oy * padded_width, target + oy * out_width
                if add_bias:
                    for ox in range(out_width):
                        images[unsigned(row + ox)] = wide[unsigned(source + ox)] + shift
                else:
                    for ox in range(out_width):
                        images[unsigned(row + ox)] = wide[unsigned(source + ox)]


@numba_loop
def _switch_gradient_loops(grad_pooled, switches, x, channels, height, width, padding_h, padding_w,
                           padded_height, padded_width, windows, corners, offsets, taps, weights,
                           needs_x, grad_weight, grad_bias, grad_x, first, last):
    """The gradients of images first .. last-1 read at their switches (the module's docstring).

    grad_pooled, switches: (N, F, PH*PW) flat, windows = PH*PW; a switch is the flat index
    oy*OW + ox of its window's maximum, and corners[oy*OW + ox] = oy*Wp + ox (a table: a
    division per window would cost more than the window's multiply-adds). offsets, weights:
    tap_blocks's, of which the first ``taps`` are the filter's. grad_weight: (F, blocks*9) and
    grad_bias: (F,), float64, added to; grad_x: (N, C, H, W) flat, images first .. last-1
    written if needs_x.
    """
    per_filter = offsets.shape[0]
    filters = weights.shape[0] // per_filter
    plane = padded_height * padded_width
    padded = numpy.zeros(channels * plane, dtype=x.dtype)
    grad_padded = numpy.zeros(channels * plane if needs_x else 1, dtype=numpy.float64)
    for n in range(first, last):
        _pad_image(x, n, channels, height, width, padding_h, padding_w, padded_width, padded)
        for f in range(filters):
            start = (n * filters + f) * windows                         # the windows of (n, f)
            total = 0.0
            for w in range(start, start + windows):
                total += grad_pooled[unsigned(w)]
            grad_bias[f] += total
            for block in range(0, per_filter, TAPS):
                o0, o1, o2, o3, o4, o5, o6, o7, o8 = _nine(offsets, block)
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = 0.0        # nine sums, in registers
                for w in range(start, start + windows):
                    g = numpy.float64(grad_pooled[unsigned(w)])
                    i = corners[unsigned(switches[unsigned(w)])]
                    s0 += g * padded[unsigned(i + o0)]
                    s1 += g * padded[unsigned(i + o1)]
                    s2 += g * padded[unsigned(i + o2)]
                    s3 += g * padded[unsigned(i + o3)]
                    s4 += g * padded[unsigned(i + o4)]
                    s5 += g * padded[unsigned(i + o5)]
                    s6 += g * padded[unsigned(i + o6)]
                    s7 += g * padded[unsigned(i + o7)]
                    s8 += g * padded[unsigned(i + o8)]
                row = f * per_filter + block
                for k, value in enumerate((s0, s1, s2, s3, s4, s5, s6, s7, s8)):
                    grad_weight[unsigned(row + k)] += value
        if needs_x:
            for i in range(channels * plane):
                grad_padded[i] = 0.0
            for f in range(filters):
                for w in range((n * filters + f) * windows, (n * filters + f + 1) * windows):
                    g = numpy.float64(grad_pooled[unsigned(w)])
                    i = corners[unsigned(switches[unsigned(w)])]
                    for t in range(taps):                                # the filter's taps only
                        grad_padded[unsigned(i + offsets[t])] += g * weights[unsigned(f * per_filter + t)]
            for c in range(channels):
                for r in range(height):
                    source = c * plane + (r + padding_h) * padded_width + padding_w
                    target = ((n * channels + c) * height + r) * width
                    for column in range(width):
                        grad_x[unsigned(target + column)] = grad_padded[unsigned(source + column)]


def _geometry(x, weight, padding, dilation, out):
    batch, channels, height, width = x.shape
    filters = weight.shape[0]
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    offsets, weights = tap_blocks(channels, weight.shape[2:], dilation, padded, numpy.asarray(weight))
    per_chunk = images_per_chunk(filters * out[0] * out[1] * x.dtype.itemsize, batch)   # y of a chunk
    return batch, channels, height, width, filters, padded, offsets, weights, per_chunk, -(-batch // per_chunk)


def conv2d_max_pool_forward_direct(x, weight, bias, padding, dilation, out, pool, positive=None):
    """max_pool2d(conv2d(x)), stride 1: the convolution summed directly a chunk of images at a
    time, pooled while in the cache; the chunks route's where x holds a pixel that is not finite.

    x: (N, C, H, W); weight: (F, C, KH, KW); bias: (F,) or None; padding, dilation,
    out: (h, w) pairs; pool: (kernel, stride, padding, dilation, pooled), (h, w) pairs.
    Returns (pooled (N, F, PH, PW), switches (N, F, PH, PW) int64, finite), finite: whether
    every pixel of x is, which chooses the backward pass. positive: None, or a bool array
    (N, F, PH, PW): then relu(max_pool2d(conv2d(x))), each chunk's maxima put through
    ReLU while in the cache and relu's mask written into positive (pooling.py, chunk_pooler).
    """
    from .pooling import chunk_pooler
    x = numpy.ascontiguousarray(x)
    if not numpy.isfinite(x).all():
        pooled, switches = conv2d_max_pool_forward_numba(x, weight, bias, (1, 1), padding, dilation,
                                                         out, pool, positive)
        return pooled, switches, False
    batch, channels, height, width, filters, padded, offsets, weights, per_chunk, chunks = _geometry(
        x, weight, padding, dilation, out)
    add_bias = bias is not None
    bias = numpy.ascontiguousarray(bias) if add_bias else numpy.zeros(filters, dtype=x.dtype)
    size = out[0] * out[1]
    pooled = buffers.empty((batch, filters) + tuple(pool[4]), x.dtype)
    switches = buffers.empty((batch, filters) + tuple(pool[4]), numpy.int64)
    pool_planes = chunk_pooler(out, pool, x.dtype)
    mask = None if positive is None else positive.reshape(-1)
    arguments = (x.reshape(-1), *ints(channels, height, width, *padding, *padded, *out), offsets,
                 weights.reshape(-1), bias, add_bias)

    def work(first, last):
        images_block = buffers.empty((filters * per_chunk * size,), x.dtype)  # a chunk's y, in the cache
        for chunk in range(first, last):
            start = chunk * per_chunk
            count = min(per_chunk, batch - start)
            images = images_block[:filters * count * size]
            _direct_loops(*arguments, images, start, start + count)
            pool_planes(images, pooled.reshape(-1), switches.reshape(-1), start * filters,
                        count * filters, mask)

    threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    return pooled, switches, True


def conv2d_max_pool_backward_direct(grad_pooled, switches, finite, x, weight, padding, dilation, out,
                                    needs_x, needs_weight, needs_bias):
    """(dL/dx, dL/dW, dL/db) of conv2d_max_pool_forward_direct's pooled output, read at the
    switches; each None where its ``needs_*`` is False. ``finite``: the forward pass's; where
    False, the chunks route's backward (convolution.py), as the module's docstring says.

    grad_pooled, switches: (N, F, PH, PW), switches int64 flat indices oy*OW + ox; x: (N, C,
    H, W); weight: (F, C, KH, KW). Returns (N, C, H, W), (F, C, KH, KW) and (F,), dtype of x.
    """
    if not finite:
        return conv2d_max_pool_backward_numba(grad_pooled, switches, x, weight, (1, 1), padding,
                                              dilation, out, needs_x, needs_weight, needs_bias)
    x = numpy.ascontiguousarray(x)
    batch, channels, height, width, filters, padded, offsets, weights, per_chunk, chunks = _geometry(
        x, weight, padding, dilation, out)
    dtype, taps = x.dtype, weight.shape[1] * weight.shape[2] * weight.shape[3]
    windows = grad_pooled.shape[2] * grad_pooled.shape[3]
    weight_parts = numpy.zeros((chunks,) + weights.shape, numpy.float64)
    bias_parts = numpy.zeros((chunks, filters), numpy.float64)
    grad_x = buffers.empty(x.shape, dtype) if needs_x else numpy.empty(1, dtype)
    arguments = (flat(grad_pooled), flat(switches), x.reshape(-1),
                 *ints(channels, height, width, *padding, *padded, windows), corner_table(tuple(out), padded),
                 offsets, taps, weights.reshape(-1), needs_x)

    def work(first, last):
        for chunk in range(first, last):
            start = chunk * per_chunk
            _switch_gradient_loops(*arguments, weight_parts[chunk].reshape(-1), bias_parts[chunk],
                                   grad_x.reshape(-1), start, min(batch, start + per_chunk))

    threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    grad_weight = grad_bias = None
    if needs_weight:
        sums = sum_in_chunk_order(weight_parts)                                  # (F, blocks*9)
        grad_weight = numpy.ascontiguousarray(sums[:, :taps]).astype(dtype).reshape(weight.shape)
    if needs_bias:
        grad_bias = sum_in_chunk_order(bias_parts).astype(dtype)
    return (grad_x if needs_x else None), grad_weight, grad_bias
