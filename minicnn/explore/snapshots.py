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
"""

import json
import zipfile
from pathlib import Path

import numpy

from ..training import Callback
from ..training.checkpoint import atomic_write
from ..visualize import FeatureEvolution, Snapshot
from ..visualize.probe import conv_outputs  # each Conv2d's ReLU, the layers Fig. 4 follows

FORMAT, VERSION = "minicnn-snapshots", 1
FILENAME = "snapshots.npz"
FIELDS = ("channels", "indices", "positions", "values", "projections", "boxes")


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


def load_snapshots(path):
    """{epoch: {layer: Snapshot}} from a file written by ``save_snapshots``; {} if there is none.

    Raises ValueError for a file that exists but is not a readable snapshots file.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        metadata = json.loads(arrays.pop("metadata.json").tobytes().decode("utf-8"))
        if (metadata.get("format"), metadata.get("version")) != (FORMAT, VERSION):
            raise ValueError(f"format {metadata.get('format')!r} version {metadata.get('version')!r}")
        return {int(epoch): {int(layer): Snapshot(
                    int(epoch), int(layer),
                    *(arrays[f"epoch/{epoch}/layer/{layer}/{field}"] for field in FIELDS))
                for layer in metadata["layers"] if f"epoch/{epoch}/layer/{layer}/values" in arrays}
                for epoch in metadata["epochs"]}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a minicnn snapshots file ({error})") from error


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
