"""Invariance to translation, rotation and scale (ZFNet Fig. 5).

Each test image is transformed by a range of amounts; for every amount we
record the Euclidean distance between the feature vector of the transformed
image and that of the original, at a low layer and a top layer,

    d_l(t) = || f_l(T_t x) - f_l(x) ||_2      (f_l: the output of layer l, flattened)

and the probability of the true class. ZFNet found small transformations
move layer 1 a lot and the top layers much less; the network is fairly
invariant to translation and scale, much less to rotation.

The transforms are nearest-neighbour inverse mappings on xp arrays, from
minicnn.data.geometry (no scipy): pixels that come from outside the image
repeat the border (for Fashion-MNIST, background).
"""

from dataclasses import dataclass

import numpy

from ..engine.backend import get_array_module, to_numpy
from ..data import geometry
from ..engine.nn import Conv2d, Dropout, Linear
from .figures import new_figure, save
from .probe import as_batch, batched_collect, check_sequential, evaluation, layer_index, softmax


def translate_vertical(x, pixels):
    """Move every image of x (N, C, H, W) down by ``pixels`` (up if negative)."""
    return geometry.shift(x, pixels, 0, fill="nearest")


def rotate(x, degrees):
    """Rotate every image of x (N, C, H, W) by ``degrees``, counter-clockwise."""
    return geometry.rotate(x, degrees, fill="nearest")


def scale(x, factor):
    """Magnify every image of x (N, C, H, W) by ``factor`` about its centre (< 1 shrinks)."""
    return geometry.zoom(x, factor, fill="nearest")


TRANSFORMS = {"translate": translate_vertical, "rotate": rotate, "scale": scale}
DEFAULT_AMOUNTS = {
    "translate": numpy.arange(-8, 9, 2),            # pixels, vertical
    "rotate": numpy.arange(0, 361, 30),              # degrees
    "scale": numpy.linspace(0.6, 1.6, 11),           # magnification
}


@dataclass
class InvarianceCurves:
    """One transform's curves, for N images and T amounts.

    transform:   "translate", "rotate", "scale" or the callable's name
    amounts:     (T,) the transform amounts
    layers:      the layer indices measured
    distances:   {layer: (N, T) Euclidean distances to the untransformed features}
    probability: (N, T) probability of each image's true class
    """

    transform: str
    amounts: numpy.ndarray
    layers: list
    distances: dict
    probability: numpy.ndarray


def default_layers(model):
    """(first layer, top layer): the first Conv2d, and the input of the last Linear.

    ZFNet plots layer 1 and layer 7 (the last hidden layer before the
    classifier); here "layer 1" is the first convolution's output and the
    top layer is whatever feeds the final Linear (before any Dropout).
    """
    modules = list(model)
    first = next((i for i, m in enumerate(modules) if isinstance(m, Conv2d)), 0)
    top = max((i for i, m in enumerate(modules) if isinstance(m, Linear)), default=len(modules)) - 1
    while top > first and isinstance(modules[top], Dropout):      # in eval mode dropout changes nothing
        top -= 1
    return [first, max(first, top)]


def invariance(model, images, labels, transform, amounts=None, layers=None, batch_size=64):
    """Distances and true-class probabilities under one transform.

    images: (N, C, H, W) prepared inputs; labels: (N,) true classes.
    transform: "translate" (vertical, pixels), "rotate" (degrees), "scale"
    (magnification), or a callable f(images, amount) -> images.
    amounts: (T,) values (defaults per transform in DEFAULT_AMOUNTS).
    layers: indices of model layers; None gives ``default_layers(model)``.
    Returns InvarianceCurves.
    """
    check_sequential(model, "invariance")
    images = as_batch(images, "invariance")
    labels = numpy.asarray(to_numpy(labels), dtype=numpy.int64)
    name = transform if isinstance(transform, str) else getattr(transform, "__name__", "transform")
    if isinstance(transform, str):
        if transform not in TRANSFORMS:
            raise ValueError(f"invariance: unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)} "
                             "or pass a function f(images, amount)")
        amounts = DEFAULT_AMOUNTS[transform] if amounts is None else amounts
        transform = TRANSFORMS[transform]
    if amounts is None:
        raise ValueError("invariance: a transform function needs its amounts")
    amounts = numpy.asarray(amounts, dtype=numpy.float64)
    if transform is scale and (amounts <= 0).any():
        raise ValueError(f"invariance: scale factors must be positive (1 = unchanged), got {amounts.tolist()}")
    layers = default_layers(model) if layers is None else [layer_index(model, l, "invariance") for l in layers]
    xp = get_array_module(images)
    count = len(images)
    with evaluation(model):
        original = batched_collect(model, images, layers, batch_size)
        distances = {layer: numpy.zeros((count, len(amounts))) for layer in layers}
        probability = numpy.zeros((count, len(amounts)))
        for t, amount in enumerate(amounts):
            moved = batched_collect(model, transform(images, amount), layers, batch_size)
            for layer in layers:
                difference = (moved[layer] - original[layer]).reshape(count, -1)
                distances[layer][:, t] = to_numpy(xp.sqrt((difference * difference).sum(axis=1)))
            probs = to_numpy(softmax(moved["output"]))
            probability[:, t] = probs[numpy.arange(count), labels]
    return InvarianceCurves(name, amounts, layers, distances, probability)


def plot_invariance(curves, path, title=None):
    """Draw Fig. 5: one column per transform; rows: distance at each layer, true-class probability.

    curves: a list of InvarianceCurves (one per transform). One line per image.
    Returns the PNG path.
    """
    curves = list(curves)
    rows = len(curves[0].layers) + 1
    figure = new_figure(3.6 * len(curves), 2.4 * rows)
    units = {"translate": "vertical shift (pixels)", "rotate": "rotation (degrees)", "scale": "scale factor"}
    for column, curve in enumerate(curves):
        panels = [(curve.distances[layer], f"layer {layer}: distance to original") for layer in curve.layers]
        panels.append((curve.probability, "p(true class)"))
        for row, (values, label) in enumerate(panels):
            ax = figure.add_subplot(rows, len(curves), row * len(curves) + column + 1)
            for line in values:
                ax.plot(curve.amounts, line, marker=".", linewidth=1)
            ax.set_title(f"{curve.transform}: {label}", fontsize=8)
            ax.set_xlabel(units.get(curve.transform, "amount"), fontsize=7)
            ax.tick_params(labelsize=7)
    figure.suptitle(title or "Invariance of features and prediction (ZFNet Fig. 5)", fontsize=10)
    figure.tight_layout()
    return save(figure, path)
