"""An op computed by one of its routes: the autograd side of kernels/routes.py.

A route (Winograd's convolution, a convolution a few images at a time, a
convolution fused with its max-pool, LRN's beta 3/4 by square roots) computes a whole op, forward and
backward, in its own loops, and gives the numbers of the op's reference
Function (``route.equals`` names it). RoutedFunction is the Function that
runs one: it keeps what the route's forward saved for its backward, and
its name says which route ran, as errors and the profiler print it
("conv2d by winograd F(2x2,3x3)"; "conv2d+max_pool2d+relu by ..." where
the ReLU after the pool is folded in). Which route runs is decided by
``kernels.routes.choose`` alone; the op functions (conv2d, local_response_norm,
...) ask it.
"""

from ..tensor import Function


class RoutedFunction(Function):
    """Forward and backward of ``route`` (a kernels.routes.Route) for ``call`` (its ConvCall
    or LRNCall).

    forward(*arrays) -> the op's output, arrays as the route's ``inputs`` name them
    (x, weight[, bias] for a convolution: a missing bias is None); the route's saved
    arrays stay in ``self.saved`` until backward, which returns one gradient per
    input ((dL/dx, dL/dW, dL/db) for a convolution), None where none is needed.
    """

    def __init__(self, route, call):
        self.route, self.call = route, call
        # a conv+pool call may carry the ReLU after its pool (ConvCall.relu; an LRNCall has no such field)
        folded = "+relu" if getattr(call, "relu", False) else ""
        self.name = f"{route.op}{folded} by {route.name}"
        self.input_names = route.inputs

    def forward(self, *arrays):
        arrays = arrays + (None,) * (len(self.route.inputs) - len(arrays))
        output, self.saved = self.route.forward(self.call, *arrays)
        return output

    def backward(self, grad_output):
        count = len(self.route.inputs)
        needs = tuple(self.needs_input_grad) + (False,) * (count - len(self.needs_input_grad))
        return self.route.backward(self.call, self.saved, grad_output, needs)
