"""Claim 4 (ZFNet section 4.1, Fig. 6): a smaller first layer leaves fewer dead or aliased filters and errs less.

Two first layers in zfnet_small, everything else equal (networks.FIRST_LAYERS):
"small", its own 5x5 stride-1 layer (ZFNet's 7x7/2 at 28x28), and "large",
9x9 stride 2 (AlexNet's 11x11/4 scaled the same way). For each seed:

    test error          1 - test accuracy of the trained run
    dead filters        layer 1: minicnn.visualize.filter_report's dead count (RMS
                        faded below 5% of the median, or never positive on the
                        images); layer 2: filters whose ReLU never lets anything through
    aliased filters     first-layer filters with more than ALIASED_SHARE of their
                        spectral energy beyond the stride's Nyquist frequency,
                        max(|fx|, |fy|) > 1 / (2 stride) cycles per pixel: energy the
                        stride folds back onto lower frequencies (none at stride 1)
    layer-2 aliasing    how much the spatial mean of each layer-2 map changes when
                        the image moves by one pixel (down, right):
                        ||g(shift x) - g(x)|| / ||g(x)||, g = the maps averaged over
                        positions. A stride that samples above the signal's
                        frequencies changes it little; aliasing, a lot.
"""

import numpy

from ..data import geometry
from ..engine.backend import to_numpy
from ..visualize import filter_report, filter_spectrum, plot_first_layers
from ..visualize.probe import batched_collect, evaluation
from . import networks, runs
from .figures import seed_bars
from .verdicts import architecture_verdict

CLAIM = 4
ALIASED_SHARE = 0.5
SHIFTS = ((1, 0), (0, 1))
DESIGNS = ("small", "large")
LABELS = {"small": "5x5, stride 1 (ZFNet-like)", "large": "9x9, stride 2 (AlexNet-like)"}


def spec(context, design, seed):
    if design == "small":
        return runs.main_run(context.budget, seed)
    return runs.variant_run(context.budget, seed, "first-layer-9x9-stride2", first_layer=networks.FIRST_LAYERS["large"])


def plan(context):
    return [spec(context, design, seed) for seed in context.seeds for design in DESIGNS]


def aliased_filters(weights, stride):
    """How many filters (F, C, KH, KW) put more than ALIASED_SHARE of their energy beyond 1 / (2 stride)."""
    spectrum, frequencies = filter_spectrum(numpy.asarray(weights))
    beyond = numpy.maximum(numpy.abs(frequencies)[:, None], numpy.abs(frequencies)[None, :]) > 0.5 / stride
    energy = spectrum ** 2
    share = energy[:, beyond].sum(axis=1) / numpy.maximum(energy.sum(axis=(1, 2)), 1e-30)
    return int((share > ALIASED_SHARE).sum())


def dead_in_layer(model, images, index):
    """Maps of ``model[index]`` (a ReLU) that are zero on every image."""
    with evaluation(model):
        maps = to_numpy(batched_collect(model, images, [index], 128, stop=index)[index])
    return int((~(maps > 0).any(axis=(0, 2, 3))).sum())


def shift_variance(model, images, index):
    """Mean over images and SHIFTS of ||g(shift x) - g(x)|| / ||g(x)||.

    g(x): the maps of model[index] for image x, each averaged over its positions, (C,).
    """
    def pooled(x):
        with evaluation(model):
            maps = to_numpy(batched_collect(model, x, [index], 128, stop=index)[index])
        return maps.mean(axis=(2, 3))

    original = pooled(images)
    size = numpy.maximum(numpy.linalg.norm(original, axis=1), 1e-12)
    changes = [numpy.linalg.norm(pooled(geometry.shift(images, rows, cols, fill="nearest")) - original, axis=1) / size
               for rows, cols in SHIFTS]
    return float(numpy.mean(changes))


def measure(context):
    budget, folder = context.budget, context.claim_folder(CLAIM)
    part = context.split()
    images = part.test_x[:budget.filter_images]
    numbers = {design: {"error": [], "dead_layer1": [], "dead_layer2": [], "dead": [], "aliased": [],
                        "layer2_shift_variance": [], "epochs": []} for design in DESIGNS}
    reports = []
    for seed in context.bar(context.seeds, "claim 4: first layers"):
        for design in DESIGNS:
            run = spec(context, design, seed)
            model, record = context.model(run), context.record(run)
            report = filter_report(model, images, name=LABELS[design])
            stride = report.stride[0]
            relu2 = networks.conv_relus(run.network)[2]
            table = numbers[design]
            table["error"].append(1.0 - record["test_accuracy"])
            table["dead_layer1"].append(report.dead_count)
            table["dead_layer2"].append(dead_in_layer(model, images, relu2))
            table["dead"].append(table["dead_layer1"][-1] + table["dead_layer2"][-1])
            table["aliased"].append(aliased_filters(report.weights, stride))
            table["layer2_shift_variance"].append(shift_variance(model, images, relu2))
            table["epochs"].append(record["epochs"])
            if seed == context.seeds[0]:
                reports.append(report)
    small, large = numbers["small"], numbers["large"]
    verdict = architecture_verdict(small["error"], large["error"], small["dead"], large["dead"], small["aliased"],
                                   large["aliased"], small["layer2_shift_variance"], large["layer2_shift_variance"])
    filters = plot_first_layers(reports, folder / "first_layers.png",
                                title=f"First-layer filters, seed {context.seeds[0]} (ZFNet Fig. 6 in kind)")
    errors = seed_bars(folder / "test_error.png", {LABELS[d]: numbers[d]["error"] for d in DESIGNS},
                       "top-1 test error", "Test error of the two first layers (one dot per seed)")
    return {
        "numbers": {**numbers, "aliased_share": ALIASED_SHARE, "filter_images": int(len(images))},
        "verdict": verdict,
        "figures": [context.relative(errors), context.relative(filters)],
        "runs": [context.run_folder(run) for run in plan(context)],
    }
