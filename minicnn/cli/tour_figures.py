"""The deconvnet and occlusion figures of the ``minicnn tour`` report.

``tour_figures`` takes a trained model and test data and writes, from a
few hundred test images (``count``: enough for each map's nine strongest
activations to be telling, few enough that the figures take a small part
of the tour's time):

  * one top-9 deconvnet grid (ZFNet Fig. 2) for each convolutional layer,
    read after the layer's ReLU, for the six maps that respond most;
  * occlusion-sensitivity maps (ZFNet Fig. 7) for a few test images.
"""

import os

import numpy

from ..engine.backend import default_device, to_device, to_numpy
from ..data import mean_std, normalize, to_float
from ..visualize.projection_grids import feature_visualization, plot_feature_visualization
from ..visualize.occlusion_maps import occlusion, plot_occlusion
from ..visualize.probe import check_sequential, conv_outputs


def prepare(dataset, count, normalization=None, seed=0):
    """(images (n, C, H, W) float32 on the active device, labels (n,), class names, indices).

    dataset: what the tour trained on, a minicnn.training.experiment.Data (its
    standardized ``test_x``, ``test_y`` and ``classes`` are used); or a
    minicnn.data.Dataset (uint8 images); or a tuple (images, labels) or
    (images, labels, classes) with images prepared (float) or uint8.
    uint8 images are scaled to [0, 1] and standardized with ``normalization``
    = (mean, std), which should be the training set's (default: the
    statistics of the images given). ``count`` images are drawn at random
    (seeded) when the dataset holds more.
    """
    if hasattr(dataset, "test_x"):
        images, labels, classes = dataset.test_x, dataset.test_y, getattr(dataset, "classes", None)
    elif isinstance(dataset, tuple):
        images, labels = dataset[0], dataset[1]
        classes = dataset[2] if len(dataset) > 2 else None
    else:
        images, labels, classes = dataset.images, dataset.labels, getattr(dataset, "classes", None)
    images, labels = to_numpy(images), numpy.asarray(to_numpy(labels))
    chosen = numpy.arange(len(images))
    if len(images) > count:
        chosen = numpy.sort(numpy.random.default_rng(seed).choice(len(images), count, replace=False))
    images, labels = images[chosen], labels[chosen]
    if images.dtype == numpy.uint8:
        mean, std = normalization or mean_std(images)
        images = normalize(to_float(images), mean, std)
    elif images.ndim == 3:
        images = images[:, None]
    return to_device(images, default_device()), labels, classes, chosen


def tour_figures(model, dataset, out_dir, count=300, occluded=3, window=8, stride=2, maps=6,
                 normalization=None, seed=0, batch_size=100):
    """Write the figures and return [(title, png_path, caption), ...].

    model: a trained nn.Sequential whose output is logits; dataset: see
    ``prepare`` (the tour passes its experiment.Data); out_dir: folder for
    the PNG files (created). Fits the tour's ``SECTIONS`` protocol,
    f(model, data, out_dir) -> [(title, png_path, caption)].
    count: how many test images the top-9 search runs over; occluded: how
    many images get occlusion maps (window x window grey square, moved by stride).
    """
    check_sequential(model, "tour_figures")
    os.makedirs(out_dir, exist_ok=True)
    images, labels, classes, _ = prepare(dataset, count, normalization, seed)
    figures = []
    layers = conv_outputs(model)
    result = feature_visualization(model, images, layers, k=9, max_maps=maps, batch_size=batch_size)
    for number, layer in enumerate(layers, start=1):
        path = plot_feature_visualization({layer: result[layer]},
                                          os.path.join(out_dir, f"deconvnet_conv{number}.png"),
                                          title=f"Convolution {number} (layer {layer}): top-9 activations")
        figures.append((
            f"Deconvnet: convolution {number}",
            path,
            f"For the {maps} maps of layer {layer} with the strongest responses over {len(images)} test "
            "images: the nine strongest activations, each projected back to pixel space by the "
            "deconvnet (left, grey = zero, cut to the unit's receptive field) beside the image patch "
            "the unit saw (right). ZFNet Fig. 2.",
        ))
    for i in range(min(occluded, len(images))):
        target = int(labels[i])
        maps_i = occlusion(model, images[i], target, window, stride, batch_size=batch_size)
        class_name = classes[target] if classes is not None else str(target)
        path = plot_occlusion(images[i], maps_i, os.path.join(out_dir, f"occlusion_{i}.png"), classes,
                              title=f"Occlusion: a {class_name} ({window}x{window} grey square, stride {stride})")
        figures.append((
            f"Occlusion sensitivity: test image {i} ({class_name})",
            path,
            f"A {window}x{window} square of the image's mean grey slides over it in steps of {stride}. "
            f"At each place: (b) total activity of map {maps_i.channel} of layer {maps_i.layer}, "
            f"the strongest on the clean image; (d) probability of the true class ({class_name}, "
            f"{maps_i.clean_prob:.2f} unoccluded); (e) the most probable class. Where covering the "
            "object lowers (b) and (d), the network is looking at the object. ZFNet Fig. 7.",
        ))
    return figures
