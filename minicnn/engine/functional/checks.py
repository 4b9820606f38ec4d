"""Input checks shared by the ops: errors that explain what went wrong.

Every message names the op or layer (``caller``), what it got, and what it
needed, so a learner can fix the call without reading the source. The
error types are minicnn's (minicnn/engine/errors.py), each a subclass of
the Python error one would expect.
"""

import numpy

from ..backend import get_array_module
from ..errors import DTypeError, NonFiniteError
from ..shapes import ShapeError

# The dtypes every op computes in. float16 is refused: the compiled twins
# have no float16 loops, and its 3 significant digits cannot hold the sums
# of a convolution (a filter of 288 taps) or a gradient check.
SUPPORTED_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))

# How to convert each kind of array, for the messages.
_CONVERT = {
    "input": "e.g. x.astype('float32') / 255 for 8-bit images",
    "weight": "e.g. weight.astype('float32'), or build the layer and load_state_dict",
    "bias": "e.g. bias.astype('float32')",
}


def check_input(caller, x, ndim, layout):
    """x must be a float32 or float64 array of ``ndim`` dimensions with finite values.

    layout: the expected shape in words, e.g. "(N, C, H, W)".
    Finiteness is checked only for leaf tensors (user data and parameters),
    not for every intermediate result, to keep the cost to one reduction.
    """
    if x.ndim != ndim:
        hint = ""
        if ndim == 4 and x.ndim == 3:
            hint = "; a single image needs a batch axis: x[None] or x.reshape(1, C, H, W)"
        raise ShapeError(f"{caller}: expected a {ndim}-D input {layout}, got shape {x.shape}{hint}")
    check_float(caller, x)


def check_float(caller, x, what="input"):
    """x (an input, weight or bias) must be float32 or float64, and finite if it is a leaf.

    Raises DTypeError for any other dtype (integers, bool, complex, float16)
    and NonFiniteError for NaN or infinite values, naming ``what`` it was.
    """
    if x.dtype not in SUPPORTED_DTYPES:
        note = f" ({x.dtype} is not supported: minicnn computes in these two only)" if x.dtype.kind == "f" else ""
        convert = _CONVERT.get(what, f"e.g. {what}.astype('float32')")
        raise DTypeError(f"{caller}: {what} must be floating point (float32 or float64), got "
                         f"{x.dtype}{note}; convert it first, {convert}")
    if x.creator is None:
        check_finite(caller, x.data, what)


def check_finite(caller, array, what):
    """NonFiniteError, counting them, if ``array`` holds NaN or infinite values."""
    xp = get_array_module(array)
    if not bool(xp.isfinite(array.sum())) and not bool(xp.isfinite(array).all()):
        bad = int((~xp.isfinite(array)).sum())
        hint = ("; training has diverged: lower the learning rate"
                if what in ("weight", "bias") else "")
        raise NonFiniteError(
            f"{caller}: {what} of shape {tuple(array.shape)} holds {bad} NaN or infinite values{hint}")


def check_same_dtype(caller, x, other, other_name, name="input"):
    """``other`` (a weight, a bias) must have x's dtype: DTypeError saying how to match them.

    Mixing float32 and float64 would promote the result differently on each
    backend (NumPy promotes, a compiled twin keeps its first argument's dtype).
    """
    if x.dtype != other.dtype:
        if name == "input":
            fix = f"e.g. model.to('{x.dtype}') or x.astype('{other.dtype}')"
        else:
            fix = f"e.g. {other_name}.astype('{x.dtype}')"
        raise DTypeError(f"{caller}: {name} is {x.dtype} but {other_name} is {other.dtype}; "
                         f"use one dtype, {fix}")


def check_parameters(caller, x, weight, bias=None):
    """The weight and bias of a layer: float32 or float64, finite, of the input's dtype.

    x: the op's input; weight; bias or None. The weight's dtype must be the
    input's and the bias's the weight's.
    """
    check_float(caller, weight, "weight")
    check_same_dtype(caller, x, weight, "weight")
    if bias is not None:
        check_float(caller, bias, "bias")
        check_same_dtype(caller, weight, bias, "bias", name="weight")
