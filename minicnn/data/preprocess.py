"""From stored pixels to network inputs: scale to [0, 1], then standardise.

    x = to_float(images)              # (N, 28, 28) uint8 -> (N, 1, 28, 28) float32
    mean, std = mean_std(train.images)
    x = normalize(x, mean, std)       # (x - mean) / std

Compute ``mean`` and ``std`` on the training split only and reuse them for
the test split, so that no test statistic leaks into training. They work on
NumPy and CuPy arrays alike (``xp = get_array_module(x)``).
"""

import numbers

from minicnn.engine.backend import get_array_module

from .idx import DataError


def check_pixels(images, caller):
    """Refuse anything but uint8 pixels: scaling floats by 1/255 again is a silent bug."""
    if images.dtype != get_array_module(images).uint8:
        raise DataError(f"{caller} expects uint8 pixels 0..255, got {images.dtype} "
                        f"(shape {images.shape}); these look already converted, and dividing "
                        "them by 255 again would shrink every value")


def to_float(images):
    """uint8 images ``(N, H, W)`` or ``(N, C, H, W)`` -> float32 ``(N, C, H, W)`` in [0, 1].

    A missing channel axis is added (C = 1); values are divided by 255.
    Any other dtype is refused (``DataError``): float images have most
    likely been converted already.
    """
    xp = get_array_module(images)
    if images.ndim == 3:
        images = images[:, None, :, :]
    if images.ndim != 4:
        raise ValueError(f"to_float expects (N, H, W) or (N, C, H, W) images, got shape {images.shape}")
    check_pixels(images, "to_float")
    return images.astype(xp.float32) / xp.float32(255)


def normalize(x, mean, std):
    """``(x - mean) / std``, keeping x's dtype; mean and std are scalars or per-channel ``(C,)``.

    x: (N, C, H, W). Per-channel values are broadcast as ``(1, C, 1, 1)``.
    """
    xp = get_array_module(x)
    mean = xp.asarray(mean, dtype=x.dtype)
    std = xp.asarray(std, dtype=x.dtype)
    if mean.ndim == 1:
        mean = mean.reshape(1, -1, 1, 1)
    if std.ndim == 1:
        std = std.reshape(1, -1, 1, 1)
    if not bool(xp.all(std > 0)) or not bool(xp.all(xp.isfinite(std))):
        raise ValueError(f"normalize needs a positive std (finite, above 0), got {std.ravel()}")
    if not bool(xp.all(xp.isfinite(mean))):
        raise ValueError(f"normalize needs a finite mean, got {mean.ravel()}")
    return (x - mean) / std


def mean_std(images, chunk=10000):
    """Mean and standard deviation of all pixels, after ``to_float`` (so in [0, 1] units).

    images: (N, H, W) or (N, C, H, W) uint8. Returns two Python floats,
    computed in float64 over chunks of ``chunk`` images to bound memory.
    For the Fashion-MNIST training set this gives about (0.2860, 0.3530).
    """
    xp = get_array_module(images)
    check_pixels(images, "mean_std")
    if images.size == 0:
        raise DataError(f"mean_std needs at least one pixel, got images of shape {images.shape}")
    if not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ValueError(f"mean_std: chunk must be a positive whole number of images, got {chunk!r}")
    total = total_squares = 0.0
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].astype(xp.float64) / 255.0
        total += float(block.sum())
        total_squares += float((block * block).sum())
    count = images.size
    mean = total / count
    return mean, max(total_squares / count - mean * mean, 0.0) ** 0.5
