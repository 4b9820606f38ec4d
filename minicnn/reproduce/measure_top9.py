"""Claim 1 (ZFNet section 4, Fig. 2): are the top-9 images of higher layers' maps more class-specific?

For each map of each ZFNet layer 1-7 of a trained main network, the nine
probe images holding its strongest activations (one unit per image:
minicnn.visualize.topk.find_strongest), and

    purity(map) = (images of the commonest class among the nine) / 9

from 1/9 (nine images of nine classes) to 1 (all of one class). A layer's
purity is the mean over its maps that fire on at least nine images (a map
whose ninth strongest value is 0 says nothing about its top nine). Chance: the
purity of nine probe images drawn at random, averaged over CHANCE_DRAWS draws.
"""

import numpy

from ..visualize import feature_visualization, plot_feature_visualization
from ..visualize.topk import find_strongest
from . import networks, runs
from .figures import layer_lines
from .verdicts import top9_verdict

CLAIM = 1
K = 9
LAYERS = (1, 2, 3, 4, 5, 6, 7)
JUDGED = (1, 5)                 # Fig. 2 shows layers 1 to 5: the verdict compares them
CHANCE_DRAWS = 2000
PICTURE_IMAGES = 1000           # probe images searched for the picture's top-9 (all of them with fewer)
PICTURE_MAPS = 4                # maps per layer in the picture


def plan(context):
    return [runs.main_run(context.budget, seed) for seed in context.seeds]


def map_count(model, index):
    """How many maps (or units) ``model[index]`` outputs, from the shape formulas."""
    shape = networks.INPUT_SHAPE
    for module in list(model)[:index + 1]:
        shape = module.output_shape(shape)
    return shape[0]


def purity(labels):
    """Share of ``labels`` in their commonest class."""
    return numpy.bincount(numpy.asarray(labels)).max() / len(labels)


def chance_purity(labels, draws=CHANCE_DRAWS, seed=0):
    generator = numpy.random.default_rng(seed)
    return float(numpy.mean([purity(generator.choice(labels, K, replace=False)) for _ in range(draws)]))


def layer_purities(model, images, labels, outputs):
    """{ZFNet layer: (mean purity over the maps that fire, maps that fire, maps)} of one network."""
    wanted = {outputs[layer]: range(map_count(model, outputs[layer])) for layer in LAYERS}
    found = find_strongest(model, images, wanted, K, batch_size=128)
    table = {}
    for layer in LAYERS:
        tops = list(found[outputs[layer]].values())
        firing = [indices for values, indices, _, _ in tops if len(values) == K and values[-1] > 0]
        # no map fires on nine images (a barely trained network): count them all rather than none
        scores = [purity(labels[indices]) for indices in (firing or [top[1] for top in tops])]
        table[layer] = (float(numpy.mean(scores)), len(firing), len(tops))
    return table


def measure(context):
    budget, folder = context.budget, context.claim_folder(CLAIM)
    part = context.split()
    count = min(budget.probe_images, len(part.test_y))
    images, labels = part.test_x[:count], part.test_y[:count]
    purities = {layer: [] for layer in LAYERS}
    firing = {layer: [] for layer in LAYERS}
    specs = plan(context)
    for spec in context.bar(specs, "claim 1: top-9 of every map"):
        model = context.model(spec)
        table = layer_purities(model, images, labels, networks.layer_outputs(spec.network))
        for layer in LAYERS:
            purities[layer].append(table[layer][0])
            firing[layer].append([table[layer][1], table[layer][2]])
    chance = chance_purity(labels)
    verdict = top9_verdict({layer: purities[layer] for layer in range(JUDGED[0], JUDGED[1] + 1)},
                           JUDGED[0], JUDGED[1])
    curve = layer_lines(folder / "purity_by_layer.png", {"top-9 purity": purities,
                                                         "chance": {layer: [chance] for layer in LAYERS}},
                        "share of the 9 images in one class",
                        f"Top-9 class purity by layer ({len(specs)} seed(s), {count} probe images)")
    model, outputs = context.model(specs[0]), networks.layer_outputs(specs[0].network)
    shown = feature_visualization(model, images[:PICTURE_IMAGES], [outputs[layer] for layer in range(1, 6)],
                                  max_maps=PICTURE_MAPS)
    grid = plot_feature_visualization(shown, folder / "top9_projections.png",
                                      title="Top-9 projections and patches, layers 1-5 (ZFNet Fig. 2 in kind); "
                                            "rows: model indices " + ", ".join(str(outputs[l]) for l in range(1, 6)))
    return {
        "numbers": {"purity": purities, "chance_purity": chance, "maps_firing_of_maps": firing,
                    "probe_images": count, "layer_index": outputs},
        "verdict": verdict,
        "figures": [context.relative(curve), context.relative(grid)],
        "runs": [context.run_folder(spec) for spec in specs],
    }
