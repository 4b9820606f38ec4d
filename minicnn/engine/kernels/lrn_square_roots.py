"""Local response normalization with beta = 3/4 by square roots: a route of local_response_norm.

The reference (functional/normalization.py, kernels/lrn.py) computes

    scale[c] = k + alpha/n * sum_{c' = c - n//2}^{c + (n-1)//2} x[c']^2
    y[c]     = x[c] * scale[c] ** -beta

and its backward

    dL/dx[c] = grad_y[c] * scale[c] ** -beta
               - 2 alpha beta / n * x[c] * sum_{c' = c - (n-1)//2}^{c + n//2} grad_y[c'] y[c'] / scale[c']

The power is the slow part: a general ``s ** -beta`` is an exponential of a
logarithm, element by element, and the reference takes it twice (forward
and backward). AlexNet and ZFNet use beta = 3/4, and for it

    x * s ** -3/4 = x / (sqrt(s) * sqrt(sqrt(s)))

two square roots, a product and a division, which NumPy does in vector
instructions (a Numba loop takes its square roots one value at a time, so
the roots are NumPy's here). Forward keeps power = scale ** 3/4 for the
backward pass, which then takes no root at all. Each of the four steps is
rounded once, so the result is within a few units in the last place of the
reference's (tests/test_routes.py checks it against the reference, forward
and backward, float32 and float64).

The loops go image by image (minicnn's threads share the images): forward,
the squares (each taken once), the window sums and the scale; backward, the
ratios grad_y y / scale (each divided once, not once per window that holds
it), their mirrored window sums, and dL/dx, in one pass. The window sums
add the channels in increasing order, from zero, in the input's dtype, as
the reference does: ``scale`` and the ratios are the reference's bit for
bit; only the divisions by ``scale ** 3/4`` differ from the reference's
products with ``scale ** -3/4``, in the last bits.
"""

import numpy

from .. import buffers, threads
from .compiled import SHARE_FROM_BYTES_COMPUTING, flat, ints, numba_loop, share_out, unsigned

BETA = 0.75    # the one beta this route computes


@numba_loop
def _scale_loops(x, channels, pixel_count, size, alpha_over_size, k, scale, first, last):
    """x: (N, C, P) -> scale: (N, C, P), both flat, written in place; items: images n.

        scale[n, c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[n, c']^2

    Each square is taken once per image (not once per window that holds it).
    Flat offsets, unsigned (kernels/compiled.py says why): x[n, c, p] at (n*C + c)*P + p.
    """
    before, after = size // 2, (size - 1) // 2
    squares = numpy.empty(channels * pixel_count, dtype=x.dtype)       # x[n]^2, (C, P)
    for n in range(first, last):
        image = n * channels * pixel_count
        for i in range(channels * pixel_count):
            squares[i] = x[unsigned(image + i)] * x[unsigned(image + i)]
        for c in range(channels):
            plane = image + c * pixel_count
            for p in range(pixel_count):
                scale[unsigned(plane + p)] = 0
            for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
                source = neighbour * pixel_count
                for p in range(pixel_count):
                    scale[unsigned(plane + p)] += squares[unsigned(source + p)]
            for p in range(pixel_count):
                scale[unsigned(plane + p)] = k + alpha_over_size * scale[unsigned(plane + p)]


@numba_loop
def _backward_loops(grad_y, x, y, scale, power, channels, pixel_count, size, coefficient, grad_x,
                    first, last):
    """All (N, C, P), flat; power = scale ** 3/4; grad_x written in place; items: images n.
    coefficient = 2 alpha beta / size.

        ratio[c]    = grad_y[c] * y[c] / scale[c]
        grad_x[c]   = grad_y[c] / scale[c] ** 3/4
                      - coefficient * x[c] * sum_{c' = c - (size-1)//2}^{c + size//2} ratio[c']
    """
    before, after = (size - 1) // 2, size // 2
    ratios = numpy.empty(channels * pixel_count, dtype=grad_y.dtype)   # of image n, (C, P)
    mirrored = numpy.empty(pixel_count, dtype=grad_y.dtype)
    for n in range(first, last):
        image = n * channels * pixel_count
        for i in range(channels * pixel_count):
            at = unsigned(image + i)
            ratios[i] = grad_y[at] * y[at] / scale[at]
        for c in range(channels):
            plane = image + c * pixel_count
            for p in range(pixel_count):
                mirrored[p] = 0
            for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
                source = neighbour * pixel_count
                for p in range(pixel_count):
                    mirrored[p] += ratios[unsigned(source + p)]
            for p in range(pixel_count):
                at = unsigned(plane + p)
                grad_x[at] = grad_y[at] / power[at] - coefficient * x[at] * mirrored[p]


def _in_shares(work, x):
    """work(first, last) over the images of x, on minicnn's threads from
    SHARE_FROM_BYTES_COMPUTING bytes of x, else whole on this thread."""
    if x.nbytes < SHARE_FROM_BYTES_COMPUTING:
        work(0, x.shape[0])
    else:
        threads.parallel_for(x.shape[0], work)


def lrn_forward_square_roots_numba(x, size, alpha, k):
    """(y, scale, power) of local response normalization with beta = 3/4.

    x: (N, C, H, W) float32 or float64. Returns y, scale and power = scale ** 3/4,
    all (N, C, H, W), dtype of x; backward takes power, so as not to take the roots again.
    """
    x = numpy.ascontiguousarray(x)
    n, c, height, width = x.shape
    as_dtype = x.dtype.type
    y, scale, power = (buffers.empty(x.shape, x.dtype) for _ in range(3))
    settings = ints(c, height * width, size) + (as_dtype(alpha / size), as_dtype(k))

    def work(first, last):
        _scale_loops(flat(x), *settings, scale.reshape(-1), first, last)
        # NumPy's square roots are vector instructions (a compiled loop's are not, in
        # Numba: one value at a time); images first .. last-1, in place
        part, roots = scale[first:last], power[first:last]
        numpy.sqrt(part, out=roots)                             # sqrt(s)
        numpy.sqrt(roots, out=y[first:last])                    # sqrt(sqrt(s)), in y for now
        numpy.multiply(roots, y[first:last], out=roots)         # s ** 3/4
        numpy.divide(x[first:last], roots, out=y[first:last])   # x / s ** 3/4

    _in_shares(work, x)
    return y, scale, power


def lrn_backward_square_roots_numba(grad_y, x, y, scale, power, size, alpha):
    """dL/dx of ``lrn_forward_square_roots_numba``'s y; all (N, C, H, W), dtype of grad_y."""
    grad_y, x, y, scale, power = (numpy.ascontiguousarray(a) for a in (grad_y, x, y, scale, power))
    n, c, height, width = x.shape
    grad_x = buffers.empty(x.shape, grad_y.dtype)
    share_out(_backward_loops, n, flat(grad_y), flat(x), flat(y), flat(scale), flat(power),
              *ints(c, height * width, size), grad_y.dtype.type(2.0 * alpha * BETA / size),
              grad_x.reshape(-1), share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return grad_x
