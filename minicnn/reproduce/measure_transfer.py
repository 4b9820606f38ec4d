"""Claim 8 (ZFNet section 5.2, Tables 4-5, Fig. 9): pretrained features beat training from scratch on few images.

For n in budget.transfer_shots images per new class (runs.NEW_CLASSES,
drawn with the seed, the same images for both):

    transfer   the network pretrained on the old classes (claim 7's), frozen; a new
               softmax on its layer-7 features (ZFNet kept layers 1-7, retrained the softmax)
    scratch    zfnet_small trained from its initial weights on the same n x 5 images
               for budget.scratch_steps SGD steps (runs.scratch_run; no validation
               images to converge on, so a fixed number of steps)

both tested on every test image of the new classes. The gap is transfer - scratch.

The controlled comparisons behind a verdict other than "holds" (the entry's
"why"):

    by layer   the same pretrained network and the same few images, with the new
               softmax on the frozen features of each layer 1-7 in turn (claim 7
               found the top layers specialists in the pretraining classes), and
               on the raw pixels;
    control    the same test with only the classes changed: few images of the five
               pretraining classes (runs.OLD_CLASSES), transfer (a new softmax on
               layer 7) against zfnet_small trained from scratch on them the same
               way (``control_run``), at ``control_shots`` images per class.
               Where transfer wins there and not on the new classes, the method
               works and what the pretrained features cover decides.
"""

import dataclasses

from ..visualize import extract_features, train_softmax
from . import networks, runs
from .figures import layer_lines
from .verdicts import ACCURACY_FLOOR, HOLDS, _pm, compare, transfer_verdict

CLAIM = 8
LAYERS = (1, 2, 3, 4, 5, 6, 7)
PIXELS, SCRATCH = 0, 8        # where the figure of every layer puts the raw pixels and training from scratch


def control_shots(budget):
    """The fewest, a middle and the most images per class of budget.transfer_shots."""
    shots = sorted(budget.transfer_shots)
    return tuple(sorted({shots[0], shots[len(shots) // 2], shots[-1]}))


def control_run(budget, seed, per_class):
    """runs.scratch_run on the pretraining classes instead of the new ones (as many: 5)."""
    spec = runs.scratch_run(budget, seed, per_class)
    return dataclasses.replace(spec, name=spec.name.replace("new-classes", "old-classes"),
                               classes=runs.OLD_CLASSES)


def plan(context):
    pretrained = [runs.pretrain_run(context.budget, seed) for seed in context.seeds]
    scratch = [runs.scratch_run(context.budget, seed, n) for seed in context.seeds
               for n in context.budget.transfer_shots]
    control = [control_run(context.budget, seed, n) for seed in context.seeds
               for n in control_shots(context.budget)]
    return pretrained + scratch + control


def softmax_accuracy(model, layer, train, test_features, test_labels, budget, seed):
    """A new softmax on the frozen output of ``layer`` for the few images ``train`` (a runs.Split)."""
    classifier = train_softmax(extract_features(model, train.train_x, layer), train.train_y,
                               len(runs.NEW_CLASSES), epochs=budget.softmax_epochs, seed=seed)
    return classifier.accuracy(test_features, test_labels)


def measure(context):
    budget, folder = context.budget, context.claim_folder(CLAIM)
    test = context.split(runs.NEW_CLASSES)
    shots = budget.transfer_shots
    by_layer = {layer: {n: [] for n in shots} for layer in LAYERS}
    pixels = {n: [] for n in shots}
    scratch = {n: [] for n in shots}
    old_test = context.split(runs.OLD_CLASSES)
    control = {"transfer": {n: [] for n in control_shots(budget)}, "scratch": {n: [] for n in control_shots(budget)}}
    for seed in context.bar(context.seeds, "claim 8: transfer against scratch"):
        spec = runs.pretrain_run(budget, seed)
        model = context.model(spec)
        outputs = networks.layer_outputs(spec.network)
        splits = {n: context.split(runs.NEW_CLASSES, n, seed) for n in shots}
        for layer in LAYERS:
            test_features = extract_features(model, test.test_x, outputs[layer])
            for n in shots:
                by_layer[layer][n].append(softmax_accuracy(model, outputs[layer], splits[n], test_features,
                                                           test.test_y, budget, seed))
        old_features = extract_features(model, old_test.test_x, outputs[7])
        for n in control_shots(budget):
            control["transfer"][n].append(softmax_accuracy(
                model, outputs[7], context.split(runs.OLD_CLASSES, n, seed), old_features, old_test.test_y,
                budget, seed))
            control["scratch"][n].append(context.record(control_run(budget, seed, n))["test_accuracy"])
        flat_test = test.test_x.reshape(len(test.test_x), -1)
        for n in shots:
            train = splits[n]
            classifier = train_softmax(train.train_x.reshape(len(train.train_x), -1), train.train_y,
                                       len(runs.NEW_CLASSES), epochs=budget.softmax_epochs, seed=seed)
            pixels[n].append(classifier.accuracy(flat_test, test.test_y))
            scratch[n].append(context.record(runs.scratch_run(budget, seed, n))["test_accuracy"])
    transfer = by_layer[7]                        # ZFNet's: layers 1-7 kept, a new softmax
    verdict = transfer_verdict(transfer, scratch)
    curves = layer_lines(folder / "transfer_vs_scratch.png",
                         {"pretrained, new softmax on layer 7": transfer, "from scratch": scratch,
                          "softmax on the pixels": pixels},
                         "test accuracy on the new classes",
                         "Few images per class: transfer against training from scratch (ZFNet 5.2 in kind)",
                         xlabel="training images per new class")
    shown = sorted({shots[0], shots[len(shots) // 2], shots[-1]})
    layers_figure = layer_lines(folder / "transfer_by_layer.png",
                                {f"{n} per class": {PIXELS: pixels[n], **{layer: by_layer[layer][n] for layer in LAYERS},
                                                    SCRATCH: scratch[n]} for n in shown},
                                "test accuracy on the new classes",
                                "A new softmax on each layer's frozen features, against training from scratch",
                                xlabel="ZFNet layer (0: the raw pixels; 8: the network trained from scratch)")
    control_figure = layer_lines(folder / "control_pretraining_classes.png",
                                 {"pretraining classes: transfer (layer 7)": control["transfer"],
                                  "pretraining classes: from scratch": control["scratch"],
                                  "new classes: transfer (layer 7)": {n: transfer[n] for n in control_shots(budget)},
                                  "new classes: from scratch": {n: scratch[n] for n in control_shots(budget)}},
                                 "test accuracy", "The control: the same test on the pretraining classes",
                                 xlabel="training images per class")
    return {
        "numbers": {"transfer": transfer, "scratch": scratch,
                    "gap": {n: [t - s for t, s in zip(transfer[n], scratch[n])] for n in transfer},
                    "transfer_by_layer": by_layer, "pixels": pixels, "control_pretraining_classes": control,
                    "scratch_steps": budget.scratch_steps, "new_classes": context.class_names(runs.NEW_CLASSES),
                    "test_images": int(len(test.test_y))},
        "verdict": verdict,
        "why": why_lines(by_layer, pixels, scratch, control),
        "figures": [context.relative(curves), context.relative(layers_figure), context.relative(control_figure)],
        "runs": [context.run_folder(run) for run in plan(context)],
    }


def why_lines(by_layer, pixels, scratch, control):
    """The controlled comparisons (module docstring), in words, from the numbers: control is
    {"transfer": {n: [...]}, "scratch": {n: [...]}} on the pretraining classes."""
    shots = sorted(scratch)
    lines = []
    for n in shots:
        beats = [layer for layer in LAYERS if compare(by_layer[layer][n], scratch[n], ACCURACY_FLOOR) > 0]
        lines.append(f"by layer, {n} per class: scratch {_pm(scratch[n])}; pixels {_pm(pixels[n])}; "
                     + ", ".join(f"layer {layer} {_pm(by_layer[layer][n])}" for layer in LAYERS)
                     + "; beating scratch beyond the spread: "
                     + (", ".join(f"layer {layer}" for layer in beats) if beats else "no layer"))
    fewest = shots[0]
    lower = [layer for layer in LAYERS
             if compare(by_layer[layer][fewest], scratch[fewest], ACCURACY_FLOOR) > 0]
    if lower and 7 not in lower:
        lines.append(f"only the layer read changed: at {fewest} per class the features of layer(s) "
                     f"{', '.join(map(str, lower))} beat training from scratch and layer 7's do not, so the "
                     "top layers, specialists in the pretraining classes (claim 7), are what fails to transfer")
    elif not lower:
        lines.append(f"no layer's features beat training from scratch at {fewest} per class: the network "
                     "trained on these few images of the new classes alone learns them better than any frozen "
                     "layer of the network pretrained on the other five separates them")
    on_new = transfer_verdict(by_layer[7], scratch)["verdict"]
    on_old = transfer_verdict(control["transfer"], control["scratch"])["verdict"]
    lines.append("the control, only the classes changed (the five pretraining classes): "
                 + "; ".join(f"{n} per class: transfer {_pm(control['transfer'][n])}, "
                             f"scratch {_pm(control['scratch'][n])}" for n in sorted(control["transfer"], key=int))
                 + f"; this claim's verdict there: {on_old}")
    if on_old == HOLDS and on_new != HOLDS:
        lines.append("only the classes changed, and on the classes the pretraining covers transfer beats training "
                     "from scratch as ZFNet found: the method works, and what the pretrained features cover decides")
    return lines
