"""Local response normalization across channels (AlexNet 3.3): forward and backward.

In this file: the plain-array references ``lrn_forward`` and
``lrn_backward`` (read these to learn), then their Numba twins (``*_numba``),
then their CUDA twins (``*_cuda``). What the twins share, and why they look
as they do, is explained in kernels/compiled.py; which of them run, and
when, in kernels/__init__.py. All arrays are (N, C, H, W).

Same numbers as the reference: every twin adds each channel window in
increasing channel order, in the input's dtype. The Numba twins leave
``scale ** -beta`` to NumPy, the very expression of the reference: Numba
would call the C library's pow once per element, which is slower than
NumPy's vectorised power and may differ from it in the last bit. So they
agree bit for bit. A GPU has only its own pow (and may fuse a multiply
and an add), so the CUDA twins agree to a few units in the last place.
"""

import numpy

from ..backend import get_array_module
from .. import buffers
from .. import threads
from .compiled import SHARE_FROM_BYTES_COMPUTING, cuda, cuda_kernel, launch, numba_loop, share_out


# ==========================================================================
# References (NumPy or CuPy)
# ==========================================================================

def _channel_window_sum(a, before, after):
    """s[:, c] = a[:, c - before] + ... + a[:, c + after], zero outside 0..C-1."""
    xp = get_array_module(a)
    channels = a.shape[1]
    padded = xp.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
    total = xp.zeros_like(a)
    for offset in range(before + after + 1):
        total += padded[:, offset:offset + channels]
    return total


def lrn_forward(x, size, alpha, beta, k):
    """Local response normalization across channels (AlexNet 3.3).

    x: (N, C, H, W). Returns (y, scale), both (N, C, H, W):

        scale[c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[c']^2
        y[c]     = x[c] / scale[c]^beta

    Channels outside 0..C-1 count as zero (the PyTorch/Caffe convention).
    ``scale`` is kept for the backward pass.
    """
    scale = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -beta, scale


def lrn_backward(grad_y, x, y, scale, size, alpha, beta):
    """Gradient of LRN with respect to x.

    All arrays (N, C, H, W). Differentiating y[c'] = x[c'] scale[c']^-beta:

        dL/dx[c] = grad_y[c] * scale[c]^-beta
                   - 2 alpha beta / size * x[c]
                     * sum over c' whose window holds c of grad_y[c'] y[c'] / scale[c']

    Channel c is in the window of c' when c' - size//2 <= c <= c' + (size-1)//2,
    that is c' runs from c - (size-1)//2 to c + size//2: the window mirrored.
    """
    ratio = grad_y * y / scale
    mirrored = _channel_window_sum(ratio, (size - 1) // 2, size // 2)
    return grad_y * scale ** -beta - (2.0 * alpha * beta / size) * x * mirrored


# ==========================================================================
# Numba twins (CPU): the window sums are loops, the power is NumPy's
# ==========================================================================

@numba_loop
def _lrn_scale_loops(x, size, alpha_over_size, k, scale, first, last):
    """x: (N, C, H*W) -> scale: (N, C, H*W), written in place.

        scale[n, c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[n, c']^2

    Channels outside 0..C-1 are left out (the reference adds zeros there,
    which changes no sum). The scalars come in x's dtype, so float32 inputs
    are computed in float32 throughout, like the reference.
    """
    batch, channels, pixel_count = x.shape
    before, after = size // 2, (size - 1) // 2
    for plane in range(first, last):   # of batch * channels: this thread's share
        n, c = plane // channels, plane % channels
        # scale[n, c] first collects the sum of squares, channel by channel
        for p in range(pixel_count):
            scale[n, c, p] = 0
        for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
            for p in range(pixel_count):
                scale[n, c, p] += x[n, neighbour, p] * x[n, neighbour, p]
        for p in range(pixel_count):
            scale[n, c, p] = k + alpha_over_size * scale[n, c, p]


def lrn_forward_numba(x, size, alpha, beta, k):
    """Numba twin of ``lrn_forward``, equal to it bit for bit.

    x: (N, C, H, W). Returns (y, scale), both (N, C, H, W), dtype of x.
    """
    x = numpy.ascontiguousarray(x)
    n, c, height, width = x.shape
    as_dtype = x.dtype.type
    scale = buffers.empty(x.shape, x.dtype)
    share_out(_lrn_scale_loops, n * c, x.reshape(n, c, height * width), int(size), as_dtype(alpha / size),
              as_dtype(k), scale.reshape(n, c, height * width),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    y = _power(scale, -beta)                                   # scale ** -beta
    threads.parallel_for(n, lambda first, last: numpy.multiply(x[first:last], y[first:last],
                                                               out=y[first:last]))
    return y, scale                                            # x * scale ** -beta


def _power(base, exponent):
    """base ** exponent by NumPy's own power, image by image on minicnn's threads
    (NumPy releases Python's lock inside it): the reference's numbers, elementwise."""
    out = buffers.empty(base.shape, base.dtype)
    threads.parallel_for(base.shape[0], lambda first, last: numpy.power(
        base[first:last], base.dtype.type(exponent), out=out[first:last]))
    return out


@numba_loop
def _lrn_backward_loops(grad_y, x, y, scale, scale_to_minus_beta, size, coefficient, grad_x, first, last):
    """All arrays (N, C, H*W); grad_x written in place.

        ratio[c']   = grad_y[c'] * y[c'] / scale[c']
        mirrored[c] = sum_{c' = c - (size-1)//2}^{c + size//2} ratio[c']
        grad_x[c]   = grad_y[c] * scale[c] ** -beta - (2 alpha beta / size) * x[c] * mirrored[c]

    coefficient = 2 alpha beta / size, in the arrays' dtype.
    """
    batch, channels, pixel_count = x.shape
    before, after = (size - 1) // 2, size // 2
    for plane in range(first, last):   # of batch * channels: this thread's share
        n, c = plane // channels, plane % channels
        # grad_x[n, c] first collects the mirrored window sum of the ratios
        for p in range(pixel_count):
            grad_x[n, c, p] = 0
        for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
            for p in range(pixel_count):
                grad_x[n, c, p] += (grad_y[n, neighbour, p] * y[n, neighbour, p]
                                    / scale[n, neighbour, p])
        for p in range(pixel_count):
            grad_x[n, c, p] = (grad_y[n, c, p] * scale_to_minus_beta[n, c, p]
                               - coefficient * x[n, c, p] * grad_x[n, c, p])


def lrn_backward_numba(grad_y, x, y, scale, size, alpha, beta):
    """Numba twin of ``lrn_backward``, equal to it bit for bit.

    All arrays (N, C, H, W). Returns grad_x: (N, C, H, W), dtype of grad_y.
    """
    grad_y, x, y, scale = (numpy.ascontiguousarray(a) for a in (grad_y, x, y, scale))
    n, c, height, width = x.shape
    grad_x = buffers.empty(grad_y.shape, grad_y.dtype)
    shape = (n, c, height * width)
    share_out(_lrn_backward_loops, n * c, grad_y.reshape(shape), x.reshape(shape), y.reshape(shape),
              scale.reshape(shape), _power(scale, -beta).reshape(shape), int(size),
              grad_y.dtype.type(2.0 * alpha * beta / size), grad_x.reshape(shape),
              share_from_bytes=SHARE_FROM_BYTES_COMPUTING)
    return grad_x


# ==========================================================================
# CUDA twins (GPU)
# ==========================================================================

@cuda_kernel
def _lrn_forward_kernel(x, size, alpha_over_size, minus_beta, k, zero, y, scale):
    """One thread per element (n, c, p) of x: (N, C, H*W); y, scale written.

        scale[n, c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[n, c']^2
        y[n, c]     = x[n, c] * scale[n, c] ** -beta

    The sum runs over the channels inside 0..C-1 in increasing order, from
    ``zero``, in the arrays' dtype: the reference's arithmetic, except that
    ``**`` is the GPU's pow, which may differ from NumPy's in the last bit.
    """
    batch, channels, pixel_count = x.shape
    before, after = size // 2, (size - 1) // 2
    first_pixel, first_plane = cuda.grid(2)
    pixel_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, batch * channels, plane_step):
        n, c = plane // channels, plane % channels
        for p in range(first_pixel, pixel_count, pixel_step):
            total = zero
            for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
                total += x[n, neighbour, p] * x[n, neighbour, p]
            total = k + alpha_over_size * total
            scale[n, c, p] = total
            y[n, c, p] = x[n, c, p] * total ** minus_beta


def lrn_forward_cuda(x, size, alpha, beta, k):
    """CUDA twin of ``lrn_forward``: the same sums, but the GPU's pow (see above).

    x: (N, C, H, W), a CuPy array. Returns (y, scale), both (N, C, H, W), dtype of x.
    """
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, height, width = x.shape
    as_dtype = x.dtype.type
    y = xp.empty_like(x)
    scale = xp.empty_like(x)
    shape = (n, c, height * width)
    launch(_lrn_forward_kernel, height * width, n * c, x.reshape(shape), int(size),
           as_dtype(alpha / size), as_dtype(-beta), as_dtype(k), as_dtype(0),
           y.reshape(shape), scale.reshape(shape))
    return y, scale


@cuda_kernel
def _lrn_backward_kernel(grad_y, x, y, scale, size, coefficient, minus_beta, zero, grad_x):
    """One thread per element (n, c, p); all arrays (N, C, H*W); grad_x written.

        mirrored[c] = sum_{c' = c - (size-1)//2}^{c + size//2} grad_y[c'] * y[c'] / scale[c']
        grad_x[c]   = grad_y[c] * scale[c] ** -beta - (2 alpha beta / size) * x[c] * mirrored[c]

    coefficient = 2 alpha beta / size, in the arrays' dtype.
    """
    batch, channels, pixel_count = x.shape
    before, after = (size - 1) // 2, size // 2
    first_pixel, first_plane = cuda.grid(2)
    pixel_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, batch * channels, plane_step):
        n, c = plane // channels, plane % channels
        for p in range(first_pixel, pixel_count, pixel_step):
            mirrored = zero
            for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
                mirrored += grad_y[n, neighbour, p] * y[n, neighbour, p] / scale[n, neighbour, p]
            grad_x[n, c, p] = (grad_y[n, c, p] * scale[n, c, p] ** minus_beta
                               - coefficient * x[n, c, p] * mirrored)


def lrn_backward_cuda(grad_y, x, y, scale, size, alpha, beta):
    """CUDA twin of ``lrn_backward``: the same sums, but the GPU's pow (see above).

    All arrays (N, C, H, W), CuPy. Returns grad_x: (N, C, H, W), dtype of grad_y.
    """
    xp = get_array_module(grad_y)
    grad_y, x, y, scale = (xp.ascontiguousarray(a) for a in (grad_y, x, y, scale))
    n, c, height, width = x.shape
    as_dtype = grad_y.dtype.type
    grad_x = xp.empty_like(grad_y)
    shape = (n, c, height * width)
    launch(_lrn_backward_kernel, height * width, n * c, grad_y.reshape(shape), x.reshape(shape),
           y.reshape(shape), scale.reshape(shape), int(size), as_dtype(2.0 * alpha * beta / size),
           as_dtype(-beta), as_dtype(0), grad_x.reshape(shape))
    return grad_x
