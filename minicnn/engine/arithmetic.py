"""Elementwise and shape Functions behind Tensor's operators (+, *, @, sum, ...).

Each backward is the chain rule for its op. Broadcasting in forward means
the gradient must be summed back to each input's shape (``unbroadcast``).
"""

from .backend import get_array_module
from .tensor import Function


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Add(Function):
    """y = a + b (broadcasting). dy/da = 1, dy/db = 1."""

    name = "add"
    input_names = ("a", "b")

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, grad_output):
        return unbroadcast(grad_output, self.a_shape), unbroadcast(grad_output, self.b_shape)


class Mul(Function):
    """y = a * b (broadcasting). dy/da = b, dy/db = a."""

    name = "mul"
    input_names = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_output):
        return (unbroadcast(grad_output * self.b, self.a.shape),
                unbroadcast(grad_output * self.a, self.b.shape))


class Pow(Function):
    """y = x ** p for a constant p. dy/dx = p x^(p-1)."""

    name = "pow"

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        self.x = x
        return x ** self.exponent

    def backward(self, grad_output):
        return grad_output * self.exponent * self.x ** (self.exponent - 1)


class Exp(Function):
    """y = exp(x). dy/dx = y."""

    name = "exp"

    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, grad_output):
        return grad_output * self.y


class Log(Function):
    """y = log(x). dy/dx = 1/x."""

    name = "log"

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, grad_output):
        return grad_output / self.x


class MatMul(Function):
    """y = a @ b with a: (M, K), b: (K, P) -> (M, P). dL/da = g b^T, dL/db = a^T g."""

    name = "matmul"
    input_names = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, grad_output):
        return grad_output @ self.b.T, self.a.T @ grad_output


class Sum(Function):
    """y = sum of x over ``axis`` (all axes when None). dy/dx = 1, broadcast back."""

    name = "sum"

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, grad_output):
        xp = get_array_module(grad_output)
        if self.axis is not None and not self.keepdims:
            grad_output = xp.expand_dims(grad_output, self.axis)
        return xp.broadcast_to(grad_output, self.x_shape).copy()


class Reshape(Function):
    """Same numbers, new shape. The gradient is reshaped back."""

    name = "reshape"

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, grad_output):
        return grad_output.reshape(self.x_shape)


class Transpose(Function):
    """y = x^T for a 2-D x. The gradient is transposed back."""

    name = "transpose"

    def forward(self, x):
        return x.T

    def backward(self, grad_output):
        return grad_output.T
