"""Claim 8 (ZFNet section 5.2, Tables 4-5, Fig. 9): pretrained features beat training from scratch on few images.

For n in budget.transfer_shots images per new class (runs.NEW_CLASSES,
drawn with the seed, the same images for both):

    transfer   the network pretrained on the old classes (claim 7's), frozen; a new
               softmax on its layer-7 features (ZFNet kept layers 1-7, retrained the softmax)
    scratch    zfnet_small trained from its initial weights on the same n x 5 images
               for budget.scratch_steps SGD steps (runs.scratch_run; no validation
               images to converge on, so a fixed number of steps)

both tested on every test image of the new classes. The gap is transfer - scratch.
"""

from ..visualize import extract_features, train_softmax
from . import networks, runs
from .figures import layer_lines
from .verdicts import transfer_verdict

CLAIM = 8


def plan(context):
    pretrained = [runs.pretrain_run(context.budget, seed) for seed in context.seeds]
    scratch = [runs.scratch_run(context.budget, seed, n) for seed in context.seeds
               for n in context.budget.transfer_shots]
    return pretrained + scratch


def measure(context):
    budget, folder = context.budget, context.claim_folder(CLAIM)
    test = context.split(runs.NEW_CLASSES)
    transfer = {n: [] for n in budget.transfer_shots}
    scratch = {n: [] for n in budget.transfer_shots}
    for seed in context.bar(context.seeds, "claim 8: transfer against scratch"):
        spec = runs.pretrain_run(budget, seed)
        model = context.model(spec)
        top = networks.layer_outputs(spec.network)[7]
        test_features = extract_features(model, test.test_x, top)
        for n in budget.transfer_shots:
            train = context.split(runs.NEW_CLASSES, n, seed)
            classifier = train_softmax(extract_features(model, train.train_x, top), train.train_y,
                                       len(runs.NEW_CLASSES), epochs=budget.softmax_epochs, seed=seed)
            transfer[n].append(classifier.accuracy(test_features, test.test_y))
            scratch[n].append(context.record(runs.scratch_run(budget, seed, n))["test_accuracy"])
    verdict = transfer_verdict(transfer, scratch)
    curves = layer_lines(folder / "transfer_vs_scratch.png",
                         {"pretrained, new softmax on layer 7": transfer, "from scratch": scratch},
                         "test accuracy on the new classes",
                         "Few images per class: transfer against training from scratch (ZFNet 5.2 in kind)",
                         xlabel="training images per new class")
    return {
        "numbers": {"transfer": transfer, "scratch": scratch,
                    "gap": {n: [t - s for t, s in zip(transfer[n], scratch[n])] for n in transfer},
                    "scratch_steps": budget.scratch_steps, "new_classes": context.class_names(runs.NEW_CLASSES),
                    "test_images": int(len(test.test_y))},
        "verdict": verdict,
        "figures": [context.relative(curves)],
        "runs": [context.run_folder(run) for run in plan(context)],
    }
