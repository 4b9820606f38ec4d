"""``minicnn tour``: train a small ZFNet on real images and write a browsable report.

    minicnn tour --out tour        # then open tour/index.html

Trains ``zfnet_small`` on the Fashion-MNIST sample shipped with minicnn
(6000 training and 1000 test images; no download), tests it, and writes to
``out``: index.html, metrics.json, checkpoint.npz and one PNG per figure:

    curves.png          loss and accuracy per epoch, training and validation
    filters.png         the 16 first-layer 5x5 filters, as initialised and as learned
    features_<n>.png    feature maps of each convolution layer (after its ReLU)
    confusion.png       test confusion matrix
    misclassified.png   test images the network got wrong, with both class names

More sections: any function ``f(model, data, out_dir)`` that returns a list
of ``(title, png_path, caption)`` (data: an experiment.Data, with the
standardised ``test_x``, ``test_y``, ``classes`` and the raw ``test_images``)
adds them to the page: call it in ``experiment_sections`` below, or pass it
in ``tour(experiments=[f])``.
"""

import html
import json
import os
from pathlib import Path

import numpy

from ..engine import nn
from ..engine.backend import to_numpy
from ..training.callbacks import Callback
from ..training.files import hold_folder
from ..data import sources
from ..training.experiment import RunConfig, print_result, run
from ..engine.nn.summary import format_table
from ..training.plots import plot_confusion_matrix, plot_examples, plot_feature_map_rows, plot_filters
from .report import Section, html_table, write_report
from ..training.loop import confusion_matrix
from ..visualize.architecture import first_conv
from ..visualize.probe import conv_outputs, evaluation, forward_collect

DEFAULT_EPOCHS = 8
FAST = {"epochs": 1, "train_limit": 400, "test_limit": 100}


def tour(out="tour", epochs=None, fast=False, seed=0, data_path=None, progress=True,
         experiments=None):
    """Train zfnet_small, write ``out/index.html`` and its figures; returns the metrics dict.

    data_path: a directory of Fashion-MNIST IDX files (default: the embedded sample).
    fast: 400 training and 100 test images, one epoch (seconds; used by the tests).
    """
    out = Path(out)
    config = RunConfig(
        model="zfnet_small", dataset="fashion-mnist", out=str(out),
        epochs=epochs or (FAST["epochs"] if fast else DEFAULT_EPOCHS), batch_size=64, lr=0.01,
        momentum=0.9, seed=seed,
        data_path=str(data_path or sources.EMBEDDED_DIRS["fashion-mnist"]),
        train_limit=FAST["train_limit"] if fast else None,
        test_limit=FAST["test_limit"] if fast else None)
    initial = InitialFilters()
    with hold_folder(out):   # one run per folder, the figures and the page included (training/files.py)
        result = run(config, progress=progress, callbacks=[initial])
        print_result(result.metrics)
        sections = built_in_sections(result, out, initial.weight)
        triples = experiment_sections(result.model, result.data, out)
        for experiment in experiments or ():
            triples += experiment(result.model, result.data, out)
        sections += [Section.from_triple(triple) for triple in triples]
        page = write_report(out / "index.html", "minicnn tour: a small ZFNet on Fashion-MNIST",
                            introduction(result), sections)
    print(f"report: {os.fsencode(page).decode('utf-8', 'backslashreplace')}")
    return result.metrics


def experiment_sections(model, data, out):
    """[(title, png_path, caption)] from the experiments that follow the built-in sections.

    Each experiment is one plain call here: the deconvnet's top-9 grids for
    every conv layer and occlusion maps (minicnn/cli/tour_figures.py).
    """
    from .tour_figures import tour_figures

    triples = []
    triples += tour_figures(model, data, out)
    return triples


def conv_activations(model, x):
    """[(conv module name, (N, F, OH, OW) NumPy maps)] of every conv layer, after its ReLU.

    model: a Sequential; x: (N, C, H, W) input. Runs in evaluation mode, no gradients.
    """
    layers = conv_outputs(model)  # the ReLU after each Conv2d
    with evaluation(model):
        outputs = forward_collect(model, x, layers)
    found = []
    for layer in layers:
        conv = layer - 1 if isinstance(model[layer], nn.ReLU) else layer
        found.append((str(conv), to_numpy(outputs[layer])))
    return found


def pick_examples(labels, count):
    """Indices of ``count`` images of different classes (the first of each), as far as possible."""
    first_of_class = [int(numpy.flatnonzero(labels == c)[0]) for c in numpy.unique(labels)]
    return first_of_class[:count]


class InitialFilters(Callback):
    """Keeps a copy of the first convolution's filters as training begins."""

    weight = None

    def on_train_begin(self, state):
        _, conv = first_conv(state.model)
        self.weight = to_numpy(conv.weight.data).copy()


def built_in_sections(result, out, initial_filters):
    model, data, evaluation = result.model, result.data, result.evaluation
    classes, metrics = data.classes, result.metrics
    sections = [Section(
        "Training curves", (
            "Mean cross-entropy and accuracy per epoch. Training values are averaged over the "
            "epoch with dropout on; validation values are measured after the epoch on held-out "
            f"training images ({metrics['val_images']} of them), dropout off."),
        image=out / "curves.png")]

    _, conv = first_conv(model)
    weight = to_numpy(conv.weight.data)
    change = numpy.linalg.norm(weight - initial_filters) / numpy.linalg.norm(initial_filters)
    count = len(weight)
    sections.append(Section(
        "First-layer filters", (
            f"The {count} {weight.shape[2]}x{weight.shape[3]} filters of the first convolution, "
            "as initialised (top half) and as learned (bottom half): red "
            "positive, blue negative, each filter on its own scale. Training moved them by "
            f"{change:.0%} (relative norm of the change). ZFNet figure 6 inspects these to "
            "choose the first layer's size and stride."),
        image=plot_filters(numpy.concatenate([initial_filters, weight]), out / "filters.png",
                           title="First-layer filters: initial (top), learned (bottom)",
                           columns=min(count, 16))))

    chosen = pick_examples(data.test_y, 3)
    for index, (module_name, maps) in enumerate(conv_activations(model, data.test_x[chosen])):
        path = plot_feature_map_rows(maps, out / f"features_{index + 1}.png", images=data.test_images[chosen],
                                     title=f"conv layer {index + 1} (module {module_name}), after ReLU")
        sections.append(Section(
            f"Feature maps, conv layer {index + 1}", (
                f"Activations of the {maps.shape[1]} maps of conv layer {index + 1} "
                f"({'first 16' if maps.shape[1] > 16 else 'all'} shown, "
                f"{maps.shape[2]}x{maps.shape[3]} each) for three test images "
                f"({', '.join(classes[data.test_y[i]] for i in chosen)}). Early layers respond to "
                "edges and strokes at full resolution; deeper ones to larger parts, coarser."),
            image=path))

    matrix = confusion_matrix(data.test_y, evaluation.predictions, len(classes))
    sections.append(Section(
        "Confusion matrix", (
            f"Test images ({len(data.test_y)}) by true class (rows) and predicted class (columns); "
            f"the diagonal holds the {int(numpy.trace(matrix))} correct ones."),
        image=plot_confusion_matrix(matrix, classes, out / "confusion.png")))

    wrong = numpy.flatnonzero(evaluation.predictions != data.test_y)[:24]
    labels = [f"true: {classes[data.test_y[i]]}\npred: {classes[evaluation.predictions[i]]}" for i in wrong]
    sections.append(Section(
        "Misclassified test images", (
            f"The first {len(wrong)} of the {int((evaluation.predictions != data.test_y).sum())} "
            "test images the network got wrong, with the true and the predicted class."),
        image=plot_examples(data.test_images[wrong], labels, out / "misclassified.png",
                            title="misclassified test images")))

    rows = model.summary(tuple(data.test_x.shape[1:]), print_table=False)
    table = html_table(
        ["name", "layer", "output shape (C, H, W)", "parameters", "receptive field"],
        [[r["name"], r["layer"], "x".join(map(str, r["output_shape"])), f"{r['params']:,}",
          "x".join(map(str, r["receptive_field"]))] for r in rows], numeric=(3,))
    total = sum(r["params"] for r in rows)
    sections.append(Section("Model summary", f"zfnet_small on one {data.test_x.shape[1:]} image: "
                            f"{total:,} parameters. Receptive field: the input region one unit sees.",
                            body=table + f"<pre>{html.escape(format_table('zfnet_small', data.test_x.shape[1:], rows))}</pre>"))

    shown = {key: value for key, value in metrics.items() if key not in ("history", "classes")}
    sections.append(Section(
        "metrics.json", "Everything measured, as written to metrics.json (the per-epoch history "
        "is in the file).",
        body=f'<p><a href="metrics.json">metrics.json</a></p><pre>{html.escape(json.dumps(shown, indent=2))}</pre>'))
    return sections


def introduction(result):
    metrics = result.metrics
    config = result.config
    command = f"minicnn tour --out {config.out} --epochs {config.epochs}"
    if config.train_limit:
        command += " --fast"
    return (
        f"<p>A ZFNet-shaped network (<code>zfnet_small</code>, {metrics['parameters']:,} parameters) "
        f"trained for {metrics['epochs']} epoch{'s' if metrics['epochs'] != 1 else ''} on {metrics['train_images']} Fashion-MNIST images "
        f"({html.escape(metrics['data_source'])}), tested on {metrics['test_images']} others.</p>"
        f"<p><b>Test accuracy {metrics['test_accuracy']:.2%}</b> (loss {metrics['test_loss']:.4f}); "
        f"{metrics['seconds']:.0f} s in all, {metrics['images_per_second']:.0f} training images/s "
        f"on the <code>{html.escape(metrics['backend'])}</code> backend ({html.escape(metrics['device'])}).</p>"
        f"<p>Made by <code>{html.escape(command)}</code>. The weights are in "
        f"<a href=\"checkpoint.npz\">checkpoint.npz</a>: "
        f"<code>minicnn eval {html.escape(str(Path(config.out) / 'checkpoint.npz'))}</code>.</p>"
        f"<p><b>Explore this model live:</b> <code>{html.escape(explore_command(config))}</code> "
        "(every feature map of every layer for any test image or your own drawing, each map's deconvnet "
        "projection and its top-9 over the test set, occlusion; in your browser, on this machine).</p>")


def explore_command(config):
    """The command that opens ``minicnn explore`` on the tour's checkpoint, with the tour's data."""
    command = f"minicnn explore {Path(config.out) / 'checkpoint.npz'}"
    return command + (f" --data-path {config.data_path}" if config.data_path else "")
