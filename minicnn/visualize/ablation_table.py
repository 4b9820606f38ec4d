"""Ablation (ZFNet section 5, Tables 2-3): remove or resize layers, retrain, compare.

ZFNet removed the fully connected layers 6 and 7, the middle convolutions
3 and 4, or both, and resized layers, retraining each variant; removing any
one layer cost little, removing several cost a lot: depth matters more than
any single layer.

``rebuild`` makes a fresh copy of a Sequential with some layers left out and
some resized, and re-derives every shape that follows: a Conv2d takes the
channels it now receives, a Linear the features it now receives (checked
with ``output_shape``, so a variant that no longer fits fails with the
layer, the shape and the formula). The weights are new (the engine's
initialization): every variant, the unablated one too, is trained from
scratch by the caller's ``train(model)`` with the same budget.
"""

from dataclasses import dataclass

import numpy

from ..engine.backend import to_numpy
from ..engine.nn import Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU, Sequential
from ..engine.shapes import ShapeError
from .figures import new_figure, save
from .probe import as_batch, batched_collect, check_sequential, evaluation


def _fresh(module, shape, out):
    """A new layer like ``module`` for an input of ``shape``; ``out`` channels/features or None."""
    if isinstance(module, Conv2d):
        return Conv2d(shape[0], out or module.out_channels, module.kernel_size, module.stride, module.padding,
                      module.dilation, module.groups, bias=module.bias is not None)
    if isinstance(module, Linear):
        return Linear(int(numpy.prod(shape)), out or module.out_features, bias=module.bias is not None)
    if out is not None:
        raise ValueError(f"rebuild: {module.describe()} has no size to change; only Conv2d and Linear can be resized")
    if isinstance(module, MaxPool2d):
        return MaxPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode, module.dilation)
    if isinstance(module, LocalResponseNorm):
        return LocalResponseNorm(module.size, module.alpha, module.beta, module.k)
    if isinstance(module, Dropout):
        return Dropout(module.p)
    if isinstance(module, (ReLU, Flatten)):
        return type(module)()
    raise TypeError(f"rebuild: cannot copy {module.describe()}; it knows Conv2d, Linear, MaxPool2d, "
                    "LocalResponseNorm, Dropout, ReLU and Flatten")


def rebuild(model, input_shape, remove=(), resize=None):
    """A freshly initialized Sequential like ``model`` without ``remove`` and with ``resize``.

    input_shape: (C, H, W) of one image. remove: indices of top-level layers
    to leave out. resize: {index: new out_channels (Conv2d) or out_features
    (Linear)}; the last layer cannot be resized (its size is the number of
    classes). Shapes after a change are re-derived. Keeps the model's dtype
    and device.
    """
    check_sequential(model, "rebuild")
    resize = dict(resize or {})
    count = len(model)
    for index in list(remove) + list(resize):
        if not 0 <= index < count:
            raise IndexError(f"rebuild: layer {index} does not exist; the model has layers 0..{count - 1}")
    if count - 1 in resize:
        raise ValueError("rebuild: the last layer gives the class scores; resizing it changes the number of classes")
    shape, layers = tuple(input_shape), []
    for index, module in enumerate(model):
        if index in remove:
            continue
        layer = _fresh(module, shape, resize.get(index))
        layer.name = str(len(layers))
        try:
            shape = layer.output_shape(shape)
        except ShapeError as error:
            raise ShapeError(f"rebuild: without layers {sorted(remove)} the model no longer fits: {error}") from None
        layers.append(layer)
    rebuilt = Sequential(*layers)
    parameters = model.parameters()
    if parameters:
        rebuilt.to(str(parameters[0].dtype))
        rebuilt.to(parameters[0].device)
    return rebuilt


@dataclass
class AblationRow:
    """One variant, trained and tested.

    name: the variant's label; removed, resized: what changed; params: its
    parameter count; top1_error, top5_error: test errors (fractions).
    """

    name: str
    removed: tuple
    resized: dict
    params: int
    top1_error: float
    top5_error: float


def top_errors(model, images, labels, batch_size=256):
    """(top-1 error, top-5 error) of ``model`` on prepared images (N, C, H, W) and labels (N,)."""
    images = as_batch(images, "top_errors")
    with evaluation(model):
        logits = to_numpy(batched_collect(model, images, [], batch_size)["output"])
    labels = numpy.asarray(to_numpy(labels))
    ranked = numpy.argsort(-logits, axis=1, kind="stable")
    top1 = float((ranked[:, 0] != labels).mean())
    top5 = float((~(ranked[:, :5] == labels[:, None]).any(axis=1)).mean())   # 0 with 5 classes or fewer
    return top1, top5


def ablation(model, input_shape, variants, train, test_images, test_labels, batch_size=256):
    """Train and test each variant of ``model``; returns [AblationRow], the full model first.

    variants: {name: {"remove": [indices], "resize": {index: size}}}.
    train: the caller's function ``train(model)``, which trains a fresh model
    in place (same budget for every variant).
    """
    rows = []
    for name, change in [("full model", {})] + list(variants.items()):
        removed = tuple(change.get("remove", ()))
        resized = dict(change.get("resize", {}))
        variant = rebuild(model, input_shape, removed, resized)
        train(variant)
        top1, top5 = top_errors(variant, test_images, test_labels, batch_size)
        params = sum(p.size for p in variant.parameters())
        rows.append(AblationRow(name, removed, resized, params, top1, top5))
    return rows


def format_rows(rows):
    """Tables 2-3 as text: variant, parameters, top-1 and top-5 test error."""
    lines = [f"{'variant':<32}{'params':>12}{'top-1 err':>11}{'top-5 err':>11}", "-" * 66]
    for row in rows:
        lines.append(f"{row.name:<32}{row.params:>12,}{row.top1_error:>11.3f}{row.top5_error:>11.3f}")
    return "\n".join(lines)


def plot_ablation(rows, path, title=None):
    """Tables 2-3 as bars: top-1 and top-5 test error of each variant. Returns the PNG path."""
    figure = new_figure(1.5 + 1.1 * len(rows), 3.2)
    ax = figure.add_subplot(1, 1, 1)
    positions = numpy.arange(len(rows))
    ax.bar(positions - 0.2, [row.top1_error for row in rows], 0.4, label="top-1 error")
    ax.bar(positions + 0.2, [row.top5_error for row in rows], 0.4, label="top-5 error")
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{row.name}\n{row.params:,} params" for row in rows], fontsize=7)
    ax.legend(fontsize=7)
    ax.set_title(title or "Ablation: layers removed or resized, retrained (ZFNet Tables 2-3)", fontsize=9)
    return save(figure, path)
