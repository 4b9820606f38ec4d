"""Composable data augmentation: random versions of the transforms in ``geometry.py``.

A transform is a callable ``t(x, rng=None)`` on a batch ``x: (N, C, H, W)``
that returns a batch of the same shape and dtype. Random parameters are
drawn per image from ``rng`` (a ``numpy.random.Generator``; ``DataLoader``
passes one derived from its seed and the epoch) or, when ``rng`` is None,
from the transform's own generator made from ``seed``. Parameters are
drawn on the CPU, so the same seed gives the same images on NumPy and CuPy.

The small-data example of the lecture notes (Keras's ImageDataGenerator)
augments with rotations up to 40 degrees, shifts of 0.2, shear 0.2, zoom
0.2, horizontal flips and "nearest" fill; ``keras_example()`` builds it.
Keras combines these into one affine map with bilinear interpolation; here
each step resamples with nearest neighbours, which is simpler to read.
"""

import numpy

from minicnn.engine.shapes import pair

from . import geometry
from .preprocess import normalize, to_float


class RandomTransform:
    """Base for the random transforms: holds ``self.rng`` made from ``seed``."""

    def __init__(self, seed=None):
        self.rng = numpy.random.default_rng(seed)

    def generator(self, rng):
        return self.rng if rng is None else rng


class Compose:
    """Apply ``transforms`` in order, passing each the same ``rng``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for transform in self.transforms:
            x = transform(x, rng)
        return x


class ToFloat:
    """``to_float`` as a transform: uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1]."""

    def __call__(self, x, rng=None):
        return to_float(x)


class Normalize:
    """``normalize`` as a transform: ``(x - mean) / std``."""

    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, x, rng=None):
        return normalize(x, self.mean, self.std)


class RandomShift(RandomTransform):
    """Move each image by whole pixels, up to ``max_fraction`` of its height/width.

    Rows shift by an integer drawn uniformly from -round(f H) .. round(f H),
    columns likewise with W. ``fill``: "nearest" or "constant" (zeros).
    """

    def __init__(self, max_fraction, fill="nearest", seed=None):
        super().__init__(seed)
        self.max_fraction, self.fill = max_fraction, fill

    def __call__(self, x, rng=None):
        rng = self.generator(rng)
        geometry.check_batch(x, "RandomShift")
        max_rows = round(self.max_fraction * x.shape[2])
        max_cols = round(self.max_fraction * x.shape[3])
        rows = rng.integers(-max_rows, max_rows, size=x.shape[0], endpoint=True)
        cols = rng.integers(-max_cols, max_cols, size=x.shape[0], endpoint=True)
        return geometry.shift(x, rows, cols, self.fill)


class RandomCrop(RandomTransform):
    """Zero-pad by ``padding``, then cut a random ``size`` window: (N, C, H, W) -> (N, C, h, w).

    With ``size = (H, W)`` and ``padding = p`` this is a random shift of up
    to p pixels with zero fill (the CIFAR-style augmentation).
    """

    def __init__(self, size, padding=0, seed=None):
        super().__init__(seed)
        self.size, self.padding = pair(size, "size"), padding

    def __call__(self, x, rng=None):
        rng = self.generator(rng)
        geometry.check_batch(x, "RandomCrop")
        spare_rows = x.shape[2] + 2 * self.padding - self.size[0]
        spare_cols = x.shape[3] + 2 * self.padding - self.size[1]
        if spare_rows < 0 or spare_cols < 0:
            raise ValueError(f"RandomCrop: size {self.size} does not fit in {x.shape[2:]} "
                             f"padded by {self.padding}")
        tops = rng.integers(0, spare_rows, size=x.shape[0], endpoint=True)
        lefts = rng.integers(0, spare_cols, size=x.shape[0], endpoint=True)
        return geometry.crop(x, self.size, tops, lefts, self.padding)


class RandomHorizontalFlip(RandomTransform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p=0.5, seed=None):
        super().__init__(seed)
        self.p = p

    def __call__(self, x, rng=None):
        which = self.generator(rng).random(x.shape[0]) < self.p
        return geometry.flip_horizontal(x, which)


class RandomRotation(RandomTransform):
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees].

    Positive angles turn counter-clockwise (as ``numpy.rot90``); pass a
    pair ``(low, high)`` for another range.
    """

    def __init__(self, degrees, fill="nearest", seed=None):
        super().__init__(seed)
        self.range = tuple(degrees) if isinstance(degrees, (tuple, list)) else (-degrees, degrees)
        self.fill = fill

    def __call__(self, x, rng=None):
        angles = self.generator(rng).uniform(*self.range, size=x.shape[0])
        return geometry.rotate(x, angles, self.fill)


class RandomZoom(RandomTransform):
    """Magnify each image by a scale drawn uniformly from [1 - fraction, 1 + fraction]."""

    def __init__(self, fraction, fill="nearest", seed=None):
        super().__init__(seed)
        if not 0 <= fraction < 1:
            raise ValueError(f"RandomZoom: fraction must be in [0, 1), got {fraction}")
        self.fraction, self.fill = fraction, fill

    def __call__(self, x, rng=None):
        scales = self.generator(rng).uniform(1 - self.fraction, 1 + self.fraction, size=x.shape[0])
        return geometry.zoom(x, scales, self.fill)


class RandomShear(RandomTransform):
    """Shear each image horizontally by an angle drawn from [-shear, shear] radians.

    The shear factor is tan(angle). Keras 2.0 read ``shear_range=0.2`` as
    radians (about 11.5 degrees), as here; later Keras versions read degrees.
    """

    def __init__(self, shear, fill="nearest", seed=None):
        super().__init__(seed)
        self.shear, self.fill = shear, fill

    def __call__(self, x, rng=None):
        angles = self.generator(rng).uniform(-self.shear, self.shear, size=x.shape[0])
        return geometry.shear(x, numpy.tan(angles), self.fill)


def keras_example(seed=None):
    """The lecture notes' augmentation: rotation 40, shift 0.2, shear 0.2, zoom 0.2, flip."""
    seeds = numpy.random.SeedSequence(seed).spawn(5)
    return Compose([
        RandomRotation(40, seed=seeds[0]),
        RandomShift(0.2, seed=seeds[1]),
        RandomShear(0.2, seed=seeds[2]),
        RandomZoom(0.2, seed=seeds[3]),
        RandomHorizontalFlip(0.5, seed=seeds[4]),
    ])

