"""Running a model to read its layers: the helpers every experiment shares.

Layers are named by their index in the top-level ``Sequential``: "the output
of layer 3" is what ``model[3]`` returns, after layers 0..3 ran.

    forward_to(model, x, 3)                  # Tensor, output of model[3]
    outputs = forward_collect(model, x, [1, 3])   # {1: array, 3: array, "output": array}
    with evaluation(model): ...              # dropout off; each module's mode restored after
    with frozen(model): ...                  # parameters collect no gradient

Every experiment reads a trained model in evaluation mode (dropout is the
identity), and none of them may disturb training: ``evaluation`` restores
each module's own mode, ``frozen`` each parameter's ``requires_grad``.
"""

import contextlib

import numpy

from ..engine.backend import get_array_module
from ..engine.nn import Conv2d, ReLU, Sequential
from ..engine.tensor import Tensor, as_tensor, no_grad


def check_sequential(model, caller):
    if not isinstance(model, Sequential):
        raise TypeError(
            f"{caller}: needs an nn.Sequential whose layers are numbered 0, 1, ... "
            f"(got {type(model).__name__}); wrap the layers: nn.Sequential(layer0, layer1, ...)"
        )


def layer_index(model, layer, caller):
    """``layer`` as an index 0..len(model)-1 (negative counts from the end)."""
    count = len(model)
    if isinstance(layer, bool) or not isinstance(layer, (int, numpy.integer)):
        raise TypeError(f"{caller}: layer must be an index into the Sequential, got {layer!r}")
    if not -count <= layer < count:
        raise IndexError(f"{caller}: layer {layer} does not exist; the model has layers 0..{count - 1}")
    return int(layer) % count


@contextlib.contextmanager
def evaluation(model):
    """Evaluation mode inside the block; every module's own mode is restored after."""
    modes = [(module, module.training) for _, module in model.named_modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            object.__setattr__(module, "training", mode)


@contextlib.contextmanager
def frozen(model):
    """Parameters ask for no gradient inside the block (backward reaches only the input)."""
    parameters = model.parameters()
    flags = [parameter.requires_grad for parameter in parameters]
    for parameter in parameters:
        parameter.requires_grad = False
    try:
        yield model
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad = flag


def as_batch(x, caller):
    """An image (C, H, W) or a batch (N, C, H, W), as a 4-D array (not a Tensor)."""
    data = x.data if isinstance(x, Tensor) else x
    if not hasattr(data, "ndim"):
        data = numpy.asarray(data)
    if data.ndim == 3:
        data = data[None]
    if data.ndim != 4:
        raise ValueError(f"{caller}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {tuple(data.shape)}")
    if not numpy.issubdtype(data.dtype, numpy.floating):
        raise TypeError(
            f"{caller}: images must be floating point like the model's input (got {data.dtype}); "
            "prepare them first, e.g. minicnn.data.to_float(images)"
        )
    return data


def forward_to(model, x, layer):
    """Run ``x`` through layers 0..layer; returns the Tensor that ``model[layer]`` gave.

    Records a graph when gradients are enabled and something requires one.
    """
    h = as_tensor(x)
    for module in list(model)[:layer + 1]:
        h = module(h)
    return h


def forward_collect(model, x, layers, stop=None):
    """Run the model once and keep the outputs of ``layers``.

    x: (N, C, H, W) array. Runs layers 0..stop (default: all) without a graph.
    Returns {layer: array, ..., "output": the last output computed}.
    """
    wanted = set(layers)
    modules = list(model) if stop is None else list(model)[:stop + 1]
    collected = {}
    with no_grad():
        h = as_tensor(x)
        for index, module in enumerate(modules):
            h = module(h)
            if index in wanted:
                collected[index] = h.data
    collected["output"] = h.data
    return collected


def batched_collect(model, x, layers, batch_size, stop=None):
    """``forward_collect`` over ``x`` in batches of ``batch_size``; arrays concatenated."""
    xp = get_array_module(x)
    parts = [forward_collect(model, x[start:start + batch_size], layers, stop)
             for start in range(0, len(x), batch_size)]
    return {key: xp.concatenate([part[key] for part in parts]) for key in parts[0]}


def softmax(logits):
    """Row-wise softmax of (N, K) logits, as an array (stable: the max is subtracted)."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = xp.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


def conv_outputs(model):
    """Index of each Conv2d's output to look at: the ReLU right after it if there is one."""
    modules = list(model)
    layers = []
    for index, module in enumerate(modules):
        if isinstance(module, Conv2d):
            after = index + 1 < len(modules) and isinstance(modules[index + 1], ReLU)
            layers.append(index + 1 if after else index)
    return layers


def last_spatial_layer(model, input_shape, caller):
    """Index of the last layer whose output is a stack of maps (C, H, W).

    input_shape: (C, H, W). Shapes come from ``output_shape``, nothing runs.
    """
    shape, found = tuple(input_shape), None
    for index, module in enumerate(model):
        shape = module.output_shape(shape)
        if len(shape) == 3:
            found = index
    if found is None:
        raise ValueError(f"{caller}: no layer of this model outputs feature maps (C, H, W)")
    return found
