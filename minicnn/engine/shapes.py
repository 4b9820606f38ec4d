"""Output-size arithmetic for sliding windows, and the errors that explain it.

A window of size F slides over an input of size N padded by P zeros on each
side, moving S steps at a time (CS231n lecture 5):

    out = (N - F + 2P) / S + 1

A dilated window (dilation D) reads every D-th pixel: its F taps sit D
apart and span D(F - 1) + 1 pixels, which takes the place of F (PyTorch's
formula; D = 1 gives the one above):

    out = (N + 2P - D(F - 1) - 1) / S + 1

When S does not divide the span the windows do not tile the input; the
floor of the division is used (the last columns are never visited), or with
``ceil_mode=True`` one more, partial window is kept, as long as it starts
inside the input or its left padding (PyTorch's rule).
"""

import math
import numbers

from .errors import ArgumentError, ShapeError

__all__ = ["ShapeError", "ArgumentError", "pair", "whole_number", "formula_text",
           "conv_output_size", "receptive_field_step"]

# Why a setting has its least value, for the messages of ``pair`` and ``whole_number``.
_LEAST = {
    "kernel_size": "a window covers at least one pixel",
    "stride": "a window moves at least one pixel at a time",
    "dilation": "a window's taps are at least one pixel apart",
    "padding": "padding adds zeros, it cannot remove pixels",
    "size": "a local response norm spans at least one channel",
}


def _whole_number(item):
    """An int (Python's or NumPy's, any integral number) as a Python int, else None."""
    if isinstance(item, numbers.Integral) and not isinstance(item, bool):
        return int(item)
    return None


def whole_number(value, name="value", caller=None, minimum=None):
    """``value`` as a Python int: a count such as groups, channels or features.

    Any integral number is accepted (``2``, ``numpy.int64(2)``); a bool, a
    float (``2.5``, ``2.0``) or anything else, and a value below ``minimum``,
    raise ArgumentError naming ``caller``, ``name``, the value and the range.
    """
    who = f"{caller}: " if caller else ""
    result = _whole_number(value)
    if result is None:
        raise ArgumentError(f"{who}{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if minimum is not None and result < minimum:
        reason = f" ({_LEAST[name]})" if name in _LEAST else ""
        raise ArgumentError(f"{who}{name} must be {minimum} or more{reason}, got {name}={value!r}")
    return result


def pair(value, name="value", caller=None, minimum=None):
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``. Used for kernel, stride, padding, dilation.

    Any whole number is accepted (``3``, ``numpy.int64(3)``) and returned as
    Python ints. ArgumentError, naming ``caller`` (the op or layer), ``name``
    and the value: for a bool, a float (``2.5``, and ``2.0`` too: a window
    position is counted, not measured), a sequence that is not two long, and
    an item below ``minimum`` when one is given.
    """
    who = f"{caller}: " if caller else ""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ArgumentError(f"{who}{name} must be an int or an (h, w) pair, got {value!r}")
        items = (value[0], value[1])
    else:
        items = (value, value)
    result = tuple(_whole_number(item) for item in items)
    if None in result:
        bad = items[result.index(None)]
        raise ArgumentError(
            f"{who}{name} must be a whole number or an (h, w) pair of them, got {value!r} "
            f"({type(bad).__name__})"
        )
    if minimum is not None and min(result) < minimum:
        reason = f" ({_LEAST[name]})" if name in _LEAST else ""
        raise ArgumentError(f"{who}{name} must be {minimum} or more{reason}, got {name}={value!r}")
    return result


def formula_text(n, kernel_size, stride, padding, dilation=1):
    """The formula with numbers filled in, e.g. ``(7 - 3 + 2*0)/3 + 1 = 2.33``.

    With dilation D > 1: ``(7 + 2*0 - 2*(3 - 1) - 1)/1 + 1 = 3``.
    """
    span = dilation * (kernel_size - 1) + 1
    exact = (n + 2 * padding - span) / stride + 1
    if dilation == 1:
        return f"({n} - {kernel_size} + 2*{padding})/{stride} + 1 = {exact:.3g}"
    return f"({n} + 2*{padding} - {dilation}*({kernel_size} - 1) - 1)/{stride} + 1 = {exact:.3g}"


def conv_output_size(n, kernel_size, stride=1, padding=0, ceil_mode=False, strict=False,
                     caller="conv_output_size", axis="size", dilation=1):
    """Number of window positions along one axis: ``(N + 2P - D(F - 1) - 1)/S + 1``.

    n: input size N; kernel_size: F (> 0); stride: S (> 0); padding: P (>= 0);
    dilation: D (> 0), the spacing of the window's taps (1: ``(N - F + 2P)/S + 1``).
    ceil_mode: keep a last partial window (PyTorch's rule for pooling).
    strict: raise ``ShapeError`` when the windows do not tile the padded input
    exactly, quoting the fractional result, e.g. ``(7 - 3 + 2*0)/3 + 1 = 2.33``.
    caller, axis: names used in error messages (the layer, "height"/"width").

    >>> conv_output_size(7, 3, stride=2)
    3
    >>> conv_output_size(7, 2, stride=2, ceil_mode=True)
    4
    >>> conv_output_size(7, 3, dilation=2)
    3
    """
    if kernel_size <= 0:
        raise ShapeError(f"{caller}: kernel size must be positive, got {kernel_size} for the {axis}")
    if stride <= 0:
        raise ShapeError(f"{caller}: stride must be positive, got stride={stride} for the {axis}")
    if dilation <= 0:
        raise ShapeError(f"{caller}: dilation must be positive, got dilation={dilation} for the {axis}")
    if padding < 0:
        raise ShapeError(f"{caller}: padding must be >= 0, got padding={padding} for the {axis}")
    padded = n + 2 * padding
    window = dilation * (kernel_size - 1) + 1             # pixels one window spans
    if window > padded:
        what = (f"{kernel_size}-wide window" if dilation == 1 else
                f"{kernel_size}-tap window dilated by {dilation} ({dilation}*({kernel_size} - 1) + 1 "
                f"= {window} pixels wide)")
        needs = "N + 2P >= F" if dilation == 1 else "N + 2P >= D(F - 1) + 1"
        raise ShapeError(
            f"{caller}: the {what} is larger than the padded input along "
            f"the {axis} ({n} + 2*{padding} = {padded}); needs {needs}, and "
            f"{formula_text(n, kernel_size, stride, padding, dilation)} is below 1"
        )
    span = padded - window
    if strict and span % stride != 0:
        raise ShapeError(
            f"{caller}: stride {stride} does not fit along the {axis}: "
            f"{formula_text(n, kernel_size, stride, padding, dilation)} is not a whole number "
            "(the windows do not tile the input)"
        )
    if ceil_mode:
        out = math.ceil(span / stride) + 1
        # PyTorch: the last window must start inside the input or its left padding.
        if (out - 1) * stride >= n + padding:
            out -= 1
        return out
    return span // stride + 1


def receptive_field_step(field, jump, kernel_size, stride, dilation=1):
    """How one layer grows the receptive field.

    field: how many input pixels one unit of the layer's input sees.
    jump: how many input pixels apart neighbouring units of that input are.
    A window of F units at spacing ``jump`` sees ``field + (F - 1) * jump``
    pixels; its stride multiplies the spacing. Three stacked 3x3 stride-1
    convolutions: 1 -> 3 -> 5 -> 7 (CS231n; docs/sources.md section 3).
    A dilated window's taps are D units apart, so it adds ``D(F - 1) * jump``:
    a 3x3 convolution with dilation 2 after one with dilation 1 sees 1 -> 3 -> 7.
    Returns ``(field, jump)`` after the layer.
    """
    return field + dilation * (kernel_size - 1) * jump, jump * stride
