"""``minicnn visualize CKPT``: the diagnostics of a trained model, as one browsable page.

Loads a checkpoint written by ``minicnn train`` (model, weights and the
training images' standardisation), draws test images of the dataset it was
trained on, and writes ``OUT/index.html`` linking these PNG figures:

    top-9 deconvnet projections of every conv layer, beside their patches (ZFNet Fig. 2)
    occlusion maps: strongest-map activity, true-class probability, top class (Fig. 7)
    invariance to vertical shifts, rotation and scale (Fig. 5)
    first-layer filters, dead filters and their spectra (Fig. 6)
    Grad-CAM class activation heatmaps, and inputs that maximize the last conv maps
"""

import html
from pathlib import Path

from ..training.checkpoint import Checkpoint, load_checkpoint, load_model
from ..training.experiment import saved_standardisation, trained_dataset
from ..data import load_dataset
from .report import Section, write_report
from ..visualize.architecture import filter_report, plot_first_layers
from ..visualize.gradcam import grad_cam, plot_grad_cam
from ..visualize.gradient_ascent import maximize_activation, plot_patterns
from ..visualize.invariance_curves import invariance, plot_invariance
from ..visualize.probe import conv_outputs
from .tour_figures import prepare, tour_figures


def visualize_checkpoint(checkpoint, out, dataset=None, data_path=None, count=300, seed=0):
    """Write every figure for ``checkpoint`` into ``out``; returns the index.html path.

    checkpoint: a path or a Checkpoint; dataset: the dataset name (default:
    the one the checkpoint was trained on); count: how many test images the
    top-9 search looks through.
    """
    out = Path(out)
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    dataset = dataset or trained_dataset(checkpoint)
    normalization = saved_standardisation(checkpoint)  # the training images' statistics, as in training
    test = load_dataset(dataset, "test", path=data_path)
    data = (test.images, test.labels, test.classes)
    triples = tour_figures(model, data, out, count=count, normalization=normalization, seed=seed)

    images, labels, classes, _ = prepare(data, 8, normalization, seed)
    curves = [invariance(model, images, labels, transform) for transform in ("translate", "rotate", "scale")]
    triples.append(("Invariance (ZFNet Fig. 5)", plot_invariance(curves, out / "invariance.png"),
                    "Distance of the first and the top layer's features from the original image's, and the "
                    "true-class probability, as each test image is shifted, rotated and scaled."))
    report = filter_report(model, images)
    triples.append(("First-layer filters (ZFNet Fig. 6)", plot_first_layers([report], out / "first_layer.png"),
                    f"{int(report.dead_by_weight.sum())} of {len(report.rms)} filters faded away (RMS below "
                    "5% of the median); with and without RMS renormalization, and their 2-D spectra."))
    cams = grad_cam(model, images[:6], labels[:6])
    class_names = [classes[int(label)] for label in labels[:6]] if classes else None
    triples.append(("Grad-CAM", plot_grad_cam(images[:6], cams, out / "gradcam.png", labels=class_names),
                    "Where the evidence for each image's true class lies: the last conv layer's maps "
                    "weighted by the class score's gradient."))
    last = conv_outputs(model)[-1]
    patterns, _ = maximize_activation(model, last, list(range(8)), tuple(images.shape[1:]), seed=seed)
    triples.append((f"Inputs that excite layer {last} most", plot_patterns(patterns, out / "patterns.png"),
                    "Gradient ascent in input space on the mean activation of the first 8 maps."))

    sections = [Section.from_triple(triple) for triple in triples]
    return write_report(out / "index.html", f"minicnn visualize: {checkpoint.model_name}",
                        introduction(checkpoint, dataset, test.source), sections)


def introduction(checkpoint, dataset, source):
    """The page's first paragraph. Every value in it comes from the checkpoint, the command
    line or the file system (a folder's name can hold "<script>"), so every one is escaped."""
    return (f"<p>{html.escape(checkpoint.model_name)} from <code>{html.escape(str(checkpoint.path))}</code> "
            f"(epoch {html.escape(str(checkpoint.epoch))}), on {html.escape(str(dataset))} test images "
            f"read from {html.escape(str(source))}.</p>")
