"""An op computed by one of its routes: the autograd side of kernels/routes.py.

A route (Winograd's convolution, a convolution a few images at a time, a
convolution fused with its max-pool) computes a whole op, forward and
backward, in its own loops, and gives the numbers of the op's reference
Function (``route.equals`` names it). RoutedFunction is the Function that
runs one: it keeps what the route's forward saved for its backward, and
its name says which route ran, as errors and the profiler print it
("conv2d by winograd F(2x2,3x3)"). Which route runs is decided by
``kernels.routes.choose`` alone; the op functions (conv2d, ...) ask it.
"""

from ..tensor import Function


class RoutedFunction(Function):
    """Forward and backward of ``route`` (a kernels.routes.Route) for ``call`` (its ConvCall).

    forward(x, weight[, bias]) -> the op's output; the route's saved arrays stay in
    ``self.saved`` until backward, which returns (dL/dx, dL/dW, dL/db), None where
    an input needs no gradient.
    """

    input_names = ("input", "weight", "bias")

    def __init__(self, route, call):
        self.route, self.call = route, call
        self.name = f"{route.op} by {route.name}"

    def forward(self, x, weight, bias=None):
        output, self.saved = self.route.forward(self.call, x, weight, bias)
        return output

    def backward(self, grad_output):
        needs = tuple(self.needs_input_grad) + (False,) * (3 - len(self.needs_input_grad))
        return self.route.backward(self.call, self.saved, grad_output, needs)
