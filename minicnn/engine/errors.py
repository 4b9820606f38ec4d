"""The engine's errors: what went wrong, in a type a learner can catch.

Each is a subclass of the Python error one would expect there, so code that
catches ``ValueError`` or ``TypeError`` keeps working. Every message names
the op or layer, the thing that was wrong, its value, and what was needed.

    ShapeError      a shape that does not fit a layer: wrong number of axes or
                    channels, a window larger than its padded input, a bias
                    or weight of the wrong shape (minicnn/engine/shapes.py)
    ArgumentError   an argument of an op or layer that cannot be used: a stride
                    of 0 or 2.5, a negative padding, Dropout(1.5), groups that
                    do not divide the channels, switches that are not Switches
    DTypeError      an array of a dtype the op cannot compute in: integers,
                    float16, complex, or a bias whose dtype differs from the weight's
    NonFiniteError  NaN or infinite values in an input or a parameter
"""


class ShapeError(ValueError):
    """A shape that does not fit a layer; the message says why, in full."""


class ArgumentError(ValueError, TypeError):
    """An argument of the wrong kind or outside its allowed range.

    Both a ValueError (a kernel of 0) and a TypeError (a stride of 2.5), as
    NumPy's AxisError is both a ValueError and an IndexError.
    """


class DTypeError(TypeError):
    """An array whose dtype the op cannot compute in (minicnn computes in float32 or float64)."""


class NonFiniteError(ValueError):
    """NaN or infinite values where finite numbers are needed."""
