"""Output-size arithmetic for sliding windows, and the errors that explain it.

A window of size F slides over an input of size N padded by P zeros on each
side, moving S steps at a time (CS231n lecture 5):

    out = (N - F + 2P) / S + 1

When S does not divide N - F + 2P the windows do not tile the input; the
floor of the division is used (the last columns are never visited), or with
``ceil_mode=True`` one more, partial window is kept, as long as it starts
inside the input or its left padding (PyTorch's rule).
"""

import math


class ShapeError(ValueError):
    """A shape that does not fit a layer; the message says why, in full."""


def pair(value, name="value"):
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``. Used for kernel, stride, padding."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        result = (value[0], value[1])
    else:
        result = (value, value)
    for item in result:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    return result


def formula_text(n, kernel_size, stride, padding):
    """The formula with numbers filled in, e.g. ``(7 - 3 + 2*0)/3 + 1 = 2.33``."""
    exact = (n - kernel_size + 2 * padding) / stride + 1
    return f"({n} - {kernel_size} + 2*{padding})/{stride} + 1 = {exact:.3g}"


def conv_output_size(n, kernel_size, stride=1, padding=0, ceil_mode=False, strict=False,
                     caller="conv_output_size", axis="size"):
    """Number of window positions along one axis: ``(N - F + 2P)/S + 1``.

    n: input size N; kernel_size: F; stride: S (> 0); padding: P (>= 0).
    ceil_mode: keep a last partial window (PyTorch's rule for pooling).
    strict: raise ``ShapeError`` when the windows do not tile the padded input
    exactly, quoting the fractional result, e.g. ``(7 - 3 + 2*0)/3 + 1 = 2.33``.
    caller, axis: names used in error messages (the layer, "height"/"width").

    >>> conv_output_size(7, 3, stride=2)
    3
    >>> conv_output_size(7, 2, stride=2, ceil_mode=True)
    4
    """
    if stride <= 0:
        raise ShapeError(f"{caller}: stride must be positive, got stride={stride} for the {axis}")
    if kernel_size <= 0:
        raise ShapeError(f"{caller}: kernel size must be positive, got {kernel_size} for the {axis}")
    if padding < 0:
        raise ShapeError(f"{caller}: padding must be >= 0, got padding={padding} for the {axis}")
    padded = n + 2 * padding
    if kernel_size > padded:
        raise ShapeError(
            f"{caller}: the {kernel_size}-wide window is larger than the padded input along "
            f"the {axis} ({n} + 2*{padding} = {padded}); needs N + 2P >= F, and "
            f"{formula_text(n, kernel_size, stride, padding)} is below 1"
        )
    span = padded - kernel_size
    if strict and span % stride != 0:
        raise ShapeError(
            f"{caller}: stride {stride} does not fit along the {axis}: "
            f"{formula_text(n, kernel_size, stride, padding)} is not a whole number "
            "(the windows do not tile the input)"
        )
    if ceil_mode:
        out = math.ceil(span / stride) + 1
        # PyTorch: the last window must start inside the input or its left padding.
        if (out - 1) * stride >= n + padding:
            out -= 1
        return out
    return span // stride + 1


def receptive_field_step(field, jump, kernel_size, stride):
    """How one layer grows the receptive field.

    field: how many input pixels one unit of the layer's input sees.
    jump: how many input pixels apart neighbouring units of that input are.
    A window of F units at spacing ``jump`` sees ``field + (F - 1) * jump``
    pixels; its stride multiplies the spacing. Three stacked 3x3 stride-1
    convolutions: 1 -> 3 -> 5 -> 7 (CS231n; docs/sources.md section 3).
    Returns ``(field, jump)`` after the layer.
    """
    return field + (kernel_size - 1) * jump, jump * stride
