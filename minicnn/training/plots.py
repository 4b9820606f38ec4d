"""Figures as PNG files: training curves, filters, feature maps, confusion matrix, examples.

Every function draws one figure, saves it to ``path`` and returns the path.
They use matplotlib's object API with the Agg renderer (``Figure`` +
``savefig``), never pyplot: nothing global changes, no window opens, and
they work on a machine without a display. ``new_figure`` and ``save_figure``
below are the two steps every figure of minicnn takes (minicnn.visualize's too).

Arrays are NumPy: filters (F, C, KH, KW), feature maps (C, H, W), images
(N, H, W) or (N, C, H, W).
"""

import math

import numpy

from .files import atomic_write

DPI = 100


def new_figure(width, height):
    """A matplotlib Figure of ``width`` x ``height`` inches (matplotlib is imported on first use)."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=DPI)


def save_figure(figure, path):
    """Write ``figure`` as a PNG at ``path`` (folders created); returns the path as a Path.

    Atomically, as checkpoints are (files.atomic_write): an interruption
    or a full disk leaves the old PNG, and an OutputError names the file.
    """
    return atomic_write(path, lambda file: figure.savefig(file, format="png", bbox_inches="tight"))


def _panel_grid(count, columns, panel_width, panel_height, title_height=0.5):
    """A figure of ``count`` panels in rows at most ``columns`` wide: (figure, one axes per panel).

    Axes left over in the last row are turned off; so are the panels' own axes.
    """
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = new_figure(columns * panel_width, rows * panel_height + title_height)
    axes_list = numpy.atleast_1d(figure.subplots(rows, columns)).ravel()
    for axes in axes_list:
        axes.axis("off")
    return figure, axes_list[:count]


def _as_picture(array):
    """(C, H, W) or (H, W) -> (H, W) grey or (H, W, 3) RGB, for imshow."""
    array = numpy.asarray(array, dtype=numpy.float64)
    if array.ndim == 3 and array.shape[0] == 1:
        return array[0]
    if array.ndim == 3 and array.shape[0] == 3:
        low, high = array.min(), array.max()
        return ((array - low) / (high - low if high > low else 1.0)).transpose(1, 2, 0)
    return array


def plot_curves(history, path, title="Training curves"):
    """Loss and accuracy against epoch, training and validation. history: a History."""
    epochs = history["epoch"]
    figure = new_figure(10, 4)
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        axes.plot(epochs, history[f"train_{metric}"], "o-", label=f"train {metric}")
        val = history[f"val_{metric}"]
        if any(value is not None for value in val):
            axes.plot(epochs, [numpy.nan if v is None else v for v in val], "s-", label=f"validation {metric}")
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
        if len(epochs) < 15:
            axes.set_xticks(epochs)
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_filters(weight, path, title="First-layer filters", columns=8):
    """One panel per filter. weight: (F, C, KH, KW); C = 1 grey, C = 3 colour, else channel 0.

    Each filter is scaled to its own range (grey: blue-white-red around 0).
    """
    weight = numpy.asarray(weight, dtype=numpy.float64)
    figure, axes_list = _panel_grid(len(weight), columns, 1.1, 1.1)
    for index, axes in enumerate(axes_list):
        picture = _as_picture(weight[index] if weight.shape[1] in (1, 3) else weight[index, 0])
        if picture.ndim == 2:
            limit = numpy.abs(picture).max() or 1.0
            axes.imshow(picture, cmap="bwr", vmin=-limit, vmax=limit, interpolation="nearest")
        else:
            axes.imshow(picture, interpolation="nearest")
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_feature_map_rows(maps, path, title="Feature maps", images=None, max_maps=16):
    """One row per image: its input (if given), then its first ``max_maps`` maps at one layer.

    (minicnn.visualize.plot_feature_maps draws the other figure: one image, a grid per layer.)

    maps: (N, C, H, W) activations of N images; images: (N, H, W) or (N, C, H, W) inputs.
    Each map has its own grey scale, black = its smallest value (0 after ReLU).
    """
    maps = numpy.asarray(maps, dtype=numpy.float64)[:, :max_maps]
    count, shown = maps.shape[:2]
    columns = shown + (images is not None)
    figure = new_figure(columns * 0.9, count * 1.0 + 0.6)
    axes_grid = numpy.asarray(figure.subplots(count, columns, squeeze=False))
    for row in range(count):
        panels = [_as_picture(images[row])] if images is not None else []
        panels += list(maps[row])
        for column, axes in enumerate(axes_grid[row]):
            axes.set_xticks([])
            axes.set_yticks([])
            axes.imshow(panels[column], cmap="gray", interpolation="nearest")
            if row == 0:
                axes.set_title("input" if images is not None and column == 0
                               else f"map {column - (images is not None)}", fontsize=7)
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_confusion_matrix(matrix, classes, path, title="Confusion matrix"):
    """matrix: (K, K) counts, row = true class, column = predicted class."""
    matrix = numpy.asarray(matrix)
    figure = new_figure(1.0 + 0.6 * len(classes), 0.8 + 0.6 * len(classes))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in numpy.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > threshold else "black")
    axes.set_title(title)
    return save_figure(figure, path)


def plot_examples(images, labels, path, title="Examples", columns=8, cmap="gray"):
    """A grid of images, each titled with its label. images: (N, H, W) or (N, C, H, W)."""
    images = numpy.asarray(images)
    figure, axes_list = _panel_grid(max(len(images), 1), columns, 1.4, 1.7)
    for index, axes in enumerate(axes_list[:len(images)]):
        axes.imshow(_as_picture(images[index]), cmap=cmap, interpolation="nearest")
        axes.set_title(labels[index], fontsize=7)
    figure.suptitle(title)
    return save_figure(figure, path)
