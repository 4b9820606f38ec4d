"""Tensor and Function: a small reverse-mode autograd engine.

A ``Tensor`` holds an array (``.data``, NumPy or CuPy), and, after
``backward()``, the gradient of a scalar with respect to it (``.grad``).
Every op is a ``Function``: ``forward`` on raw arrays, ``backward`` that
turns the gradient of the op's output into one gradient per input (the chain
rule for that op), written next to each other. Calling a Function on tensors
runs ``forward`` and, when a gradient is needed, remembers the inputs so that
``Tensor.backward`` can walk the graph in reverse.

    y = f(a, b)          forward:  y.data = f.forward(a.data, b.data)
    dL/da, dL/db         backward: f.backward(dL/dy)

Gradients accumulate (``+=``), so a tensor used twice receives the sum.
"""

import contextlib
import threading

import numpy

from .backend import default_device, device_of, get_array_module, to_device

# The gradient switch belongs to each thread, as in PyTorch: a thread that
# evaluates under no_grad (an explorer request, a background pass) leaves the
# switch of every other thread (a training loop) as it was. A new thread
# starts with it on.
_grad_mode = threading.local()


@contextlib.contextmanager
def no_grad():
    """Inside ``with no_grad():`` ops record nothing for backward (evaluation); this thread only."""
    previous = is_grad_enabled()
    _grad_mode.on = False
    try:
        yield
    finally:
        _grad_mode.on = previous


def is_grad_enabled():
    """Whether ops called from this thread record what backward needs (on unless inside no_grad)."""
    return getattr(_grad_mode, "on", True)


class Tensor:
    """An array plus what autograd needs.

    data:          the array (numpy.ndarray or cupy.ndarray), any shape
    grad:          array of data's shape, filled by backward() (leaves only)
    requires_grad: whether gradients should flow to this tensor
    creator:       the Function that produced it (None for a leaf)
    """

    def __init__(self, data, requires_grad=False, creator=None):
        if requires_grad and not numpy.issubdtype(data.dtype, numpy.floating):
            raise TypeError(f"only floating-point tensors can require gradients, got {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = creator

    # ----- what it is -------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(self.data.size)

    @property
    def device(self):
        return device_of(self.data)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device}{flag})"

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if needed)."""
        return to_device(self.data, "cpu")

    def item(self):
        return self.numpy().item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def to(self, device):
        """A copy on ``device`` ("cpu" or "gpu"), or self when already there."""
        if device == self.device:
            return self
        return Tensor(to_device(self.data, device), requires_grad=self.requires_grad)

    # ----- backward ------------------------------------------------------------
    def backward(self, grad=None):
        """Fill ``.grad`` of every leaf this tensor depends on.

        grad: dL/d(self), of self's shape; may be omitted for a one-element
        tensor (then it is 1). The graph is walked in reverse topological
        order, found iteratively (no recursion limit on deep graphs).
        """
        xp = get_array_module(self.data)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a one-element tensor, got shape {self.shape}"
                )
            grad = xp.ones_like(self.data)
        grads = {id(self): grad}
        for node in _reverse_topological_order(self):
            node_grad = grads.pop(id(node), None)
            if node_grad is None:
                continue
            if node.creator is None:  # a leaf: keep its gradient
                node.grad = node_grad if node.grad is None else node.grad + node_grad
                continue
            function = node.creator
            input_grads = function.backward(node_grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for index, (tensor, input_grad) in enumerate(zip(function.inputs, input_grads)):
                if input_grad is None or not tensor.requires_grad:
                    continue
                if tuple(input_grad.shape) != tensor.shape:
                    raise RuntimeError(
                        f"{function.name}.backward returned a gradient of shape "
                        f"{tuple(input_grad.shape)} for input {index} of shape {tensor.shape}"
                    )
                key = id(tensor)
                grads[key] = input_grad if key not in grads else grads[key] + input_grad

    # ----- arithmetic (the Functions live in minicnn/engine/arithmetic.py) ---------
    def __add__(self, other):
        return arithmetic.Add()(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return arithmetic.Add()(self, -as_tensor(other, like=self))

    def __rsub__(self, other):
        return arithmetic.Add()(-self, other)

    def __neg__(self):
        return arithmetic.Mul()(self, -1.0)

    def __mul__(self, other):
        return arithmetic.Mul()(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return arithmetic.Mul()(self, arithmetic.Pow(-1.0)(as_tensor(other, like=self)))

    def __rtruediv__(self, other):
        return arithmetic.Mul()(arithmetic.Pow(-1.0)(self), other)

    def __pow__(self, exponent):
        return arithmetic.Pow(exponent)(self)

    def __matmul__(self, other):
        return arithmetic.MatMul()(self, other)

    def sum(self, axis=None, keepdims=False):
        return arithmetic.Sum(axis, keepdims)(self)

    def mean(self, axis=None, keepdims=False):
        count = self.size if axis is None else numpy.prod([self.shape[a] for a in numpy.atleast_1d(axis)])
        return self.sum(axis, keepdims) * (1.0 / float(count))

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return arithmetic.Reshape(shape)(self)

    def exp(self):
        return arithmetic.Exp()(self)

    def log(self):
        return arithmetic.Log()(self)

    @property
    def T(self):
        return arithmetic.Transpose()(self)


def _reverse_topological_order(root):
    """Tensors reachable from ``root``, each after every tensor that uses it.

    Iterative depth-first search with an explicit stack: a node is emitted
    once all its inputs have been visited; the reversed emission order puts
    ``root`` first and every input after all of its consumers.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node.creator is not None:
            for tensor in node.creator.inputs:
                if tensor.requires_grad and id(tensor) not in visited:
                    stack.append((tensor, False))
    return reversed(order)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a Tensor from an array, list or number.

    NumPy and CuPy floating arrays keep their dtype (float64 stays float64);
    lists and numbers become float32 unless ``dtype`` says otherwise.
    device: "cpu" or "gpu"; by default a CuPy array stays on the GPU and
    anything else goes to the active backend's device.
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = get_array_module(data)
    if not hasattr(data, "dtype"):
        data = numpy.asarray(data, dtype=dtype or numpy.float32)
    elif dtype is not None:
        data = data.astype(dtype, copy=False)
    if device is None:
        device = "gpu" if xp is not numpy else default_device()
    data = to_device(data, device)
    return Tensor(data, requires_grad=requires_grad)


def as_tensor(value, like=None):
    """Return ``value`` as a Tensor; numbers get the dtype and device of ``like``."""
    if isinstance(value, Tensor):
        return value
    if like is not None and not hasattr(value, "shape"):
        xp = get_array_module(like.data)
        return Tensor(xp.asarray(value, dtype=like.dtype))
    if like is not None:
        return Tensor(to_device(value, like.device))
    return tensor(value)


class Function:
    """One differentiable op: ``forward`` and ``backward`` side by side.

    Subclasses set ``name`` and ``input_names`` (used in error messages),
    take the op's settings (stride, axis, ...) in ``__init__``, implement

        forward(self, *arrays) -> array                (saves what backward needs
                                                        in named attributes)
        backward(self, grad_output) -> one gradient per input, in input order
                                       (None where no gradient is needed)

    and are used as ``y = SomeFunction(settings)(x, w)``.
    """

    name = "function"
    input_names = ("input",)

    def __call__(self, *inputs):
        first = next((t for t in inputs if isinstance(t, Tensor)), None)
        tensors = tuple(as_tensor(t, like=first) for t in inputs)
        self._check_devices(tensors)
        self.needs_input_grad = tuple(t.requires_grad for t in tensors)
        output = self.forward(*(t.data for t in tensors))
        requires_grad = is_grad_enabled() and any(self.needs_input_grad)
        if requires_grad:
            self.inputs = tensors
            return Tensor(output, requires_grad=True, creator=self)
        return Tensor(output)

    def _check_devices(self, tensors):
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            devices = ", ".join(
                f"{self._input_name(i)} on {t.device}" for i, t in enumerate(tensors)
            )
            raise RuntimeError(
                f"{self.name}: inputs live on different devices ({devices}); move them to one "
                "device first, e.g. model.to('gpu') and x.to('gpu')"
            )

    def _input_name(self, index):
        return self.input_names[index] if index < len(self.input_names) else f"input {index}"

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError


# arithmetic's Functions subclass Function and build on Tensor, so it imports this module at its
# top; imported here, last and once, every name it needs is already defined, and the methods
# above find ``arithmetic`` as a module-level name when they run.
from . import arithmetic  # noqa: E402  (arithmetic builds on Tensor: imported last, once)
