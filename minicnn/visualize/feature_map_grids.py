"""Feature maps per layer (the VGG feature-map note, docs/sources.md section 3).

Run one image through the network and show every map of a layer as a small
grey image: after an early block, many high-resolution maps (edges,
corners, strokes); after a deeper block, smaller and more abstract ones.
"""

from ..engine.backend import to_numpy
from .figures import display_range, new_figure, save, show, tile
from .probe import as_batch, batched_collect, check_sequential, evaluation, layer_index


def feature_maps(model, image, layers):
    """The maps of each layer for one image: {layer: (C, h, w) NumPy array}.

    image: (C, H, W) or (1, C, H, W). Layers whose output is a vector (D,)
    give a (D, 1, 1) stack, one "map" per unit.
    """
    check_sequential(model, "feature_maps")
    image = as_batch(image, "feature_maps")[:1]
    layers = [layer_index(model, layer, "feature_maps") for layer in layers]
    with evaluation(model):
        outputs = batched_collect(model, image, layers, 1)
    result = {}
    for layer in layers:
        maps = to_numpy(outputs[layer][0])
        result[layer] = maps if maps.ndim == 3 else maps.reshape(-1, 1, 1)
    return result


def plot_feature_maps(maps, path, max_maps=32, columns=8, names=None, title=None):
    """One panel per layer: its first ``max_maps`` maps in a grid, each scaled to its own range.

    maps: the dict from ``feature_maps``; names: optional {layer: label}. Returns the PNG path.
    """
    layers = list(maps)
    figure = new_figure(2.2 * len(layers) + 0.5, 2.6)
    for i, layer in enumerate(layers):
        shown = display_range(maps[layer][:max_maps])
        label = (names or {}).get(layer, f"layer {layer}")
        count, height, width = maps[layer].shape
        show(figure.add_subplot(1, len(layers), i + 1), tile(shown, min(columns, len(shown))),
             f"{label}\n{count} maps of {height}x{width}")
    figure.suptitle(title or "Feature maps of one image, layer by layer", fontsize=9)
    return save(figure, path)
