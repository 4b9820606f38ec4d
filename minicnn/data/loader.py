"""Mini-batches: shuffle once per epoch, cut into batches, augment each batch.

    loader = DataLoader(x_train, y_train, batch_size=128, seed=0, transform=augment)
    for epoch in range(10):
        for x, y in loader:          # epoch 0, then 1, ... (see ``epoch``)
            ...

Reproducibility: the order of epoch k and its augmentation draws come from
``numpy.random.SeedSequence([seed, k])`` alone, not from what ran before,
so ``loader.set_epoch(k)`` resumes a run at epoch k exactly.
"""

import math
import numbers

import numpy

from minicnn.engine.backend import get_array_module


class DataLoader:
    """Iterate ``(x, y)`` batches over ``images`` and ``labels``.

    images: (N, ...) array (NumPy or CuPy), e.g. (N, 1, 28, 28) float32
    labels: (N,) array
    x: (B, ...) = transform(images[batch], rng) when a transform is given
    y: (B,) = labels[batch]

    B is ``batch_size``, except for a smaller last batch, which
    ``drop_last=True`` leaves out. ``len(loader)`` is the number of batches:
    ``N // batch_size`` with ``drop_last``, else ``ceil(N / batch_size)``.
    Each full pass uses epoch number ``self.epoch`` and then adds one to it.
    """

    def __init__(self, images, labels, batch_size, shuffle=True, seed=0,
                 transform=None, drop_last=False):
        if len(images) != len(labels):
            raise ValueError(f"DataLoader: {len(images)} images but {len(labels)} labels")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a whole number of at least 1, "
                             f"got {batch_size!r}")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self):
        if self.drop_last:
            return len(self.images) // self.batch_size
        return math.ceil(len(self.images) / self.batch_size)

    def set_epoch(self, epoch):
        """Make the next pass epoch ``epoch`` (its order and augmentation)."""
        self.epoch = epoch

    def generators(self, epoch):
        """Two independent NumPy generators for ``epoch``: (shuffling, augmentation)."""
        shuffle_seed, augment_seed = numpy.random.SeedSequence([self.seed, epoch]).spawn(2)
        return numpy.random.default_rng(shuffle_seed), numpy.random.default_rng(augment_seed)

    def order(self, epoch):
        """Sample indices ``(N,)`` in the order epoch ``epoch`` visits them."""
        if not self.shuffle:
            return numpy.arange(len(self.images))
        shuffle_rng, _ = self.generators(epoch)
        return shuffle_rng.permutation(len(self.images))

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        _, augment_rng = self.generators(epoch)
        images_xp = get_array_module(self.images)
        labels_xp = get_array_module(self.labels)
        order = self.order(epoch)
        for batch in range(len(self)):
            indices = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            x = self.images[images_xp.asarray(indices)]
            y = self.labels[labels_xp.asarray(indices)]
            if self.transform is not None:
                x = self.transform(x, augment_rng)
            yield x, y
