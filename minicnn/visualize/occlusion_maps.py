"""Occlusion sensitivity (ZFNet Fig. 7) and occlusion attribution (Captum's ``Occlusion``).

ZFNet slides a grey square over the image and, at each position, records

    (b) the total activation of one feature map of a chosen layer (the map
        that is strongest on the unoccluded image),
    (d) the probability of the correct class,
    (e) the most probable class.

If the model has localized the object, covering the object makes (b) and
(d) drop and changes (e); covering the background does not.

Positions: a square of side ``window`` moved ``stride`` pixels at a time
starts at rows 0, S, 2S, ... and stays inside the image, so there are

    (H - window) // stride + 1   positions down,   (W - window) // stride + 1 across

(the output-size formula of a window with no padding; minicnn/engine/shapes.py).

``occlusion_attribution`` turns the same idea into a per-pixel map, with
the semantics of Captum's ``Occlusion`` (see its docstring).
"""

import math
from dataclasses import dataclass

import numpy

from ..engine.backend import get_array_module, to_numpy
from ..engine.shapes import ShapeError, conv_output_size
from .figures import as_picture, display_range, new_figure, save, show
from .probe import (
    as_batch, batched_collect, check_sequential, evaluation, last_spatial_layer, layer_index, softmax,
)


def occlusion_starts(size, window, stride, caller="occlusion"):
    """First row (or column) of each square: 0, S, ..., (size - window) // S * S.

    Count: (size - window) // stride + 1, as ``conv_output_size`` gives it.
    """
    if window > size:
        raise ShapeError(f"{caller}: the {window}x{window} square does not fit in an image side of {size} pixels")
    count = conv_output_size(size, window, stride, 0, caller=caller, axis="image side")
    return numpy.arange(count) * stride


def _inside(starts, window, size, xp):
    """(P, size) booleans: row r lies in square p, i.e. starts[p] <= r < starts[p] + window.

    A square starting within ``window`` of the border is cut at the border.
    """
    positions = xp.arange(size).reshape(1, size)
    first = xp.asarray(starts).reshape(-1, 1)
    return (positions >= first) & (positions < first + window)


def _occluded(x, row_masks, col_masks, pairs, fill):
    """Copies of x (1, C, H, W), copy p with the square pairs[p] = (i, j) set to ``fill``.

    fill: a scalar or a (C,) array (one value per channel). Returns (P, C, H, W).
    """
    xp = get_array_module(x)
    rows, cols = pairs[:, 0], pairs[:, 1]
    mask = row_masks[xp.asarray(rows)][:, :, None] & col_masks[xp.asarray(cols)][:, None, :]  # (P, H, W)
    fill = xp.asarray(fill, dtype=x.dtype).reshape(1, -1, 1, 1)
    return xp.where(mask[:, None], fill, x)


@dataclass
class OcclusionMaps:
    """What occluding each position did. Maps are (OH, OW) NumPy arrays.

    activity:     (b) summed activation of map ``channel`` of ``model[layer]``
    prob:         (d) probability of class ``target``
    top_class:    (e) most probable class (int64)
    rows, cols:   first row / column of the square at each grid position
    window, stride, fill, layer, channel, target: the settings used
    clean_activity, clean_prob, clean_class: the same on the unoccluded image
    """

    activity: numpy.ndarray
    prob: numpy.ndarray
    top_class: numpy.ndarray
    rows: numpy.ndarray
    cols: numpy.ndarray
    window: int
    stride: int
    fill: numpy.ndarray
    layer: int
    channel: int
    target: int
    clean_activity: float
    clean_prob: float
    clean_class: int


def _measure(model, batch, layer, channel, target, batch_size):
    """(activity, prob, top_class) of each image of ``batch``, as NumPy arrays."""
    outputs = batched_collect(model, batch, [layer], batch_size)
    maps = outputs[layer][:, channel]
    activity = maps.reshape(len(batch), -1).sum(axis=1)
    probs = softmax(outputs["output"])
    return to_numpy(activity), to_numpy(probs[:, target]), to_numpy(probs.argmax(axis=1))


def occlusion(model, x, target, window, stride, fill=None, layer=None, batch_size=64):
    """ZFNet's occlusion experiment on one image.

    x: (C, H, W) or (1, C, H, W), prepared as the model expects; target: the
    true class. window: side of the square; stride: its step.
    fill: the square's value, a scalar or one per channel; None uses the mean
    of x per channel ("grey": the average colour, which adds no new edges).
    layer: whose map is summed for ``activity``; None picks the last layer
    whose output is still a stack of maps (C, H, W). The map is the one with
    the largest single activation on the unoccluded image.
    The model's output must be logits. All occluded copies are evaluated
    ``batch_size`` at a time. Returns OcclusionMaps.
    """
    check_sequential(model, "occlusion")
    x = as_batch(x, "occlusion")
    if len(x) != 1:
        raise ValueError(f"occlusion: give one image (C, H, W), got a batch of {len(x)}")
    xp = get_array_module(x)
    _, channels, height, width = x.shape
    if layer is None:
        layer = last_spatial_layer(model, x.shape[1:], "occlusion")
    layer = layer_index(model, layer, "occlusion")
    if fill is None:
        fill = x.mean(axis=(0, 2, 3))
    fill = to_numpy(xp.broadcast_to(xp.asarray(fill, dtype=x.dtype).reshape(-1), (channels,)))
    rows = occlusion_starts(height, window, stride)
    cols = occlusion_starts(width, window, stride)
    row_masks, col_masks = _inside(rows, window, height, xp), _inside(cols, window, width, xp)
    with evaluation(model):
        clean = batched_collect(model, x, [layer], 1)
        maps = clean[layer][0]
        if maps.ndim != 3:
            raise ShapeError(f"occlusion: layer {layer} outputs shape {tuple(maps.shape)}, not maps (C, H, W)")
        channel = int(to_numpy(maps.reshape(maps.shape[0], -1).max(axis=1)).argmax())
        clean_activity, clean_prob, clean_class = _measure(model, x, layer, channel, target, 1)
        pairs = numpy.array([(i, j) for i in range(len(rows)) for j in range(len(cols))])
        results = [[], [], []]
        for start in range(0, len(pairs), batch_size):
            batch = _occluded(x, row_masks, col_masks, pairs[start:start + batch_size], fill)
            for store, values in zip(results, _measure(model, batch, layer, channel, target, batch_size)):
                store.append(values)
    shape = (len(rows), len(cols))
    activity, prob, top_class = (numpy.concatenate(store).reshape(shape) for store in results)
    return OcclusionMaps(activity, prob, top_class.astype(numpy.int64), rows, cols, window, stride, fill,
                         layer, channel, int(target), float(clean_activity[0]), float(clean_prob[0]),
                         int(clean_class[0]))


def attribution_starts(size, window, stride):
    """Captum's window starts along one axis: 0, S, 2S, ..., ceil((size - window) / S) * S.

    ceil((size - window) / stride) + 1 windows; the last may run past the
    border and is then cut there, so every pixel is covered at least once.
    Captum requires stride <= window (else pixels between windows would be
    missed) unless the window spans the whole side; so does this.
    """
    if window > size:
        raise ShapeError(f"occlusion_attribution: the {window}-pixel window is larger than the {size}-pixel image")
    if stride > window and window < size:
        raise ShapeError(
            f"occlusion_attribution: stride {stride} is larger than the window {window}; pixels between "
            "windows would never be occluded (Captum refuses this too)"
        )
    return numpy.arange(math.ceil((size - window) / stride) + 1) * stride


def occlusion_attribution(model, x, target, window, stride=1, baseline=0, batch_size=64):
    """Per-pixel occlusion attribution, as Captum's ``Occlusion`` computes it.

    x: (C, H, W) or (N, C, H, W); target: an int or (N,) ints; baseline: the
    value put in the window (a scalar, or one per channel).
    A ``window`` x ``window`` square over all channels (Captum's
    ``sliding_window_shapes=(C, window, window)``, ``strides=(C, stride, stride)``)
    starts at every (r, c) of ``attribution_starts``; squares at the bottom
    or right are cut at the border. For square s:

        drop[s]       = logit_target(x) - logit_target(x with square s set to baseline)
        attribution_p = mean of drop[s] over the squares s that cover pixel p

    (Captum sums drop[s] * mask_s and divides by the number of covering
    squares.) The model's raw output (logits), not the softmax, is used.
    Returns an array shaped like x; all channels of a pixel get the same value.
    """
    check_sequential(model, "occlusion_attribution")
    single = getattr(x, "ndim", 0) == 3
    x = as_batch(x, "occlusion_attribution")
    xp = get_array_module(x)
    count, channels, height, width = x.shape
    targets = numpy.broadcast_to(numpy.asarray(target, dtype=numpy.int64), (count,))
    rows = attribution_starts(height, window, stride)
    cols = attribution_starts(width, window, stride)
    row_masks = _inside(rows, window, height, xp).astype(x.dtype)     # (R, H)
    col_masks = _inside(cols, window, width, xp).astype(x.dtype)      # (Q, W)
    pairs = numpy.array([(i, j) for i in range(len(rows)) for j in range(len(cols))])
    baseline = xp.broadcast_to(xp.asarray(baseline, dtype=x.dtype).reshape(-1), (channels,))
    attributions = []
    with evaluation(model):
        for n in range(count):
            image = x[n:n + 1]
            clean = batched_collect(model, image, [], 1)["output"][0, targets[n]]
            drops = []
            for start in range(0, len(pairs), batch_size):
                batch = _occluded(image, row_masks > 0, col_masks > 0, pairs[start:start + batch_size], baseline)
                drops.append(clean - batched_collect(model, batch, [], batch_size)["output"][:, targets[n]])
            drop = xp.concatenate(drops).reshape(len(rows), len(cols))  # (R, Q)
            # squares are products of a row range and a column range, so
            #   sum_s drop[s] mask_s[p] = (row_masks^T @ drop @ col_masks)[p]
            #   covering squares at p  = (row count at p) * (column count at p)
            total = row_masks.T @ drop @ col_masks
            covered = row_masks.sum(axis=0)[:, None] * col_masks.sum(axis=0)[None, :]
            attributions.append(xp.broadcast_to(total / covered, (channels, height, width)))
    result = xp.stack(attributions)
    return result[0] if single else result


def plot_occlusion(x, maps, path, classes=None, title=None):
    """Draw ZFNet Fig. 7 for one image: (a) image with the square, (b), (d), (e). Returns the path."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle
    image = as_picture(display_range(to_numpy(as_batch(x, "plot_occlusion")))[0])
    figure = new_figure(11, 3)
    axes = [figure.add_subplot(1, 4, i + 1) for i in range(4)]
    show(axes[0], image, "(a) input, grey square")
    axes[0].add_patch(Rectangle((-0.5, -0.5), maps.window, maps.window, fill=False, edgecolor="red"))
    panels = [
        (maps.activity, f"(b) activity of layer {maps.layer}, map {maps.channel}", "viridis"),
        (maps.prob, f"(d) p(class {_name(classes, maps.target)})", "viridis"),
    ]
    for ax, (values, label, cmap) in zip(axes[1:3], panels):
        shown = ax.imshow(values, cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        figure.colorbar(shown, ax=ax, fraction=0.046)
    present = sorted(set(maps.top_class.ravel().tolist()))        # the classes that occur, one colour each
    codes = numpy.searchsorted(present, maps.top_class)
    colours = ListedColormap([f"C{i % 10}" for i in range(len(present))])
    shown = axes[3].imshow(codes, cmap=colours, vmin=-0.5, vmax=len(present) - 0.5, interpolation="nearest")
    axes[3].set_title("(e) most probable class", fontsize=8)
    axes[3].set_xticks([])
    axes[3].set_yticks([])
    bar = figure.colorbar(shown, ax=axes[3], fraction=0.046, ticks=range(len(present)))
    bar.ax.set_yticklabels([_name(classes, c) for c in present], fontsize=6)
    figure.suptitle(title or f"Occlusion sensitivity, {maps.window}x{maps.window} square, stride {maps.stride} "
                    "(ZFNet Fig. 7)", fontsize=9)
    return save(figure, path)


def _name(classes, index):
    return classes[index] if classes is not None else str(index)
