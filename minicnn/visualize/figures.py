"""Drawing helpers shared by the plot functions: PNG files via matplotlib's Agg.

Figures are made with ``matplotlib.figure.Figure`` directly, never with
pyplot, so nothing opens a window, no global state is touched and the
default backend does not matter: saving a PNG renders with Agg. Making and
saving a figure are minicnn.training.plots' ``new_figure`` and
``save_figure``, the same for every figure minicnn draws.

Images are shown the way ZFNet shows them:

    display_signed(p)  = 0.5 + 0.5 * p / max|p|   projections: grey is zero,
                                                  light pushes the unit up, dark down
    display_range(x)   = (x - min) / (max - min)  images, patches, feature maps
"""

import os

import numpy

from ..engine.backend import to_numpy
from ..training.plots import new_figure, save_figure  # noqa: F401 (new_figure: for the plot modules)


def save(figure, path):
    """Write ``figure`` as a PNG at ``path`` (folders created); returns the path as a string."""
    save_figure(figure, path)
    return os.fspath(path)


def display_range(images):
    """Each image of (K, ...) scaled to [0, 1] by its own min and max (flat images -> 0.5)."""
    images = to_numpy(images).astype(numpy.float64)
    axes = tuple(range(1, images.ndim))
    low, high = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    span = high - low
    return numpy.where(span > 0, (images - low) / numpy.where(span > 0, span, 1.0), 0.5)


def display_signed(images):
    """Each image of (K, ...) mapped to [0, 1] with zero at 0.5: 0.5 + 0.5 * x / max|x|."""
    images = to_numpy(images).astype(numpy.float64)
    axes = tuple(range(1, images.ndim))
    scale = numpy.abs(images).max(axis=axes, keepdims=True)
    return 0.5 + 0.5 * images / numpy.where(scale > 0, scale, 1.0)


def as_picture(image):
    """(C, H, W) -> what imshow draws: (H, W) for one channel, (H, W, 3) for three."""
    image = numpy.asarray(image)
    if image.ndim == 2:
        return image
    if image.shape[0] == 1:
        return image[0]
    if image.shape[0] == 3:
        return image.transpose(1, 2, 0)
    return image.mean(axis=0)          # other channel counts: the mean over channels


def tile(images, columns, pad=1, pad_value=1.0):
    """Lay K pictures (K, h, w) or (K, h, w, 3), all one size, on a grid ``columns`` wide.

    Returns one array of (rows*(h+pad)+pad, columns*(w+pad)+pad[, 3]) with
    ``pad_value`` between the pictures.
    """
    images = numpy.asarray(images, dtype=numpy.float64)
    count, height, width = images.shape[:3]
    rows = max(1, -(-count // columns))
    shape = (rows * (height + pad) + pad, columns * (width + pad) + pad) + images.shape[3:]
    grid = numpy.full(shape, pad_value)
    for index in range(count):
        r, c = divmod(index, columns)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top:top + height, left:left + width] = images[index]
    return grid


def place(picture, size, fill=1.0):
    """Put a (h, w[, 3]) picture in the top-left corner of a ``size`` = (H, W) canvas.

    Patches clipped at the image border are smaller than the receptive field;
    placing them on equal canvases lets them share one grid.
    """
    canvas = numpy.full(tuple(size) + picture.shape[2:], fill, dtype=numpy.float64)
    canvas[:picture.shape[0], :picture.shape[1]] = picture
    return canvas


def show(axes, picture, title=None, cmap="gray", vmin=0.0, vmax=1.0):
    """imshow without ticks; grey pictures in ``cmap`` on the fixed range [vmin, vmax]."""
    axes.imshow(picture, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title, fontsize=8)
