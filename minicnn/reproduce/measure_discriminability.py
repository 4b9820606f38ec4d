"""Claim 7 (ZFNet section 5.3, Table 7): a softmax on frozen features does better the higher the layer.

ZFNet kept its ImageNet network fixed and trained a softmax on each layer's
features for Caltech-101 and -256, new data sets. Here the network is
zfnet_small pretrained on five Fashion-MNIST classes (runs.OLD_CLASSES: the
"ImageNet"), and the new data set is the other five (runs.NEW_CLASSES):
minicnn.visualize.discriminability trains a softmax on the frozen output
of each ZFNet layer 1-7 with budget.discriminability_shots training images
per new class (drawn with the seed) and tests it on every test image of the
new classes. As evidence, the same on the pretraining classes themselves
(as few training images per class), and a softmax on the raw pixels of
the new classes.
"""

from ..visualize import discriminability, train_softmax
from . import networks, runs
from .figures import layer_lines
from .verdicts import HOLDS, _pm, discriminability_verdict, mean, rank_correlation

CLAIM = 7
LAYERS = (1, 2, 3, 4, 5, 6, 7)


def plan(context):
    return [runs.pretrain_run(context.budget, seed) for seed in context.seeds]


def softmax_by_layer(context, model, network, classes, seed):
    """{ZFNet layer or "pixels": test accuracy of a softmax on its frozen features}, few images per class."""
    shots = context.budget.discriminability_shots
    train = context.split(classes, shots, seed)
    test = context.split(classes)
    outputs = networks.layer_outputs(network)
    found = discriminability(model, train.train_x, train.train_y, test.test_x, test.test_y,
                             [outputs[layer] for layer in LAYERS], classes=len(classes),
                             epochs=context.budget.softmax_epochs, seed=seed)
    result = {layer: found[outputs[layer]] for layer in LAYERS}
    pixels = train_softmax(train.train_x.reshape(len(train.train_x), -1), train.train_y, len(classes),
                           epochs=context.budget.softmax_epochs, seed=seed)
    result["pixels"] = pixels.accuracy(test.test_x.reshape(len(test.test_x), -1), test.test_y)
    return result


def measure(context):
    folder = context.claim_folder(CLAIM)
    specs = plan(context)
    tables = {"new classes": {layer: [] for layer in LAYERS}, "pretraining classes": {layer: [] for layer in LAYERS}}
    pixels = {"new classes": [], "pretraining classes": []}
    for spec in context.bar(specs, "claim 7: softmax on each layer"):
        model = context.model(spec)
        for task, classes in (("new classes", runs.NEW_CLASSES), ("pretraining classes", runs.OLD_CLASSES)):
            result = softmax_by_layer(context, model, spec.network, classes, spec.seed)
            for layer in LAYERS:
                tables[task][layer].append(result[layer])
            pixels[task].append(result["pixels"])
    verdict = discriminability_verdict(tables["new classes"], 1, 7)
    why = why_lines(tables, pixels, context.class_names(runs.OLD_CLASSES))
    curves = layer_lines(folder / "softmax_by_layer.png", {
        **tables, "pixels, new classes": {0: pixels["new classes"]}},
        "softmax test accuracy",
        f"Softmax on frozen features, {context.budget.discriminability_shots} images per class "
        "(ZFNet Table 7 in kind; 0 = pixels)")
    return {
        "numbers": {"accuracy_new_classes": tables["new classes"],
                    "accuracy_pretraining_classes": tables["pretraining classes"], "pixels": pixels,
                    "images_per_class": context.budget.discriminability_shots,
                    "new_classes": context.class_names(runs.NEW_CLASSES),
                    "pretraining_classes": context.class_names(runs.OLD_CLASSES)},
        "verdict": verdict,
        "why": why,
        "figures": [context.relative(curves)],
        "runs": [context.run_folder(spec) for spec in specs],
    }


def why_lines(tables, pixels, pretraining_names):
    """The controlled comparison: the same network, layers and number of images, on the
    classes it was pretrained on instead of new ones; only the classes change."""
    lines = []
    verdicts = {}
    for task in ("new classes", "pretraining classes"):
        table = tables[task]
        rho = rank_correlation(list(LAYERS), [mean(table[layer]) for layer in LAYERS])
        verdicts[task] = discriminability_verdict(table, 1, 7)["verdict"]
        lines.append(f"{task}: layer 1 {_pm(table[1])}, layer 5 {_pm(table[5])}, layer 7 {_pm(table[7])}; "
                     f"Spearman rho of layer against accuracy {rho:.2f}; raw pixels {_pm(pixels[task])}; "
                     f"this claim's verdict on them: {verdicts[task]}")
    if verdicts["pretraining classes"] == HOLDS and verdicts["new classes"] != HOLDS:
        lines.append("only the classes changed, so the upper layers are specialists in the classes they were "
                     f"pretrained on ({', '.join(pretraining_names)}): Table 7's rise on new classes needs "
                     "pretraining classes that cover them, as ImageNet's 1,000 cover Caltech-101's")
    return lines
