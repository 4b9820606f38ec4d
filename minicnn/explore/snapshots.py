"""Feature evolution (ZFNet Fig. 4) recorded during training, kept beside the checkpoint.

``minicnn train --snapshots`` adds ``SaveSnapshots`` to the run: after every
epoch, minicnn.visualize's ``FeatureEvolution`` finds the strongest
activation of each of the first maps of every convolutional layer (its
ReLU's output) over the first validation images, projects it with the
deconvnet, and this file is rewritten:

    OUT/snapshots.npz    metadata.json   {"format", "version", "epochs", "layers"}
                         epoch/<e>/layer/<l>/<field>   the fields of a visualize Snapshot

atomically and without pickle, like the checkpoint. A resumed run reads it
back and goes on adding epochs. ``minicnn explore`` draws it.

The file is read like any file from disk (npzfile.py): each array's
header (shape, dtype) is checked before its data is read, and
``check_snapshots`` then checks what the explorer draws from it: at least
one map per layer and as many at every epoch, finite values, projections
of the model's input shape, every box inside the picture. A file that
fails is refused with a ValueError naming it and the fault (the explorer
then shows no evolution and says why).
"""

import json
from pathlib import Path

import numpy

from ..training import Callback
from ..training.checkpoint import atomic_write
from ..visualize import FeatureEvolution, Snapshot
from ..visualize.probe import conv_outputs  # each Conv2d's ReLU, the layers Fig. 4 follows
from .npzfile import BadFile, NpzReader

FORMAT, VERSION = "minicnn-snapshots", 1
FILENAME = "snapshots.npz"
FIELDS = ("channels", "indices", "positions", "values", "projections", "boxes")
KINDS = {"channels": "iu", "indices": "iu", "positions": "iu", "values": "f", "projections": "f", "boxes": "iu"}
MAX_EPOCHS, MAX_LAYERS, MAX_MAPS = 100_000, 1_000, 4_096    # far beyond any run; a file claiming more is refused


def save_snapshots(path, snapshots):
    """Write {epoch: {layer: Snapshot}} to ``path`` atomically, as a pickle-free .npz."""
    epochs = sorted(snapshots)
    layers = sorted({layer for epoch in epochs for layer in snapshots[epoch]})
    metadata = {"format": FORMAT, "version": VERSION, "epochs": epochs, "layers": layers}
    arrays = {"metadata.json": numpy.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=numpy.uint8)}
    for epoch in epochs:
        for layer, snapshot in snapshots[epoch].items():
            for field in FIELDS:
                arrays[f"epoch/{epoch}/layer/{layer}/{field}"] = numpy.asarray(getattr(snapshot, field))
    return atomic_write(path, lambda file: numpy.savez(file, **arrays))


def load_snapshots(path, input_shape=None, max_bytes=None):
    """{epoch: {layer: Snapshot}} from a file written by ``save_snapshots``; {} if there is none.

    input_shape: (C, H, W) the projections must have (None: any, the same
    in every array); max_bytes: how much array data may be read (None: no
    limit, for training's own file). Every array's header is checked
    before its data is read (npzfile.py). Raises ValueError (npzfile.BadFile)
    for a file that exists but is not a readable snapshots file.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    picture = tuple(input_shape) if input_shape is not None else (None, None, None)
    with NpzReader(path, max_bytes=float("inf") if max_bytes is None else max_bytes) as npz:
        metadata = npz.json("metadata.json")
        if not isinstance(metadata, dict) or (metadata.get("format"), metadata.get("version")) != (FORMAT, VERSION):
            found = (metadata.get("format"), metadata.get("version")) if isinstance(metadata, dict) else metadata
            npz.fail(f"not a minicnn snapshots file (format and version {str(found)[:80]})")
        epochs, layers = metadata.get("epochs"), metadata.get("layers")
        for name, numbers, most in (("epochs", epochs, MAX_EPOCHS), ("layers", layers, MAX_LAYERS)):
            if not isinstance(numbers, list) or len(numbers) > most or not all(
                    isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 10 ** 9 for n in numbers):
                npz.fail(f"its {name} are not a list of at most {most} whole numbers >= 0: {str(numbers)[:80]}")
        snapshots = {}
        for epoch in epochs:
            snapshots[epoch] = {}
            for layer in layers:
                stem = f"epoch/{epoch}/layer/{layer}"
                if f"{stem}/values" not in npz.names:
                    continue
                maps = npz.header(f"{stem}/channels")[0][:1] or (0,)
                shapes = {"channels": maps, "indices": maps, "positions": maps + (2,), "values": maps,
                          "projections": maps + picture, "boxes": maps + (4,)}
                fields = [npz.read(f"{stem}/{field}", shapes[field], KINDS[field]) for field in FIELDS]
                snapshots[epoch][layer] = Snapshot(epoch, layer, *fields)
    return snapshots


def check_snapshots(snapshots, input_shape, layer_count, path):
    """Refuse (ValueError naming ``path``) snapshots the explorer cannot draw as they are.

    Each layer: 1..MAX_MAPS maps, as many at every epoch; values and
    projections finite; projections (M, C, H, W) with (C, H, W) the model's
    ``input_shape``; boxes (row_start, row_end, col_start, col_end) inside
    the picture and not empty; layer indices of the model (0..layer_count - 1).
    """
    counts = {}
    for epoch, layers in snapshots.items():
        for layer, snap in layers.items():
            where = f"epoch {epoch}, layer {layer}"
            if not 0 <= layer < layer_count:
                raise BadFile(f"{path}: {where}: the model has layers 0..{layer_count - 1}")
            maps = len(snap.channels)
            if not 1 <= maps <= MAX_MAPS:
                raise BadFile(f"{path}: {where}: {maps} maps; a snapshot has 1..{MAX_MAPS}")
            if counts.setdefault(layer, maps) != maps:
                raise BadFile(f"{path}: {where}: {maps} maps, but {counts[layer]} at an earlier epoch")
            if tuple(snap.projections.shape[1:]) != tuple(input_shape):
                raise BadFile(f"{path}: {where}: projections of {snap.projections.shape[1:]}, but the model "
                              f"takes {tuple(input_shape)}")
            if not (numpy.isfinite(snap.values).all() and numpy.isfinite(snap.projections).all()):
                raise BadFile(f"{path}: {where}: values or projections that are not finite numbers")
            height, width = input_shape[1:]
            boxes = snap.boxes.astype(numpy.int64)
            inside = ((0 <= boxes[:, 0]) & (boxes[:, 0] < boxes[:, 1]) & (boxes[:, 1] <= height)
                      & (0 <= boxes[:, 2]) & (boxes[:, 2] < boxes[:, 3]) & (boxes[:, 3] <= width))
            if not inside.all():
                bad = boxes[numpy.flatnonzero(~inside)[0]].tolist()
                raise BadFile(f"{path}: {where}: the box {bad} (rows r0..r1, columns c0..c1) is not inside the "
                              f"{height}x{width} picture")


class SaveSnapshots(Callback):
    """Record Fig. 4 snapshots after every epoch and rewrite ``path`` (a training Callback).

    count: how many validation images (the training images if there are
    none) the strongest activations are searched in; max_maps: the first
    maps of each layer that are followed.
    """

    def __init__(self, path, count=200, max_maps=16):
        self.path, self.count, self.max_maps = Path(path), count, max_maps
        self.evolution = None

    def on_train_begin(self, state):
        images = state.val_images if state.val_images is not None and len(state.val_images) else state.train_images
        self.evolution = FeatureEvolution(images[:self.count], conv_outputs(state.model),
                                          epochs=None, max_maps=self.max_maps)
        self.evolution.snapshots = load_snapshots(self.path)      # a resumed run goes on adding

    def on_epoch_end(self, state, epoch, logs):
        self.evolution.on_epoch_end(state, epoch, logs)
        save_snapshots(self.path, self.evolution.snapshots)
