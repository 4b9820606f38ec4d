"""Correspondence analysis (ZFNet section 4.3, Table 1).

Does the network tie together the same part of different images? Mask the
same region (ZFNet: the left eye of several dog faces) in each image i and
look at how its features at layer l change:

    eps_i   = f_l(x_i) - f_l(masked x_i)                   (flattened layer output)
    Delta_l = sum over pairs i < j of Hamming(sign(eps_i), sign(eps_j))

Lower Delta_l means masking the part changed the features the same way in
every image: a tighter correspondence. The control masks a region of the
same size at a random place in each image. Hamming distance counts the
features whose signs differ (sign(0) = 0 is a sign of its own).

Sum over pairs without the N^2 loop: for one feature with n_- negative,
n_0 zero and n_+ positive signs among N images, the pairs that differ are

    N(N-1)/2 - [n_-(n_- - 1) + n_0(n_0 - 1) + n_+(n_+ - 1)] / 2.
"""

from dataclasses import dataclass

import numpy

from ..engine.backend import get_array_module, to_numpy
from .figures import new_figure, save
from .probe import as_batch, batched_collect, check_sequential, evaluation, layer_index


def mask_regions(images, boxes, fill=0.0):
    """Copies of images (N, C, H, W) with box n set to ``fill`` in image n.

    boxes: one (row_start, row_end, col_start, col_end) for all images, or (N, 4).
    """
    xp = get_array_module(images)
    count, _, height, width = images.shape
    boxes = numpy.broadcast_to(numpy.asarray(boxes, dtype=numpy.int64).reshape(-1, 4), (count, 4))
    rows, cols = xp.arange(height).reshape(1, -1), xp.arange(width).reshape(1, -1)
    r0, r1, c0, c1 = (xp.asarray(boxes[:, i]).reshape(-1, 1) for i in range(4))
    inside = (((rows >= r0) & (rows < r1))[:, :, None] & ((cols >= c0) & (cols < c1))[:, None, :])
    return xp.where(inside[:, None], xp.asarray(fill, dtype=images.dtype), images)


def random_boxes(count, size, image_size, seed=0):
    """``count`` boxes of ``size`` = (h, w) at uniformly random places inside ``image_size`` = (H, W)."""
    rng = numpy.random.default_rng(seed)
    (h, w), (height, width) = size, image_size
    tops = rng.integers(0, height - h + 1, count)
    lefts = rng.integers(0, width - w + 1, count)
    return numpy.stack([tops, tops + h, lefts, lefts + w], axis=1)


def sign_disagreements(signs):
    """sum over pairs i < j of Hamming(signs[i], signs[j]). signs: (N, D) in {-1, 0, 1}."""
    signs = numpy.asarray(signs)
    count = signs.shape[0]
    same_pairs = 0
    for value in (-1, 0, 1):
        n = (signs == value).sum(axis=0).astype(numpy.int64)      # (D,) images with this sign
        same_pairs += (n * (n - 1) // 2).sum()
    return int(count * (count - 1) // 2 * signs.shape[1] - same_pairs)


def delta(model, images, masked, layers, batch_size=64):
    """Delta_l for each layer: {layer: int}. images, masked: (N, C, H, W) pairs."""
    with evaluation(model):
        clean = batched_collect(model, images, layers, batch_size)
        hidden = batched_collect(model, masked, layers, batch_size)
    count = len(images)
    result = {}
    for layer in layers:
        eps = (clean[layer] - hidden[layer]).reshape(count, -1)
        result[layer] = sign_disagreements(to_numpy(get_array_module(eps).sign(eps)).astype(numpy.int8))
    return result


@dataclass
class CorrespondenceTable:
    """Table 1 in kind: Delta_l per masked part and for random masks.

    layers:   the layer indices
    delta:    {part name: {layer: Delta_l}}; "random" is the control, the
              mean over ``trials`` random placements
    fraction: same keys, Delta_l / (pairs * features): the share of sign
              disagreements, comparable across layers of different sizes
    """

    layers: list
    delta: dict
    fraction: dict


def correspondence(model, images, parts, layers, fill=0.0, trials=5, seed=0, batch_size=64):
    """Delta_l for masking each named part, and for random regions of the same size.

    images: (N, C, H, W) prepared images of one kind of object, aligned so
    that each part sits at the same place in every image.
    parts: {name: (row_start, row_end, col_start, col_end)}, or {name: (N, 4) boxes}.
    fill: the value masked pixels get (0: the data mean after normalization).
    The "random" row uses the size of the first part, a random place per image.
    Returns a CorrespondenceTable.
    """
    check_sequential(model, "correspondence")
    images = as_batch(images, "correspondence")
    if len(images) < 2:
        raise ValueError("correspondence: needs at least two images to compare pairs")
    layers = [layer_index(model, layer, "correspondence") for layer in layers]
    table, fraction = {}, {}
    count, height, width = len(images), images.shape[2], images.shape[3]
    pairs = count * (count - 1) // 2
    sizes = {}
    with evaluation(model):
        outputs = batched_collect(model, images[:1], layers, 1)
    for layer in layers:
        sizes[layer] = int(numpy.prod(outputs[layer].shape[1:]))
    first = None
    for name, box in parts.items():
        box = numpy.asarray(box).reshape(-1, 4)
        first = box[0] if first is None else first
        table[name] = delta(model, images, mask_regions(images, box, fill), layers, batch_size)
    if first is not None:
        size = (int(first[1] - first[0]), int(first[3] - first[2]))
        runs = []
        for trial in range(trials):
            boxes = random_boxes(count, size, (height, width), seed + trial)
            runs.append(delta(model, images, mask_regions(images, boxes, fill), layers, batch_size))
        table["random"] = {layer: float(numpy.mean([run[layer] for run in runs])) for layer in layers}
    for name, row in table.items():
        fraction[name] = {layer: row[layer] / (pairs * sizes[layer]) for layer in layers}
    return CorrespondenceTable(layers, table, fraction)


def format_table(table):
    """Table 1 as text: one row per part, one column per layer (share of sign disagreements)."""
    header = "part".ljust(14) + "".join(f"layer {layer}".rjust(12) for layer in table.layers)
    lines = [header, "-" * len(header)]
    for name, row in table.fraction.items():
        lines.append(name.ljust(14) + "".join(f"{row[layer]:12.4f}" for layer in table.layers))
    return "\n".join(lines)


def plot_correspondence(table, path, title=None):
    """Table 1 as bars: share of sign disagreements per layer, one bar per part. Returns the PNG path.

    Lower bars than "random" mean masking that part moved the features of
    different images the same way (a correspondence).
    """
    names = list(table.fraction)
    figure = new_figure(1.2 + 1.2 * len(table.layers) * len(names) / 2, 3)
    ax = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        positions = numpy.arange(len(table.layers)) + i * width
        ax.bar(positions, [table.fraction[name][layer] for layer in table.layers], width, label=name)
    ax.set_xticks(numpy.arange(len(table.layers)) + 0.4 - width / 2)
    ax.set_xticklabels([f"layer {layer}" for layer in table.layers], fontsize=8)
    ax.set_ylabel("Delta_l / (pairs * features)", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title(title or "Correspondence: sign changes after masking (ZFNet Table 1)", fontsize=9)
    return save(figure, path)
