"""A convolution's gradients read at its pool's switches, channels last: the backward pass of a
conv2d+max_pool2d route.

The reference's backward pass (functional/conv_pool.py) puts the pooled gradient back at the
switches as a whole dL/dy, (N, F, OH, OW), then computes two matrix products over all of it:

    dL/dW = g @ cols^T                      (F, K) from (F, N*S) and (N*S, K)     S = OH*OW
    dL/dx = col2im(W^T @ g)                 K = C*KH*KW

But dL/dy is zero except at the switches: after a 2x2 pool of stride 2, at one output in four
(keras-MNIST's second layer: 25 of 121). Both products multiply all the zeros all the same.
Here only the windows' switches are visited, N*F*PH*PW of them instead of N*F*OH*OW:

    for each image n, filter f, pooled window w:   g = dL/dpooled[n, f, w]
        (oy, ox) = w's switch, where the maximum was: the output it came from
        dL/db[f]                                           += g
        for each tap (ky, kx) and channel c:               (the window of the input that (oy, ox) saw)
            p = (oy*SH + ky*DH, ox*SW + kx*DW)                 in the padded input xp
            dL/dW[f, c, ky, kx]  += g * xp[n, c, p]
            dL/dxp[n, c, p]      += g * W[f, c, ky, kx]
    dL/dx = dL/dxp without its padding

The loops make two passes over each image, one per gradient, each in the order that lets it
add four products at a time to the same numbers:

    dL/dW: filter by filter, its windows in order, four at a time: one filter's row of dL/dW
           gets g0*x0 + g1*x1 + g2*x2 + g3*x3, its numbers loaded and stored once for four
    dL/dx: output by output (the switches first sorted by the output they point at): the
           filters whose switch that output is add g0*W0 + g1*W1 + ... over its window of dL/dxp

One window at a time, each number of the sum would be loaded and stored once per product,
and every run's loop (below) set up once per product: that, not the arithmetic, is what
these loops wait for.

Channels last. An image is copied to (Hp, Wp, C), padded with zeros (Hp = H + 2*PH), and the
weight to (F, KH, KW, C). Then, for a tap, the C channels are C neighbouring numbers in both,
and for a row of the filter (ky fixed, dilation 1 along the width) its KW taps are KW*C
neighbouring numbers: one run, which the compiler turns into vector instructions. In the
images' own (C, H, W) layout the channels lie a plane apart and nothing is contiguous. (The
direct route's backward, direct_pool.py, keeps that layout: a first layer has one channel.)

    corner[oy*OW + ox] = (oy*SH*Wp + ox*SW) * C         where output (oy, ox)'s window starts in xp
    offset[r]          = (ky*DH*Wp) * C,  run = KW*C    r = ky            (DW = 1)
                         (ky*DH*Wp + kx*DW) * C, run = C  r = ky*KW + kx  (DW > 1)
    dL/dW_r[f, r*run + j] += g * xp[corner + offset[r] + j]     j < run,  dL/dW_r in (F, KH, KW, C) order
    dL/dxp[corner + offset[r] + j] += g * W_r[f, r*run + j]

Results: the same nonzero products as the reference's, added in another order: dL/dW image by
image (each image's windows in order, in the dtype, then added in float64), chunk by chunk in
chunk order (the same for any number of threads); dL/dx in the dtype, output by output and
at each output filter by filter; dL/db in float64.
tests/test_routes.py compares them with the reference.

That holds for finite pixels and weights only. The reference multiplies the zeros of dL/dy by
every pixel and every weight: an infinite one makes NaN where reading at the switches alone
would make a number. So where x or W holds a number that is not finite, the pass is
pooled_product.py's, which computes as the reference does. Checking x costs no pass of its own:
the loops add x - x (0, or NaN for inf and NaN) while they copy each image. A pooled gradient
that is not finite needs no such care: its switch's products reach the same entries as the
reference's, the padding's zeros included (they are in the padded copy), and make NaN or inf
there as the reference's do.

The forward pass is pooled_product.py's, over the outputs the pool reads only (``pool_reach``):
a 2x2 pool of stride 2 over 11x11 outputs reads rows and columns 0..9, and the reference's 21
others feed no window (floor division drops them). im2col, the product and the pooling then
cover (RH, RW) = (10, 10) outputs instead of (OH, OW) = (11, 11): the same columns, the same
products, the same maxima. The switches count in that smaller plane, oy*RW + ox, and the
backward pass reads them so.

When it pays (``pays``): the windows must be few against the outputs (a pool of stride 1 keeps
nearly every output a switch, and BLAS multiplies faster than these loops), and the runs long
enough for vector instructions (a few channels are not). benchmarks/README.md, "Gradients at
the switches", has the measurements these thresholds come from.
"""

import functools

import numpy

from .. import buffers, threads
from .compiled import flat, ints, numba_helper, numba_loop, unsigned
from .convolution import images_per_chunk, sum_in_chunk_order

# Pays where the pool leaves at most one output in FEWER_WINDOWS a switch (a 2x2 or 3x3 pool of
# stride 2: about one in four) ...
FEWER_WINDOWS = 3
# ... and a run (KW*C numbers, or C with a dilated width) holds at least this many numbers:
# runs of 24 (8 channels, 3x3) were faster than the products, runs of 15 (3 channels, 5x5)
# slower (benchmarks/README.md, "Gradients at the switches").
SHORTEST_RUN = 24


def pays(channels, kernel_width, dilation_width, out, pooled):
    """Whether reading at the switches beats the two products (the thresholds above)."""
    run = channels * kernel_width if dilation_width == 1 else channels
    return run >= SHORTEST_RUN and out[0] * out[1] >= FEWER_WINDOWS * pooled[0] * pooled[1]


@functools.lru_cache(maxsize=64)
def pool_reach(out, pool):
    """(RH, RW): how many of the convolution's (OH, OW) output rows and columns the pool's
    windows read. pool: (kernel, stride, padding, dilation, pooled size), (h, w) pairs.

    Along an axis window p starts at p*stride - padding and reads every dilation-th output
    from there; the outputs after the last one any window reads feed none. (Usually the last
    window's; with dilation, a ceil-mode pool's cut-off last window may stop short of the one
    before it. At least 1: a window wholly in the padding reads none.)"""
    kernel, stride, padding, dilation, pooled = pool
    reach = []
    for a in (0, 1):
        last = 0
        for p in range(pooled[a]):
            start = p * stride[a] - padding[a]
            taps = min(kernel[a] - 1, (out[a] - 1 - start) // dilation[a])    # its last tap inside
            if taps >= 0:
                last = max(last, start + taps * dilation[a])
        reach.append(last + 1)
    return tuple(reach)


def conv2d_max_pool_forward_in_reach(x, weight, bias, stride, padding, dilation, out, pool, positive=None):
    """max_pool2d(conv2d(x)) by pooled_product.py's forward pass over the outputs the pool
    reads only (the module's docstring). Returns (pooled (N, F, PH, PW), switches (N, F, PH,
    PW) int64 flat indices oy*RW + ox, reach (RH, RW)); im2col's columns are not kept.
    positive: None, or a bool array (N, F, PH, PW) for a ReLU after the pool, as there."""
    from .pooled_product import conv2d_max_pool_forward_rows
    reach = pool_reach(tuple(out), pool)
    pooled, switches, _ = conv2d_max_pool_forward_rows(x, weight, bias, stride, padding, dilation, reach, pool,
                                                       positive)
    return pooled, switches, reach


@functools.lru_cache(maxsize=64)
def corner_table(out, stride, padded_width, channels):
    """corners[oy*OW + ox] = (oy*SH*Wp + ox*SW) * C (int64, made once per geometry, read-only)."""
    oy, ox = numpy.meshgrid(numpy.arange(out[0]), numpy.arange(out[1]), indexing="ij")
    table = ((oy * stride[0] * padded_width + ox * stride[1]) * channels).reshape(-1).astype(numpy.int64)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=64)
def run_offsets(kernel, dilation, padded_width, channels):
    """(offsets, run): where each run of the filter starts in xp, relative to a corner, and
    how many numbers it holds (the module's docstring). int64, read-only."""
    if dilation[1] == 1:
        offsets, run = numpy.arange(kernel[0]) * dilation[0] * padded_width * channels, kernel[1] * channels
    else:
        ky, kx = numpy.meshgrid(numpy.arange(kernel[0]), numpy.arange(kernel[1]), indexing="ij")
        offsets, run = ((ky * dilation[0] * padded_width + kx * dilation[1]) * channels).reshape(-1), channels
    offsets = offsets.astype(numpy.int64)
    offsets.setflags(write=False)
    return offsets, run


@numba_helper
def _to_channels_last(x, n, channels, height, width, padding_h, padding_w, padded_width, padded):
    """Image n of x, (N, C, H, W) flat, into the interior of padded, (Hp, Wp, C) flat (its
    padding stays as it is: zeros). Returns the sum of x - x over the image: 0, or NaN where a
    pixel is not finite."""
    check = 0.0
    for c in range(channels):
        for r in range(height):
            source = ((n * channels + c) * height + r) * width
            target = ((r + padding_h) * padded_width + padding_w) * channels + c
            for column in range(width):
                value = x[unsigned(source + column)]
                padded[unsigned(target + column * channels)] = value
                check += value - value
    return check


@numba_helper
def _to_planes(grad_padded, n, channels, height, width, padding_h, padding_w, padded_width, grad_x):
    """The interior of grad_padded, (Hp, Wp, C) flat, into image n of grad_x, (N, C, H, W) flat."""
    for c in range(channels):
        for r in range(height):
            source = ((r + padding_h) * padded_width + padding_w) * channels + c
            target = ((n * channels + c) * height + r) * width
            for column in range(width):
                grad_x[unsigned(target + column)] = grad_padded[unsigned(source + column * channels)]


@numba_helper
def _weight_gradient_of(row, padded, grad_pooled, switches, corners, offsets, run, start, end):
    """row += one (n, f)'s dL/dW, (KH, KW, C) flat, from its windows start .. end-1; padded:
    image n, (Hp, Wp, C) flat.

    Four windows at a time: each number of the row is loaded and stored once for four
    products, and each run's loop is set up once for four, where one window at a time pays
    both for every window. The four are added in window order, as one at a time would add
    them: the same sums, bit for bit.
    """
    w = start
    while w + 4 <= end:
        g0, g1 = grad_pooled[unsigned(w)], grad_pooled[unsigned(w + 1)]
        g2, g3 = grad_pooled[unsigned(w + 2)], grad_pooled[unsigned(w + 3)]
        c0, c1 = corners[unsigned(switches[unsigned(w)])], corners[unsigned(switches[unsigned(w + 1)])]
        c2, c3 = corners[unsigned(switches[unsigned(w + 2)])], corners[unsigned(switches[unsigned(w + 3)])]
        for k in range(offsets.shape[0]):
            o, along = offsets[k], k * run
            for j in range(run):
                t = unsigned(along + j)
                row[t] = (((row[t] + g0 * padded[unsigned(c0 + o + j)]) + g1 * padded[unsigned(c1 + o + j)])
                          + g2 * padded[unsigned(c2 + o + j)]) + g3 * padded[unsigned(c3 + o + j)]
        w += 4
    while w < end:                                               # the last one to three
        g, corner = grad_pooled[unsigned(w)], corners[unsigned(switches[unsigned(w)])]
        for k in range(offsets.shape[0]):
            at, along = corner + offsets[k], k * run
            for j in range(run):
                row[unsigned(along + j)] += g * padded[unsigned(at + j)]
        w += 1


@numba_helper
def _sort_by_switch(switches, base, filters, windows, taps, count, begin, order, rows):
    """Image n's switches sorted by the output they point at (a counting sort), filter by
    filter and window by window within each output: order[i] = f*windows + w, rows[i] = f*taps,
    for i in begin[s] .. count[s]-1, the switches at output s. base = n*F*windows."""
    for s in range(count.shape[0]):
        count[s] = 0
    for e in range(filters * windows):
        count[switches[unsigned(base + e)]] += 1
    total = 0
    for s in range(count.shape[0]):
        begin[s] = total
        total += count[s]
        count[s] = begin[s]                                      # from here: where the next one goes
    for f in range(filters):
        for w in range(windows):
            s = switches[unsigned(base + f * windows + w)]
            order[count[s]] = f * windows + w
            rows[count[s]] = f * taps
            count[s] += 1


@numba_helper
def _input_gradient_of(grad_padded, weight_last, grad_pooled, base, corners, offsets, run, count, begin,
                       order, rows):
    """grad_padded += image n's dL/dxp, (Hp, Wp, C) flat, output by output: at each output,
    the filters whose switch it is add g * W over the window the output saw, four at a time
    (each number of dL/dxp there loaded and stored once for four products), in filter order.
    count, begin, order, rows: ``_sort_by_switch``'s."""
    for s in range(count.shape[0]):
        i, stop, corner = begin[s], count[s], corners[s]
        while i + 4 <= stop:
            g0, g1 = grad_pooled[unsigned(base + order[i])], grad_pooled[unsigned(base + order[i + 1])]
            g2, g3 = grad_pooled[unsigned(base + order[i + 2])], grad_pooled[unsigned(base + order[i + 3])]
            for k in range(offsets.shape[0]):
                at, along = corner + offsets[k], k * run
                w0, w1, w2, w3 = rows[i] + along, rows[i + 1] + along, rows[i + 2] + along, rows[i + 3] + along
                for j in range(run):
                    t = unsigned(at + j)
                    grad_padded[t] = (((grad_padded[t] + g0 * weight_last[unsigned(w0 + j)])
                                       + g1 * weight_last[unsigned(w1 + j)]) + g2 * weight_last[unsigned(w2 + j)]) \
                        + g3 * weight_last[unsigned(w3 + j)]
            i += 4
        while i < stop:                                          # the last one to three
            g = grad_pooled[unsigned(base + order[i])]
            for k in range(offsets.shape[0]):
                at, along = corner + offsets[k], rows[i] + k * run
                for j in range(run):
                    grad_padded[unsigned(at + j)] += g * weight_last[unsigned(along + j)]
            i += 1


@numba_loop
def _switch_gradient_loops(grad_pooled, switches, x, channels, height, width, padding_h, padding_w,
                           padded_height, padded_width, windows, corners, offsets, run, weight_last,
                           needs_x, needs_weight, grad_weight, grad_bias, grad_x, checks, first, last):
    """The gradients of images first .. last-1 read at their switches, channels last (the
    module's docstring).

    grad_pooled, switches: (N, F, PH*PW) flat, windows = PH*PW; a switch is the flat index
    oy*OW + ox of its window's maximum. x: (N, C, H, W) flat. corners: (OH*OW,), the
    ``corner_table``. weight_last: W as (F, KH, KW, C) flat. grad_weight: (F, KH*KW*C),
    float64, added to, if needs_weight; grad_bias: (F,), float64, added to; grad_x: (N, C,
    H, W) flat, images first .. last-1 written if needs_x; checks: (1,) float64, x - x
    added for every pixel (NaN where one is not finite).
    """
    taps = offsets.shape[0] * run                                # KH*KW*C
    filters = weight_last.shape[0] // taps
    padded = numpy.zeros(padded_height * padded_width * channels, dtype=x.dtype)
    grad_padded = numpy.zeros(padded.shape[0] if needs_x else 1, dtype=x.dtype)
    row = numpy.zeros(taps, dtype=x.dtype)                       # one (n, f)'s dL/dW
    count = numpy.zeros(corners.shape[0], dtype=numpy.int64)     # _sort_by_switch's
    begin = numpy.zeros(corners.shape[0], dtype=numpy.int64)
    order = numpy.zeros(filters * windows, dtype=numpy.int64)
    rows = numpy.zeros(filters * windows, dtype=numpy.int64)
    check = 0.0
    for n in range(first, last):
        check += _to_channels_last(x, n, channels, height, width, padding_h, padding_w, padded_width, padded)
        for f in range(filters):                                 # dL/db and dL/dW, filter by filter
            start = (n * filters + f) * windows
            total = 0.0
            for w in range(start, start + windows):
                total += grad_pooled[unsigned(w)]
            grad_bias[f] += total
            if needs_weight:
                for t in range(taps):
                    row[t] = 0.0
                _weight_gradient_of(row, padded, grad_pooled, switches, corners, offsets, run, start,
                                    start + windows)
                for t in range(taps):
                    grad_weight[unsigned(f * taps + t)] += row[t]
        if needs_x:                                              # dL/dx, output by output
            base = n * filters * windows
            _sort_by_switch(switches, base, filters, windows, taps, count, begin, order, rows)
            for i in range(grad_padded.shape[0]):
                grad_padded[i] = 0.0
            _input_gradient_of(grad_padded, weight_last, grad_pooled, base, corners, offsets, run, count,
                               begin, order, rows)
            _to_planes(grad_padded, n, channels, height, width, padding_h, padding_w, padded_width, grad_x)
    checks[0] += check


def conv2d_max_pool_backward_at_switches(grad_pooled, switches, x, weight, stride, padding, dilation, out,
                                         reach, needs_x, needs_weight, needs_bias):
    """(dL/dx, dL/dW, dL/db) of max_pool2d(conv2d(x)), read at the switches, channels last
    (the module's docstring); each None where its ``needs_*`` is False. Where x or W holds a
    number that is not finite: pooled_product.py's backward pass.

    grad_pooled, switches: (N, F, PH, PW), switches int64 flat indices oy*RW + ox in the
    plane of the pool's reach, (RH, RW) (``pool_reach``; ``out`` itself for switches of the
    whole output); x: (N, C, H, W); weight: (F, C, KH, KW); stride, padding, dilation, out,
    reach: (h, w) pairs. Returns (N, C, H, W), (F, C, KH, KW) and (F,), dtype of x.
    """
    x = numpy.ascontiguousarray(x)
    batch, channels, height, width = x.shape
    filters, _, kernel_height, kernel_width = weight.shape
    dtype = x.dtype
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    offsets, run = run_offsets((kernel_height, kernel_width), tuple(dilation), padded[1], channels)
    weight_last = numpy.ascontiguousarray(numpy.transpose(weight, (0, 2, 3, 1))).reshape(-1)
    windows = grad_pooled.shape[2] * grad_pooled.shape[3]
    per_chunk = images_per_chunk(filters * reach[0] * reach[1] * dtype.itemsize, batch)   # as pooled_product's
    chunks = -(-batch // per_chunk)
    taps = channels * kernel_height * kernel_width
    weight_parts = numpy.zeros((chunks, filters * taps) if needs_weight else (chunks, 1), numpy.float64)
    bias_parts = numpy.zeros((chunks, filters), numpy.float64)
    checks = numpy.zeros((chunks, 1), numpy.float64)
    grad_x = buffers.empty(x.shape, dtype) if needs_x else numpy.empty(1, dtype)
    arguments = (flat(grad_pooled), flat(switches), x.reshape(-1), *ints(channels, height, width, *padding,
                 *padded, windows), corner_table(tuple(reach), tuple(stride), padded[1], channels), offsets,
                 run, weight_last, needs_x, needs_weight)

    def work(first, last):
        for chunk in range(first, last):
            start = chunk * per_chunk
            _switch_gradient_loops(*arguments, weight_parts[chunk], bias_parts[chunk], grad_x.reshape(-1),
                                   checks[chunk], start, min(batch, start + per_chunk))

    threads.parallel_for(chunks, work, pieces_per_thread=chunks)   # one chunk per piece
    if not (numpy.isfinite(checks).all() and numpy.isfinite(weight).all()):
        return _as_the_reference(grad_pooled, switches, x, weight, stride, padding, dilation, out, reach,
                                 needs_x, needs_weight, needs_bias)
    grad_weight = grad_bias = None
    if needs_weight:                                       # (F, KH, KW, C) -> (F, C, KH, KW)
        sums = sum_in_chunk_order(weight_parts).reshape(filters, kernel_height, kernel_width, channels)
        grad_weight = numpy.ascontiguousarray(numpy.transpose(sums, (0, 3, 1, 2))).astype(dtype)
    if needs_bias:
        grad_bias = sum_in_chunk_order(bias_parts).astype(dtype)
    return (grad_x if needs_x else None), grad_weight, grad_bias


def _as_the_reference(grad_pooled, switches, x, weight, stride, padding, dilation, out, reach,
                      needs_x, needs_weight, needs_bias):
    """pooled_product.py's backward pass, its columns made again over the whole (OH, OW)
    output, as the reference's: for numbers not finite (a pixel that only the outputs beyond
    the pool's reach see still makes the reference's dL/dW NaN)."""
    from .im2col_col2im import im2col_numba
    from .pooled_product import conv2d_max_pool_backward_rows
    if tuple(reach) != tuple(out):                         # oy*RW + ox -> oy*OW + ox
        switches = switches // reach[1] * out[1] + switches % reach[1]
    cols = im2col_numba(x, tuple(weight.shape[2:]), stride, padding, out, dilation=dilation)
    return conv2d_max_pool_backward_rows(grad_pooled, switches, cols, weight, x.shape, stride, padding,
                                         dilation, out, needs_x, needs_weight, needs_bias)
