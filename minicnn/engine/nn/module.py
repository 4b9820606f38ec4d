"""Module, Parameter and Sequential: how layers hold weights and nest.

A Module owns Parameters (tensors that training updates) and sub-Modules,
found by attribute assignment (``self.weight = Parameter(...)``). Names follow
PyTorch's (``0.weight`` of shape (out, in, kh, kw)), so ``state_dict()`` moves
weights both ways between minicnn and PyTorch.
"""

import numpy

from ..backend import to_device, to_numpy
from ..kernels.routes import get_routes
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that is trained: always requires a gradient."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype}, device={self.device})"


class Module:
    """Base class of every layer and model.

    Subclasses create their Parameters and sub-Modules in ``__init__`` and
    compute in ``forward``. ``model(x)`` calls ``forward(x)``.
    """

    name = None  # set by the parent Sequential ("0", "1", ...); used in error messages

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    # ----- what it holds -----------------------------------------------------
    def named_modules(self, prefix=""):
        """Yield (qualified name, module) for self and every descendant."""
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix=""):
        """Yield (qualified name, Parameter), e.g. ("0.weight", ...)."""
        for module_name, module in self.named_modules(prefix):
            for name, parameter in module._parameters.items():
                yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self):
        return [parameter for _, parameter in self.named_parameters()]

    def children(self):
        return list(self._modules.values())

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad = None

    # ----- modes and devices ---------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active); returns self."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (dropout is the identity); returns self."""
        return self.train(False)

    def to(self, target):
        """Move every parameter to a device ("cpu", "gpu") or cast to a dtype ("float64")."""
        for parameter in self.parameters():
            if target in ("cpu", "gpu"):
                parameter.data = to_device(parameter.data, target)
            else:
                parameter.data = parameter.data.astype(numpy.dtype(target))
            parameter.grad = None
        return self

    # ----- saving ----------------------------------------------------------------
    def state_dict(self):
        """{qualified name: NumPy array copy}, PyTorch's names and shapes."""
        return {name: to_numpy(p.data).copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters; names and shapes must match exactly."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        for name, parameter in own.items():
            array = numpy.asarray(state[name])
            if tuple(array.shape) != parameter.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {tuple(array.shape)} in the state but "
                    f"{parameter.shape} in the model"
                )
            parameter.data = to_device(array.astype(parameter.dtype), parameter.device)
        return self

    # ----- printing ------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def describe(self):
        """How error messages name this layer, e.g. "Conv2d layer '3' (Conv2d(1, 32, ...))"."""
        label = f" '{self.name}'" if self.name is not None else ""
        return f"{type(self).__name__} layer{label} ({type(self).__name__}({self.extra_repr()}))"

    def __repr__(self):
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        lines.append(")")
        return "\n".join(lines)

    def summary(self, input_shape, print_table=True, backend=None, batch=32, dtype="float32"):
        """Layer table for one input of shape (C, H, W), with how each layer runs on
        ``backend`` (default: the active one) for a batch of ``batch`` images of ``dtype``;
        see minicnn/engine/nn/summary.py."""
        from .summary import summary
        return summary(self, input_shape, print_table, backend=backend, batch=batch, dtype=dtype)


def _relu_then_max_pool(layer, following):
    return getattr(layer, "commutes_with_max_pool", False) and getattr(following, "is_max_pool", False)


class Sequential(Module):
    """Layers applied one after another; named "0", "1", ... like PyTorch's.

    fuse (default True): run a ReLU followed by a max-pool as the pool first,
    and a Conv2d, ReLU, MaxPool2d in a row as one op (see ``forward``); the
    same numbers, faster. ``Sequential(..., fuse=False)``, or ``model.fuse =
    False``, runs every layer in the written order; so does
    ``minicnn.set_routes("reference")``. ``plan()`` says what runs, and
    ``summary()`` shows it.
    """

    def __init__(self, *layers, fuse=True):
        super().__init__()
        if not isinstance(fuse, bool):
            raise TypeError(f"Sequential: fuse must be True or False, got {fuse!r}")
        object.__setattr__(self, "fuse", fuse)
        for index, layer in enumerate(layers):
            setattr(self, str(index), layer)
            if layer.name is None:
                layer.name = str(index)

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index], fuse=self.fuse)
        return layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def plan(self):
        """The steps forward takes, in order: a list of (how, positions), positions being
        indices into the layers:

            ("layer", (i,))                  layer i alone
            ("pool first", (i, i+1))         ReLU i and max-pool i+1 as relu(pool(x))
            ("conv+pool", (i, i+1, i+2))     Conv2d i, ReLU i+1, max-pool i+2 as
                                             conv2d_max_pool2d(x, relu=True): conv, pool
                                             and ReLU one op

        With fuse off (or set_routes("reference")) every step is ("layer", (i,)).
        """
        layers = list(self)
        fusing = self.fuse and get_routes() == "fast"
        steps, index = [], 0
        while index < len(layers):
            rest = layers[index:index + 3] + [None, None]
            if (fusing and hasattr(rest[0], "forward_then_max_pool")
                    and _relu_then_max_pool(rest[1], rest[2])):
                steps.append(("conv+pool", (index, index + 1, index + 2)))
            elif fusing and _relu_then_max_pool(rest[0], rest[1]):
                steps.append(("pool first", (index, index + 1)))
            else:
                steps.append(("layer", (index,)))
            index += len(steps[-1][1])
        return steps

    def forward(self, x):
        """x through every layer in turn; with fuse on, a ReLU followed by a max-pool runs
        the pool first, and a Conv2d just before them runs with the pool as one op.

        max(0, max over a window of x) = max over the window of max(0, x):
        ReLU never reorders two values, so pooling first gives the same
        output, and the same gradient (where the window's maximum is not
        positive, both orders send it zero), on a quarter of the values
        for a 2x2 pool. The Conv2d, the pool and the ReLU as one op is
        conv2d_max_pool2d(..., relu=True) (functional/conv_pool.py), again
        the same numbers; on the numba backend a route computes it without
        writing the convolution's output to memory, and puts the pooled
        maxima through the ReLU while they are in the cache. What each saves in a training step:
        benchmarks/README.md, "Speed in a learner's own script".
        ``Sequential(..., fuse=False)``, or iterating over the layers yourself
        (for layer in model: x = layer(x)), gives the same numbers in the
        written order.
        """
        layers = list(self)
        for how, positions in self.plan():
            if how == "conv+pool":
                conv, relu, pool = (layers[i] for i in positions)
                x = conv.forward_then_max_pool(x, pool, relu)     # relu(pool(conv(x))), one op
            elif how == "pool first":
                relu, pool = (layers[i] for i in positions)
                x = relu(pool(x))                                 # relu(max_pool(x)) = max_pool(relu(x))
            else:
                x = layers[positions[0]](x)
        return x

    def output_shape(self, input_shape):
        for layer in self:
            input_shape = layer.output_shape(input_shape)
        return input_shape
