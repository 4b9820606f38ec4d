"""model.summary((C, H, W)): a Keras-style table of layers, shapes and sizes.

For every leaf layer: its output shape for one input (no batch axis), its
parameter count, and its receptive field, the size of the input region one
output unit sees (grown by each window: field += D(F - 1) * jump, and
jump *= S, with D the window's dilation, 1 for most; see
minicnn/engine/shapes.py; after Flatten, the whole input). Grouped
convolutions show groups=G in the layer column and their G times smaller
parameter count. Shapes are computed from the formulas, not by running the
model, so even VGG16 at 224x224 summarises instantly.
"""

from ..shapes import receptive_field_step


def leaf_layers(model):
    """(qualified name, layer) for every module with no sub-modules, in order."""
    return [(name, module) for name, module in model.named_modules() if not module._modules]


def summary(model, input_shape, print_table=True):
    """Return one dict per leaf layer: layer, name, output_shape, params, receptive_field."""
    shape = tuple(input_shape)
    field, jump = [1, 1], [1, 1]
    rows = []
    for name, layer in leaf_layers(model):
        shape = layer.output_shape(shape)
        window = getattr(layer, "window", None)
        if len(shape) == 1:
            # after Flatten every unit is wired to every input pixel: it sees it all
            field = [input_shape[1], input_shape[2]]
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
        })
    if print_table:
        print(format_table(type(model).__name__, input_shape, rows))
    return rows


def format_table(title, input_shape, rows):
    width = max([58] + [len(row["layer"]) for row in rows])   # the layer column: never cut short
    header = f"{'name':<6} {'layer':<{width}} {'output shape':<16} {'params':>12}  receptive field"
    rule = "=" * len(header)
    lines = [f"{title} on input {tuple(input_shape)} (C, H, W)", rule, header, rule]
    for row in rows:
        shape = "x".join(str(s) for s in row["output_shape"])
        field = "x".join(str(f) for f in row["receptive_field"])
        lines.append(f"{row['name']:<6} {row['layer']:<{width}} {shape:<16} {row['params']:>12,}  {field}")
    total = sum(row["params"] for row in rows)
    lines += [rule, f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0"]
    return "\n".join(lines)
