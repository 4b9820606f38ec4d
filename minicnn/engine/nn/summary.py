"""model.summary((C, H, W)): a Keras-style table of layers, shapes and sizes.

For every leaf layer: its output shape for one input (no batch axis), its
parameter count, and its receptive field, the size of the input region one
output unit sees (grown by each window: field += D(F - 1) * jump, and
jump *= S, with D the window's dilation, 1 for most; see
minicnn/engine/shapes.py; after Flatten, the whole input). Grouped
convolutions show groups=G in the layer column and their G times smaller
parameter count. Shapes are computed from the formulas, not by running the
model, so even VGG16 at 224x224 summarises instantly.

The last column, "runs as", says how the layer is computed on a backend
(the active one, or ``backend=``) for a batch of ``batch`` images: a
convolution's route from kernels/routes.py's table (``im2col``, the
reference of functional/conv.py; ``winograd F(4x4,3x3)``; ``winograd
F(2x2,3x3)``; ``chunks``) and where its dL/dx takes a route of its own; an LRN layer's route (``square
roots (beta 3/4)``); and what nn.Sequential fuses or reorders (``fused with
1, 2`` on a convolution, ``fused into 0`` on the ReLU and the pool it runs
with; ``after 2 (pool first)``). Nothing there
is guessed: the same functions decide when the model runs.
"""

import numpy

from ..backend import NAMES, get_backend
from ..kernels import routes
from ..shapes import receptive_field_step, whole_number


def leaf_layers(model):
    """(qualified name, layer) for every module with no sub-modules, in order."""
    return [(name, module) for name, module in model.named_modules() if not module._modules]


def summary(model, input_shape, print_table=True, backend=None, batch=32, dtype="float32"):
    """Return one dict per leaf layer: layer, name, output_shape, params, receptive_field,
    runs_as (how it is computed on ``backend`` for ``batch`` images of ``dtype``)."""
    backend = get_backend() if backend is None else backend
    if backend not in NAMES:
        raise ValueError(f"summary: unknown backend {backend!r}; choose one of {', '.join(NAMES)}")
    batch = whole_number(batch, "batch", "summary", minimum=1)
    shape = tuple(input_shape)
    field, jump = [1, 1], [1, 1]
    rows = []
    steps, fused = fusion_notes(model), set()
    layers = dict(leaf_layers(model))
    for name, layer in leaf_layers(model):
        layer_input = shape
        shape = layer.output_shape(shape)
        window = getattr(layer, "window", None)
        if len(shape) == 1:
            # after Flatten every unit is wired to every input pixel: it sees it all
            field = list(input_shape[1:]) if len(input_shape) == 3 else list(input_shape)
        elif window is not None:
            (kh, kw), (sh, sw), (dh, dw) = window
            field[0], jump[0] = receptive_field_step(field[0], jump[0], kh, sh, dh)
            field[1], jump[1] = receptive_field_step(field[1], jump[1], kw, sw, dw)
        rows.append({
            "layer": f"{type(layer).__name__}({layer.extra_repr()})",
            "name": name,
            "output_shape": shape,
            "params": sum(p.size for p in layer.parameters()),
            "receptive_field": tuple(field),
            "runs_as": runs_as(name, layer, layer_input, shape, steps, backend, batch, dtype, fused,
                               first=not rows, layers=layers),
        })
    if print_table:
        print(format_table(type(model).__name__, input_shape, rows, backend, batch))
    return rows


def fusion_notes(model):
    """{qualified layer name: (how, names of its step's layers)} for every layer that an
    nn.Sequential in ``model`` fuses or reorders (Sequential.plan)."""
    notes = {}
    for prefix, module in model.named_modules():
        if not hasattr(module, "plan"):
            continue
        names = [f"{prefix}.{child}" if prefix else child for child in module._modules]
        for how, positions in module.plan():
            if how != "layer":
                for position in positions:
                    notes[names[position]] = (how, [names[p] for p in positions])
    return notes


def conv_call(layer, input_shape, output_shape, backend, batch, dtype, pool=None):
    """The kernels.routes.ConvCall a Conv2d layer makes for ``batch`` inputs (C, H, W); with
    the MaxPool2d layer ``pool`` after it, the one its conv+pool step makes, the ReLU between
    them folded in (functional/conv_pool.py)."""
    settings = None
    if pool is not None:
        settings = (pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                    tuple(pool.output_shape(output_shape)[1:]))
    return routes.ConvCall((batch,) + tuple(input_shape), tuple(layer.weight.shape),
                           numpy.dtype(dtype), backend == "cupy", backend, layer.stride,
                           layer.padding, layer.dilation, layer.groups, tuple(output_shape[1:]), settings,
                           relu=pool is not None)


def runs_as(name, layer, input_shape, output_shape, steps, backend, batch, dtype, fused, first=False,
            layers=None):
    """How one leaf layer is computed, in words (the "runs as" column). ``fused`` collects
    the first layers of the conv+pool steps whose convolution and pool run as one route;
    ``first``: the model's first layer, whose input (the images) needs no gradient;
    ``layers``: {qualified name: leaf layer}, where a conv+pool step finds its pool."""
    how, names = steps.get(name, ("layer", [name]))
    if how in ("pool first", "conv+pool") and name != names[0]:
        relu, pool = names[-2], names[-1]
        if names[0] in fused:                                # conv, pool and ReLU: one route
            return f"fused into {names[0]}"
        return f"after {pool} (pool first)" if name == relu else f"before {relu} (pool first)"
    # by name: layers.py imports module.py, which imports this file (an isinstance
    # here would close that circle); beta 3/4 may take a route
    if type(layer).__name__ == "LocalResponseNorm":
        call = routes.LRNCall((batch,) + tuple(input_shape), numpy.dtype(dtype), backend == "cupy",
                              backend, layer.size, layer.alpha, layer.beta, layer.k)
        route = routes.choose("local_response_norm", call)
        return "" if route is None else route.name
    if not hasattr(layer, "forward_then_max_pool"):          # not a convolution
        return ""
    call = conv_call(layer, input_shape, output_shape, backend, batch, dtype)
    if how == "conv+pool":
        pool_call = conv_call(layer, input_shape, output_shape, backend, batch, dtype,
                              pool=layers[names[-1]])
        route = routes.choose("conv2d+max_pool2d", pool_call)
        if route is not None:
            fused.add(name)
            return f"{route.name}, fused with {', '.join(names[1:])}"
    text = routes.describe("conv2d", call)
    if routes.choose("conv2d", call) is None and not first:   # the formulas: dL/dx may take a route
        gradient = routes.describe("conv2d_input_gradient", call)
        if gradient != routes.REFERENCE["conv2d_input_gradient"]:
            text += f"; dL/dx {gradient}"
    return text


def format_table(title, input_shape, rows, backend=None, batch=None):
    width = max([58] + [len(row["layer"]) for row in rows])   # the layer column: never cut short
    header = (f"{'name':<6} {'layer':<{width}} {'output shape':<16} {'params':>12}  "
              f"{'receptive field':<16} runs as")
    rule = "=" * len(header)
    on = f"; runs as: on the {backend} backend, batch {batch}" if backend else ""
    axes = " (C, H, W)" if len(input_shape) == 3 else ""
    lines = [f"{title} on input {tuple(input_shape)}{axes}{on}", rule, header, rule]
    for row in rows:
        shape = "x".join(str(s) for s in row["output_shape"])
        field = "x".join(str(f) for f in row["receptive_field"])
        lines.append(f"{row['name']:<6} {row['layer']:<{width}} {shape:<16} {row['params']:>12,}  "
                     f"{field:<16} {row.get('runs_as', '')}".rstrip())
    total = sum(row["params"] for row in rows)
    lines += [rule, f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0"]
    return "\n".join(lines)
