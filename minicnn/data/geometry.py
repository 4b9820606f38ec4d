"""Deterministic geometric image transforms by nearest-neighbour inverse mapping.

Every function takes a batch ``x: (N, C, H, W)`` and per-image parameters
(arrays of length N, or scalars used for every image) and returns a new
``(N, C, H, W)`` array of the same dtype. ``random_transforms.py`` draws
the parameters.

Inverse mapping: for each *output* pixel (i, j) we compute which *input*
pixel it comes from and copy that value, so every output pixel gets exactly
one value and there are no holes. With coordinates measured from the image
centre, r = i - (H-1)/2 and c = j - (W-1)/2, an affine transform with
matrix M (2x2) and offset (dy, dx) reads from

    source row = (H-1)/2 + M[0,0] r + M[0,1] c - dy
    source col = (W-1)/2 + M[1,0] r + M[1,1] c - dx

rounded to the nearest integer. A source outside the image takes the
nearest border pixel (``fill="nearest"``, Keras's default) or 0
(``fill="constant"``). Rows grow downwards, as the image is displayed.
"""

import numpy

from minicnn.engine.backend import get_array_module

FILLS = ("nearest", "constant")


def check_batch(x, name):
    """Raise a ValueError unless ``x`` is a 4-D ``(N, C, H, W)`` batch."""
    if x.ndim != 4:
        raise ValueError(f"{name} expects a batch of shape (N, C, H, W), got shape {x.shape}")


def per_image(value, count):
    """A scalar or a length-``count`` sequence -> float64 NumPy array ``(count,)``."""
    values = numpy.broadcast_to(numpy.asarray(value, dtype=numpy.float64), (count,))
    return values.copy()


def gather(x, rows, cols):
    """``out[n, :, a, b] = x[n, :, rows[n, a, b], cols[n, a, b]]``.

    x: (N, C, H, W); rows, cols: integer arrays broadcastable to (N, H2, W2),
    all in range. Returns (N, C, H2, W2).
    """
    xp = get_array_module(x)
    images = xp.arange(x.shape[0]).reshape(-1, 1, 1)
    picked = x.transpose(0, 2, 3, 1)[images, rows, cols]  # (N, H2, W2, C)
    return xp.ascontiguousarray(picked.transpose(0, 3, 1, 2))


def affine(x, matrices, offsets=None, fill="nearest"):
    """Resample each image through its own 2x2 ``matrices[n]`` and ``offsets[n]``.

    x: (N, C, H, W); matrices: (N, 2, 2); offsets: (N, 2) as (dy, dx) in
    pixels, or None. See the module docstring for the formula.
    """
    check_batch(x, "affine")
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    xp = get_array_module(x)
    count, _, height, width = x.shape
    matrices = xp.asarray(numpy.asarray(matrices, dtype=numpy.float64).reshape(count, 2, 2, 1, 1))
    offsets = numpy.zeros((count, 2)) if offsets is None else numpy.asarray(offsets, dtype=numpy.float64)
    offsets = xp.asarray(offsets.reshape(count, 2, 1, 1))
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    r = xp.arange(height, dtype=xp.float64).reshape(1, height, 1) - centre_row
    c = xp.arange(width, dtype=xp.float64).reshape(1, 1, width) - centre_col
    source_row = centre_row + matrices[:, 0, 0] * r + matrices[:, 0, 1] * c - offsets[:, 0]
    source_col = centre_col + matrices[:, 1, 0] * r + matrices[:, 1, 1] * c - offsets[:, 1]
    source_row = xp.rint(source_row).astype(xp.int64)  # (N, H, W)
    source_col = xp.rint(source_col).astype(xp.int64)
    out = gather(x, xp.clip(source_row, 0, height - 1), xp.clip(source_col, 0, width - 1))
    if fill == "constant":
        inside = (source_row >= 0) & (source_row < height) & (source_col >= 0) & (source_col < width)
        out = xp.where(inside[:, None, :, :], out, xp.zeros((), dtype=x.dtype))
    return out


def rotate(x, degrees, fill="nearest"):
    """Rotate each image by ``degrees[n]`` counter-clockwise, as displayed.

    M = [[cos a, sin a], [-sin a, cos a]]. With a = 90 on a square image
    this equals ``numpy.rot90(image, 1, axes=(-2, -1))``.
    """
    angles = numpy.deg2rad(per_image(degrees, x.shape[0]))
    cos, sin = numpy.cos(angles), numpy.sin(angles)
    return affine(x, numpy.stack([cos, sin, -sin, cos], axis=1), fill=fill)


def zoom(x, scales, fill="nearest"):
    """Magnify each image by ``scales[n]`` about its centre (> 1 zooms in, < 1 out).

    M = [[1/s, 0], [0, 1/s]]: the output at distance d from the centre
    reads the input at distance d/s.
    """
    inverse = 1.0 / per_image(scales, x.shape[0])
    zeros = numpy.zeros_like(inverse)
    return affine(x, numpy.stack([inverse, zeros, zeros, inverse], axis=1), fill=fill)


def shear(x, factors, fill="nearest"):
    """Shear each image horizontally: row r (from the centre) moves left by ``factors[n] * r``.

    M = [[1, 0], [k, 1]], so source col = col + k r. A shear angle a gives k = tan(a).
    """
    factors = per_image(factors, x.shape[0])
    ones, zeros = numpy.ones_like(factors), numpy.zeros_like(factors)
    return affine(x, numpy.stack([ones, zeros, factors, ones], axis=1), fill=fill)


def shift(x, rows, cols, fill="nearest"):
    """Move each image down by ``rows[n]`` and right by ``cols[n]`` whole pixels.

    out[n, :, i, j] = x[n, :, i - rows[n], j - cols[n]] (M = identity).
    """
    count = x.shape[0]
    offsets = numpy.stack([numpy.rint(per_image(rows, count)), numpy.rint(per_image(cols, count))], axis=1)
    identity = numpy.tile(numpy.eye(2), (count, 1, 1))
    return affine(x, identity, offsets, fill=fill)


def crop(x, size, tops, lefts, padding=0):
    """Cut a ``size = (h, w)`` window from each image, zero-padded by ``padding`` first.

    x: (N, C, H, W) -> (N, C, h, w); window n starts at row ``tops[n]``
    and column ``lefts[n]`` of the padded image (H + 2 padding rows).
    """
    check_batch(x, "crop")
    xp = get_array_module(x)
    height, width = size
    padded = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    if height > padded.shape[2] or width > padded.shape[3]:
        raise ValueError(f"crop size {size} is larger than the padded image {padded.shape[2:]}")
    tops = xp.asarray(per_image(tops, x.shape[0]).astype(numpy.int64)).reshape(-1, 1, 1)
    lefts = xp.asarray(per_image(lefts, x.shape[0]).astype(numpy.int64)).reshape(-1, 1, 1)
    rows = tops + xp.arange(height).reshape(1, -1, 1)
    cols = lefts + xp.arange(width).reshape(1, 1, -1)
    return gather(padded, rows, cols)


def flip_horizontal(x, which):
    """Mirror the images where ``which[n]`` is true (left becomes right); keep the rest."""
    check_batch(x, "flip_horizontal")
    xp = get_array_module(x)
    which = xp.asarray(numpy.asarray(which, dtype=bool)).reshape(-1, 1, 1, 1)
    return xp.where(which, x[:, :, :, ::-1], x)
