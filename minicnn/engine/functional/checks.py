"""Input checks shared by the ops: errors that explain what went wrong.

Every message names the op or layer (``caller``), what it got, and what it
needed, so a learner can fix the call without reading the source.
"""

import numpy

from ..backend import get_array_module
from ..shapes import ShapeError


def check_input(caller, x, ndim, layout):
    """x must be a floating-point array of ``ndim`` dimensions with finite values.

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
    if not numpy.issubdtype(x.dtype, numpy.floating):
        raise TypeError(
            f"{caller}: input must be floating point (float32 or float64), got {x.dtype}; "
            "convert it first, e.g. x.astype('float32') / 255"
        )
    if x.creator is None:
        check_finite(caller, x.data, what)


def check_finite(caller, array, what):
    xp = get_array_module(array)
    if not bool(xp.isfinite(array.sum())) and not bool(xp.isfinite(array).all()):
        bad = int((~xp.isfinite(array)).sum())
        hint = "; training has diverged: lower the learning rate" if what == "weight" else ""
        raise ValueError(f"{caller}: {what} of shape {tuple(array.shape)} holds {bad} NaN or infinite values{hint}")


def check_same_dtype(caller, x, other, other_name):
    if x.dtype != other.dtype:
        raise TypeError(
            f"{caller}: input is {x.dtype} but {other_name} is {other.dtype}; use one dtype, "
            f"e.g. model.to('{x.dtype}') or x.astype('{other.dtype}')"
        )
