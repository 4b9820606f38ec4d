"""Numerical gradient checking with centred differences (CS231n's recipe).

For a function L(x) of tensors, the analytic gradient from backward() must
match the numerical one,

    dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

element by element. Non-scalar outputs are reduced to a scalar with fixed
random weights, L = sum(out * r), which checks the whole Jacobian-vector
product. Run it in float64: float32's rounding swamps eps.
"""

import numpy

from .backend import get_array_module
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message shows where."""


def relative_error(a, b):
    """max |a - b| / max(1e-8, |a| + |b|), elementwise (CS231n)."""
    xp = get_array_module(a)
    return xp.abs(a - b) / xp.maximum(1e-8, xp.abs(a) + xp.abs(b))


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-7, rtol=1e-5, seed=0):
    """Check ``fn``'s backward against centred differences; raise on mismatch.

    fn:     callable taking the tensors in ``inputs`` and returning a Tensor
            (it must be deterministic: fix any dropout mask inside it)
    inputs: float64 Tensors; those with requires_grad=True are checked
    An element fails when |analytic - numeric| > atol AND its relative error
    exceeds rtol. Returns True when every element passes; otherwise raises
    GradcheckError naming the input, the worst element, both values and the
    relative error.
    """
    for index, tensor in enumerate(inputs):
        if tensor.requires_grad and tensor.dtype != numpy.float64:
            raise TypeError(f"gradcheck: input {index} is {tensor.dtype}; gradient checks need float64")
    output = fn(*inputs)
    xp = get_array_module(output.data)
    weights = xp.asarray(numpy.random.default_rng(seed).standard_normal(output.shape))

    def scalar(*tensors):
        return float((fn(*tensors).data * weights).sum())

    for tensor in inputs:
        tensor.grad = None
    (output * Tensor(weights)).sum().backward()

    for index, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            continue
        analytic = tensor.grad if tensor.grad is not None else xp.zeros_like(tensor.data)
        numeric = xp.zeros_like(tensor.data)
        flat_data, flat_numeric = tensor.data.reshape(-1), numeric.reshape(-1)
        with no_grad():
            for i in range(flat_data.size):
                original = float(flat_data[i])
                flat_data[i] = original + eps
                plus = scalar(*inputs)
                flat_data[i] = original - eps
                minus = scalar(*inputs)
                flat_data[i] = original
                flat_numeric[i] = (plus - minus) / (2 * eps)
        error = relative_error(analytic, numeric)
        failing = (xp.abs(analytic - numeric) > atol) & (error > rtol)
        if bool(failing.any()):
            flat_worst = int(xp.argmax(xp.where(failing, error, -1.0)))
            worst = tuple(int(i) for i in numpy.unravel_index(flat_worst, numeric.shape))
            raise GradcheckError(
                f"gradcheck: input {index} (shape {tensor.shape}) has {int(failing.sum())} of "
                f"{numeric.size} elements wrong; worst at {worst}: analytic {float(analytic[worst]):.8g}, "
                f"numeric {float(numeric[worst]):.8g}, relative error {float(error[worst]):.3g} "
                f"(allowed {rtol:g}, eps={eps:g})"
            )
    return True
