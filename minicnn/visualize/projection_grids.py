"""Feature visualization grids (ZFNet Fig. 2): top-9 projections beside their patches.

For each chosen layer and each of a few of its maps, the nine strongest
activations over a set of images are projected to pixel space by the
deconvnet; the grid shows each projection (cut to the unit's receptive
field) next to the image patch the unit saw. Lower layers show edges and
blobs; higher layers, larger and more specific parts of objects.
"""

from ..engine.backend import to_numpy
from .figures import as_picture, display_range, display_signed, new_figure, place, save, show, tile
from .probe import layer_index
from .topk import assemble, crop, find_strongest


def feature_visualization(model, images, layers, channels=None, k=9, max_maps=6, batch_size=64):
    """Top-k projections for some maps of each layer in ``layers``.

    images:   (N, C, H, W) prepared inputs (e.g. a few hundred test images)
    channels: {layer: [channels]}; a layer not in it (or channels=None) shows
              the ``max_maps`` maps with the strongest single activation
              anywhere in ``images`` (so that maps that never fire are not shown)
    One pass over the images serves every layer. Returns {layer: [TopK, ...]}
    (see minicnn.visualize.topk.TopK), maps in increasing channel order.
    """
    channels = {layer_index(model, layer, "feature_visualization"): list(chosen)
                for layer, chosen in (channels or {}).items()}
    layers = [layer_index(model, layer, "feature_visualization") for layer in layers]
    wanted = {layer: channels.get(layer, range(_map_count(model, images, layer))) for layer in layers}
    found = find_strongest(model, images, wanted, k, batch_size)
    result = {}
    for layer in layers:
        maps = found[layer]
        if layer not in channels:
            strongest_first = sorted(maps, key=lambda c: -float(maps[c][0][0]))
            maps = {c: maps[c] for c in sorted(strongest_first[:max_maps])}
        result[layer] = assemble(model, images, layer, maps, batch_size)
    return result


def _map_count(model, images, layer):
    """How many maps (or units) ``model[layer]`` outputs, from the shape formulas."""
    shape = tuple(images.shape[1:])
    for module in list(model)[:layer + 1]:
        shape = module.output_shape(shape)
    return shape[0]


def _block(topk, columns):
    """Two tiled blocks for one map: projections (cut to their boxes) and patches."""
    boxes = topk.boxes
    size = (int((boxes[:, 1] - boxes[:, 0]).max()), int((boxes[:, 3] - boxes[:, 2]).max()))
    projections = display_signed(topk.projections)
    shown = [place(as_picture(crop(p, box)), size, 0.5) for p, box in zip(projections, boxes)]
    patches = [place(as_picture(p), size, 1.0) for p in display_range_list(topk.patches)]
    return tile(shown, columns), tile(patches, columns)


def display_range_list(patches):
    """display_range for pictures of different sizes."""
    return [display_range(to_numpy(p)[None])[0] for p in patches]


def plot_feature_visualization(result, path, columns=3, title=None):
    """Draw ``feature_visualization``'s result: one row per layer, one pair of blocks per map.

    Each pair is the k projections (left, grey = 0) and the k image patches
    (right), both cut to the units' receptive fields. Returns the PNG path.
    """
    layers = list(result)
    maps = max(len(result[layer]) for layer in layers)
    figure = new_figure(2.6 * maps, 1.5 * len(layers) + 0.4)
    grid = figure.add_gridspec(len(layers), 2 * maps, wspace=0.08, hspace=0.35)
    for row, layer in enumerate(layers):
        for column, topk in enumerate(result[layer]):
            if len(topk.values) == 0:
                continue
            projections, patches = _block(topk, columns)
            show(figure.add_subplot(grid[row, 2 * column]), projections,
                 f"layer {layer}, map {topk.channel}")
            show(figure.add_subplot(grid[row, 2 * column + 1]), patches, "patches")
    figure.suptitle(title or "Top-9 activations per map: deconvnet projections and image patches (ZFNet Fig. 2)",
                    fontsize=10)
    return save(figure, path)
