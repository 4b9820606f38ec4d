"""The strongest activations of a feature map over a dataset (ZFNet Fig. 2).

For one map (``channel`` of ``model[layer]``), find the k largest activations
over all images, and for each: the image index, the (row, col) in the map,
the value, its deconvnet projection and the image patch under the unit's
receptive field. ZFNet shows these nine projections beside their patches.

By default each image contributes at most one activation, its strongest in
that map (``distinct_images=True``): neighbouring units of one image respond
to the same thing, and nine copies of one image would show nothing new.
With ``distinct_images=False`` the k largest units are taken over all images
and positions. Ties go to the lower image index, then row-major position.

The work is done in two steps, so that many maps cost one pass over the data:
``find_strongest`` searches (forward passes only), ``assemble`` projects
the units it found (one deconvnet pass per batch of units).
"""

from dataclasses import dataclass

import numpy

from ..engine.backend import get_array_module, to_numpy
from .deconvnet import Deconvnet
from .probe import as_batch, check_sequential, evaluation, forward_collect, layer_index
from .receptive_field import receptive_boxes


@dataclass
class TopK:
    """The k strongest activations of one feature map, strongest first.

    layer, channel: which map (``channel`` of the output of ``model[layer]``)
    indices:     (k,) int64, image indices into the dataset
    positions:   (k, 2) int64, (row, col) of each unit in the map
    values:      (k,) activation values, descending
    projections: (k, C, H, W) deconvnet projections, one image each
    boxes:       (k, 4) int64 receptive fields (row_start, row_end, col_start, col_end)
    patches:     k arrays (C, h, w): the image inside each box (h, w smaller at the border)
    """

    layer: int
    channel: int
    indices: numpy.ndarray
    positions: numpy.ndarray
    values: numpy.ndarray
    projections: object
    boxes: numpy.ndarray
    patches: list

    def projection_patches(self):
        """The projections cut to the same boxes: k arrays (C, h, w)."""
        return [crop(p, box) for p, box in zip(self.projections, self.boxes)]


def crop(image, box):
    """image: (C, H, W); box: (row_start, row_end, col_start, col_end) -> (C, h, w)."""
    r0, r1, c0, c1 = (int(v) for v in box)
    return image[:, r0:r1, c0:c1]


def _candidates(maps, offset, k, distinct_images):
    """The best (values, images, rows, cols) of one batch's maps (B, H, W), as NumPy arrays."""
    maps = to_numpy(maps)
    count, height, width = maps.shape
    if distinct_images:
        flat = maps.reshape(count, -1)
        position = flat.argmax(axis=1)                   # each image's strongest unit
        values = flat[numpy.arange(count), position]
        images = numpy.arange(count) + offset
    else:
        flat = maps.reshape(-1)
        strongest = numpy.argsort(-flat, kind="stable")[:k]
        values = flat[strongest]
        images, position = strongest // (height * width) + offset, strongest % (height * width)
    return values, images, position // width, position % width


def _best(values, images, rows, cols, k):
    """Keep the k largest values; ties go to the lower image, then the earlier position."""
    order = numpy.lexsort((cols, rows, images, -values))[:k]
    return values[order], images[order], rows[order], cols[order]


def find_strongest(model, images, wanted, k=9, batch_size=64, distinct_images=True):
    """One pass over ``images``: the k best units of each wanted map.

    wanted: {layer: [channels]}. Returns {layer: {channel: (values, indices,
    rows, cols)}}, NumPy arrays of length k, strongest first. Nothing is
    projected yet (see ``assemble``).
    """
    check_sequential(model, "top_k")
    images = as_batch(images, "top_k")
    wanted = {layer_index(model, layer, "top_k"): [int(c) for c in channels] for layer, channels in wanted.items()}
    if distinct_images and k > len(images):
        raise ValueError(f"top_k: k={k} distinct images asked for but the dataset has only {len(images)}")
    empty = numpy.zeros(0, dtype=numpy.int64)
    best = {layer: {c: (numpy.zeros(0), empty, empty, empty) for c in channels} for layer, channels in wanted.items()}
    with evaluation(model):
        for start in range(0, len(images), batch_size):
            outputs = forward_collect(model, images[start:start + batch_size], list(wanted), stop=max(wanted))
            for layer, channels in wanted.items():
                maps = outputs[layer] if outputs[layer].ndim == 4 else outputs[layer][:, :, None, None]
                for channel in channels:
                    if not 0 <= channel < maps.shape[1]:
                        raise IndexError(f"top_k: layer {layer} has {maps.shape[1]} maps "
                                         f"(channels 0..{maps.shape[1] - 1}), no channel {channel}")
                    found = _candidates(maps[:, channel], start, k, distinct_images)
                    merged = [numpy.concatenate([old, new]) for old, new in zip(best[layer][channel], found)]
                    best[layer][channel] = _best(*merged, k)
    return best


def assemble(model, images, layer, found, batch_size=64):
    """TopK results from ``find_strongest(...)[layer]``: projections, boxes and patches added.

    found: {channel: (values, indices, rows, cols)}. All units of all
    channels are projected together, ``batch_size`` at a time. Returns [TopK].
    """
    layer = layer_index(model, layer, "top_k")
    images = as_batch(images, "top_k")
    xp = get_array_module(images)
    channels = list(found)
    indices = numpy.concatenate([found[c][1] for c in channels]).astype(numpy.int64)
    positions = numpy.concatenate([numpy.stack([found[c][2], found[c][3]], axis=1) for c in channels])
    unit_channels = numpy.concatenate([numpy.full(len(found[c][0]), c) for c in channels]).astype(numpy.int64)
    deconv, parts = Deconvnet(model), []
    for start in range(0, len(indices), batch_size):
        stop = start + batch_size
        batch = images[xp.asarray(indices[start:stop])]
        parts.append(deconv.project_units(batch, layer, unit_channels[start:stop], positions[start:stop])[0])
    projections = xp.concatenate(parts) if parts else xp.zeros((0,) + images.shape[1:], images.dtype)
    boxes = receptive_boxes(model, layer, positions.reshape(-1, 2), images.shape[2:])
    results, first = [], 0
    for channel in channels:
        values, chosen, rows, cols = found[channel]
        last = first + len(values)
        patches = [crop(images[int(i)], box) for i, box in zip(chosen, boxes[first:last])]
        results.append(TopK(layer, int(channel), chosen, positions[first:last], values,
                            projections[first:last], boxes[first:last], patches))
        first = last
    return results


def top_k_many(model, images, layer, channels, k=9, batch_size=64, distinct_images=True):
    """``top_k`` for several maps of one layer, with one pass over the data. Returns [TopK]."""
    found = find_strongest(model, images, {layer: channels}, k, batch_size, distinct_images)
    return assemble(model, images, layer, next(iter(found.values())), batch_size)


def top_k(model, images, layer, channel, k=9, batch_size=64, distinct_images=True):
    """The k strongest activations of map ``channel`` of ``model[layer]`` over ``images``.

    images: (N, C, H, W), prepared as the model expects them (float, normalized).
    Activations are computed ``batch_size`` images at a time. Returns a TopK,
    strongest first (see the module docstring for ``distinct_images``).
    """
    return top_k_many(model, images, layer, [channel], k, batch_size, distinct_images)[0]
