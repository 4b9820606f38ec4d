"""ReLU: the forward pass with its mask, and the backward pass.

In this file: the plain-array references ``relu_forward`` and
``relu_backward`` (read these to learn), then their Numba twins
(``*_numba``). There are no CUDA twins: on the GPU the references are
CuPy's own elementwise kernels. What the twins share is explained in
kernels/compiled.py; which of them run, and when, in kernels/__init__.py.

Why twins for something so simple: each reference makes two passes through
memory (the comparison, then the maximum or the product), and a loop makes
one. Both compute exactly the same values, so they agree bit for bit,
signed zeros, infinities and NaN included.
"""

import numpy

from ..backend import get_array_module
from .. import buffers
from .compiled import flat, numba_loop, share_out, unsigned


# ==========================================================================
# References (NumPy or CuPy)
# ==========================================================================

def relu_forward(x):
    """max(0, x) and where x was positive.

    x: any shape. Returns (y, positive): y = max(0, x) (NaN stays NaN,
    -inf gives 0, as in PyTorch), and positive = x > 0, a boolean array
    kept for the backward pass.
    """
    xp = get_array_module(x)
    return xp.maximum(x, x.dtype.type(0)), x > 0


def relu_backward(grad_y, positive):
    """dL/dx of ReLU: the gradient passes where x > 0 and is zeroed elsewhere.

    grad_y, positive: the same shape. Returns grad_y * positive (so ReLU'(0) = 0).
    """
    return grad_y * positive


# ==========================================================================
# Numba twins (CPU): one pass each, parallel over the elements
# ==========================================================================

@numba_loop
def _relu_forward_loops(x, y, positive, first, last):
    """x -> y = max(0, x), positive = x > 0; all flat, written in place.

    NaN stays NaN (``value != value``), as numpy.maximum keeps it.
    """
    for k in range(unsigned(first), unsigned(last)):   # of x.size: this thread's share (unsigned: see compiled.py)
        value = x[k]
        keep = value > 0
        positive[k] = keep
        y[k] = value if keep or value != value else 0


def relu_forward_numba(x):
    """Numba twin of ``relu_forward``, equal to it bit for bit.

    x: any shape. Returns (y, positive), both of x's shape, C-contiguous.
    """
    y = buffers.empty(x.shape, x.dtype)
    positive = buffers.empty(x.shape, numpy.bool_)
    share_out(_relu_forward_loops, x.size, flat(x), y.reshape(-1), positive.reshape(-1))
    return y, positive


@numba_loop
def _relu_in_place_loops(values, positive, first, last):
    """_relu_forward_loops with x = y: values -> max(0, values) written over them, positive =
    values > 0; both flat.

    A loop of its own, although passing one array as both x and y of _relu_forward_loops
    gives the same numbers: a compiled loop over two arrays checks at run time whether
    they overlap and, where they do, runs its scalar version rather than the vector one
    (benchmarks/README.md, "The ReLU after a conv+pool folded into its routes"). Here one
    array is read and written, and the loop stays in vectors."""
    for k in range(unsigned(first), unsigned(last)):   # of values.size: this thread's share
        value = values[k]
        keep = value > 0
        positive[k] = keep
        values[k] = value if keep or value != value else 0


def relu_in_place(values, positive):
    """relu_forward's numbers written over ``values``, on the calling thread alone.

    values: flat, float; positive: flat, bool, of values' size. values becomes
    max(0, values) (NaN stays NaN, -0.0 gives 0.0, as relu_forward), and positive
    relu_forward's mask, values > 0. For routes that fold ReLU into a pass that already
    holds the values in the cache (a chunk of pooled maxima: kernels/pooling.py,
    chunk_pooler).
    """
    _relu_in_place_loops(values, positive, 0, values.size)


@numba_loop
def _relu_backward_loops(grad_y, positive, zero, grad_x, first, last):
    """grad_x = grad_y * positive; all flat, written in place.

    Where the mask is False the product is grad_y * 0, not a plain 0, so
    an infinite or NaN gradient gives NaN exactly as the reference's product.
    """
    for k in range(unsigned(first), unsigned(last)):   # of grad_y.size: this thread's share (unsigned: see compiled.py)
        value = grad_y[k]
        grad_x[k] = value if positive[k] else value * zero


def relu_backward_numba(grad_y, positive):
    """Numba twin of ``relu_backward``, equal to it bit for bit.

    grad_y, positive: the same shape. Returns grad_x of that shape, C-contiguous.
    """
    grad_x = buffers.empty(grad_y.shape, grad_y.dtype)
    share_out(_relu_backward_loops, grad_y.size, flat(grad_y), flat(positive), grad_y.dtype.type(0), grad_x.reshape(-1))
    return grad_x
