"""The hot loops of a convnet, and which implementation runs them.

Each function here has a plain-array reference in ``reference.py`` (read that
one to learn) and may have faster twins: ``numba_cpu.py`` (compiled CPU loops,
used by the "numba" backend) and ``cuda.py`` (GPU kernels, used for CuPy
arrays). ``_pick`` is the only place that chooses between them; ops never do.
A twin is listed only where it is faster than the reference (see
benchmarks/), and, where its module says so (``SMALLEST_FASTER``), only
for arrays large enough to pay for starting its threads.
"""

from .availability import is_cupy_array

NAMES = (
    "im2col", "col2im", "maxpool_forward", "maxpool_scatter", "maxpool_gather",
    "lrn_forward", "lrn_backward", "relu_forward", "relu_backward",
    "batch_major", "filter_major", "filter_major_with_sums",
)


def _compiled_module(array):
    """The module of compiled kernels for this array and backend, or None."""
    from ..backend import get_backend  # late import: backend imports this package

    if is_cupy_array(array):
        try:
            from . import cuda
        except ImportError:
            return None
        return cuda
    if get_backend() == "numba":
        from . import numba_cpu
        return numba_cpu
    return None


def _pick(name, array):
    from . import reference  # late import: reference.py uses minicnn.engine.backend

    module = _compiled_module(array)
    if (module is not None and name in getattr(module, "FASTER_THAN_REFERENCE", ())
            and array.size >= getattr(module, "SMALLEST_FASTER", {}).get(name, 0)):
        return getattr(module, name)
    return getattr(reference, name)


def im2col(x, kernel, stride, padding, out, pad_value=0.0):
    return _pick("im2col", x)(x, kernel, stride, padding, out, pad_value)


def col2im(cols, input_shape, kernel, stride, padding):
    return _pick("col2im", cols)(cols, input_shape, kernel, stride, padding)


def maxpool_forward(x, kernel, stride, padding, out):
    return _pick("maxpool_forward", x)(x, kernel, stride, padding, out)


def maxpool_scatter(values, switches, input_shape):
    return _pick("maxpool_scatter", values)(values, switches, input_shape)


def maxpool_gather(x, switches):
    return _pick("maxpool_gather", x)(x, switches)


def lrn_forward(x, size, alpha, beta, k):
    return _pick("lrn_forward", x)(x, size, alpha, beta, k)


def lrn_backward(grad_y, x, y, scale, size, alpha, beta):
    return _pick("lrn_backward", grad_y)(grad_y, x, y, scale, size, alpha, beta)


def relu_forward(x):
    return _pick("relu_forward", x)(x)


def relu_backward(grad_y, positive):
    return _pick("relu_backward", grad_y)(grad_y, positive)


def batch_major(y, batch, bias=None):
    return _pick("batch_major", y)(y, batch, bias)


def filter_major(grad):
    return _pick("filter_major", grad)(grad)


def filter_major_with_sums(grad):
    return _pick("filter_major_with_sums", grad)(grad)
