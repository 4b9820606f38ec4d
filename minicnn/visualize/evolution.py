"""Feature evolution during training (ZFNet Fig. 4).

At chosen epochs, for every map of chosen layers, find the strongest
activation over a fixed set of images and project it to pixel space with
the deconvnet. Laid side by side, the snapshots show lower layers settling
within a few epochs and upper layers only much later (ZFNet: after 40-50).

    evolution = FeatureEvolution(images, layers=[0, 4], epochs=[1, 2, 5, 10])
    fit(model, train, epochs=10, callbacks=[evolution])   # minicnn.training.loop.fit
    plot_evolution(evolution, "evolution.png")

The callback logic is ``snapshot(model, epoch)``, which can be called
without ``fit`` as well (e.g. on models loaded from checkpoints).
"""

from dataclasses import dataclass

import numpy

from ..engine.backend import device_of, to_device, to_numpy
from ..training.callbacks import Callback
from .figures import as_picture, display_signed, new_figure, place, save, show, tile
from .probe import as_batch, evaluation, layer_index
from .topk import assemble, crop, find_strongest


@dataclass
class Snapshot:
    """The strongest activation of each map of one layer at one epoch.

    epoch:       1-based epoch number
    layer:       the layer index
    channels:    (M,) the maps
    indices:     (M,) image index of each map's strongest activation
    positions:   (M, 2) its (row, col); values: (M,) its value
    projections: (M, C, H, W) deconvnet projections (NumPy)
    boxes:       (M, 4) receptive fields (row_start, row_end, col_start, col_end)
    """

    epoch: int
    layer: int
    channels: numpy.ndarray
    indices: numpy.ndarray
    positions: numpy.ndarray
    values: numpy.ndarray
    projections: numpy.ndarray
    boxes: numpy.ndarray


class FeatureEvolution(Callback):
    """Snapshot the strongest projection of every map of ``layers`` at ``epochs``.

    images: (N, C, H, W) prepared inputs (a few hundred validation images);
    layers: indices into the model; epochs: 1-based epoch numbers (None: all);
    max_maps: how many maps per layer (the first ones), None for all.
    ``snapshots[epoch][layer]`` is a Snapshot.
    """

    def __init__(self, images, layers, epochs=None, max_maps=16, batch_size=64):
        self.images = as_batch(images, "FeatureEvolution")
        self.layers = list(layers)
        self.epochs = None if epochs is None else sorted({int(e) for e in epochs})
        self.max_maps, self.batch_size = max_maps, batch_size
        self.snapshots = {}

    def on_epoch_end(self, state, epoch, logs):
        """minicnn.training.loop.fit's hook (epoch is 0-based there)."""
        if self.epochs is None or epoch + 1 in self.epochs:
            self.snapshot(state.model, epoch + 1)

    def snapshot(self, model, epoch):
        """Record the projections of ``model`` as it is now, under ``epoch``; returns {layer: Snapshot}."""
        images = self.images
        parameters = model.parameters()
        if parameters and parameters[0].device != device_of(images):
            images = to_device(images, parameters[0].device)       # where the model lives
        taken = {}
        with evaluation(model):
            for layer in self.layers:
                layer = layer_index(model, layer, "FeatureEvolution")
                taken[layer] = self._one_layer(model, images, layer, epoch)
        self.snapshots[int(epoch)] = taken
        return taken

    def _one_layer(self, model, images, layer, epoch):
        shape = tuple(images.shape[1:])
        for module in list(model)[:layer + 1]:
            shape = module.output_shape(shape)
        count = shape[0] if self.max_maps is None else min(shape[0], self.max_maps)
        found = find_strongest(model, images, {layer: range(count)}, 1, self.batch_size)[layer]
        best = assemble(model, images, layer, found, self.batch_size)      # one TopK (k = 1) per map
        return Snapshot(
            int(epoch), layer, numpy.arange(count),
            numpy.concatenate([t.indices for t in best]),
            numpy.concatenate([t.positions for t in best]),
            numpy.concatenate([t.values for t in best]),
            numpy.concatenate([to_numpy(t.projections) for t in best]),
            numpy.concatenate([t.boxes for t in best]),
        )


def plot_evolution(evolution, path, max_maps=8, title=None):
    """Draw Fig. 4: for each layer, one row per map, one column per snapshot epoch.

    Each cell is that map's strongest projection at that epoch, cut to the
    receptive field (grey = 0). Returns the PNG path.
    """
    epochs = sorted(evolution.snapshots)
    if not epochs:
        raise ValueError("plot_evolution: no snapshots yet; call snapshot() or train with the callback first")
    layers = list(evolution.snapshots[epochs[0]])
    figure = new_figure(1.0 + 1.2 * len(epochs) * len(layers), 1.2 * max_maps + 0.8)
    for column, layer in enumerate(layers):
        cells = []
        for epoch in epochs:
            snap = evolution.snapshots[epoch][layer]
            shown = display_signed(snap.projections[:max_maps])
            cells.append([as_picture(crop(p, box)) for p, box in zip(shown, snap.boxes)])
        size = (max(c.shape[0] for column_cells in cells for c in column_cells),
                max(c.shape[1] for column_cells in cells for c in column_cells))
        # rows: maps; columns: epochs; grey (0.5) pads pictures cut at the border
        ordered = [place(cells[e][m], size, 0.5) for m in range(len(cells[0])) for e in range(len(epochs))]
        ax = figure.add_subplot(1, len(layers), column + 1)
        listed = ", ".join(str(epoch) for epoch in epochs)
        show(ax, tile(ordered, len(epochs)), f"layer {layer}\nepochs {listed} (left to right)")
    figure.suptitle(title or "Evolution of the strongest projection of each map (ZFNet Fig. 4)", fontsize=9)
    return save(figure, path)

