"""Claim 2 (ZFNet section 4, Fig. 4): do the lower layers settle within a few epochs, the upper ones later?

"Settled", measurably. The main run keeps its weights after every epoch
(runs.KeepEpochs; epoch 0 = the initial weights). For epoch e, map c of a
layer and each of P probe images, the map's strongest activation on that
image; the P values are the map's *response profile* r_e(c), what it
responds to and how much. Then

    agreement_e(layer) = mean over the layer's maps of corr(r_e(c), r_final(c))

(Pearson; maps silent on every probe image at the final epoch are left
out), and the layer has *settled* at the first epoch from which agreement
stays at least SETTLED_CORRELATION to the end. Alongside, the share of maps
whose strongest probe image is already the final epoch's, the quantity
Fig. 4 shows (its projections are of that image).
"""

import numpy

from ..engine.backend import to_numpy
from ..visualize import FeatureEvolution, plot_evolution
from ..visualize.probe import evaluation, forward_collect
from . import networks, runs
from .figures import layer_lines
from .verdicts import evolution_verdict

CLAIM = 2
SETTLED_CORRELATION = 0.9
LAYERS = (1, 2, 3, 4, 5, 6, 7)
JUDGED = (1, 5)              # Fig. 4 shows layers 1 to 5
PROFILE_IMAGES = 2000        # at most this many probe images
PICTURE_IMAGES = 300
PICTURE_MAPS = 6
PICTURE_EPOCHS = 5           # columns of the Fig. 4 picture (epochs spread over the run)


def plan(context):
    return [runs.main_run(context.budget, seed) for seed in context.seeds]


def response_profiles(model, images, indices, batch_size=250):
    """{model index: (P, C) strongest activation of each map on each image}."""
    parts = {index: [] for index in indices}
    with evaluation(model):
        for start in range(0, len(images), batch_size):
            outputs = forward_collect(model, images[start:start + batch_size], list(indices), stop=max(indices))
            for index in indices:
                maps = to_numpy(outputs[index])
                parts[index].append(maps.reshape(maps.shape[0], maps.shape[1], -1).max(axis=2))
    return {index: numpy.concatenate(parts[index]) for index in indices}


def agreement(profile, final):
    """(mean correlation with the final profile, share of maps whose strongest image is the final one's).

    profile, final: (P, C). Maps constant at the final epoch are left out of both.
    """
    alive = final.std(axis=0) > 0
    if not alive.any():
        return float("nan"), float("nan")
    a, b = profile[:, alive], final[:, alive]
    a_centred, b_centred = a - a.mean(axis=0), b - b.mean(axis=0)
    norms = numpy.sqrt((a_centred ** 2).sum(axis=0) * (b_centred ** 2).sum(axis=0))
    correlation = numpy.where(norms > 0, (a_centred * b_centred).sum(axis=0) / numpy.where(norms > 0, norms, 1), 0.0)
    same = a.argmax(axis=0) == b.argmax(axis=0)
    return float(correlation.mean()), float(same.mean())


def settle_epoch(epochs, correlations, threshold=SETTLED_CORRELATION):
    """The first epoch from which every correlation is at least ``threshold`` (the last epoch at worst)."""
    settled = epochs[-1]
    for epoch, value in zip(reversed(epochs), reversed(correlations)):
        if not value >= threshold:
            break
        settled = epoch
    return settled


def measure(context):
    budget, folder = context.budget, context.claim_folder(CLAIM)
    part = context.split()
    count = min(budget.probe_images, PROFILE_IMAGES, len(part.test_y))
    images = part.test_x[:count]
    specs = plan(context)
    settle = {layer: [] for layer in LAYERS}
    trained, curves, same_image = [], [], []
    for spec in specs:
        outputs = networks.layer_outputs(spec.network)
        indices = [outputs[layer] for layer in LAYERS]
        epochs = runs.snapshot_epochs(spec, context.runs_dir)
        final = response_profiles(context.model(spec, epochs[-1]), images, indices)
        correlation = {layer: [] for layer in LAYERS}
        same = {layer: [] for layer in LAYERS}
        for epoch in context.bar(epochs, f"claim 2: epochs of {spec.name}"):
            profiles = final if epoch == epochs[-1] else response_profiles(context.model(spec, epoch), images,
                                                                           indices)
            for layer in LAYERS:
                value, share = agreement(profiles[outputs[layer]], final[outputs[layer]])
                correlation[layer].append(value)
                same[layer].append(share)
        for layer in LAYERS:
            settle[layer].append(settle_epoch(epochs, correlation[layer]))
        trained.append(epochs[-1])
        curves.append({"epochs": epochs, "correlation": correlation})
        same_image.append({"epochs": epochs, "share": same})
    verdict = evolution_verdict({layer: settle[layer] for layer in range(JUDGED[0], JUDGED[1] + 1)}, trained,
                                JUDGED[0], JUDGED[1])
    first = curves[0]
    lines = layer_lines(folder / "agreement_by_epoch.png",
                        {f"layer {layer}": {epoch: [value] for epoch, value in
                                            zip(first["epochs"], first["correlation"][layer])} for layer in LAYERS},
                        "mean correlation with the final epoch", f"How far each layer is from its final features "
                        f"(seed {specs[0].seed}; settled: >= {SETTLED_CORRELATION} from then on)", xlabel="epoch")
    fig4 = fig4_picture(context, specs[0], part.test_x[:PICTURE_IMAGES], folder / "evolution_projections.png")
    return {
        "numbers": {"settle_epoch": settle, "epochs_trained": trained, "settled_correlation": SETTLED_CORRELATION,
                    "correlation_by_epoch": curves, "strongest_image_is_final": same_image, "probe_images": count},
        "verdict": verdict,
        "figures": [context.relative(lines), context.relative(fig4)],
        "runs": [context.run_folder(spec) for spec in specs],
    }


def fig4_picture(context, spec, images, path):
    """ZFNet's Fig. 4 for the conv layers: the strongest projection of a few maps at a few epochs."""
    epochs = runs.snapshot_epochs(spec, context.runs_dir)
    chosen = sorted({epochs[int(round(i))] for i in numpy.linspace(1 if len(epochs) > 1 else 0, len(epochs) - 1,
                                                                     PICTURE_EPOCHS)})
    relus = networks.conv_relus(spec.network)
    evolution = FeatureEvolution(images, [relus[layer] for layer in sorted(relus)], max_maps=PICTURE_MAPS)
    for epoch in chosen:
        evolution.snapshot(context.model(spec, epoch), epoch)
    return plot_evolution(evolution, path, max_maps=PICTURE_MAPS,
                          title=f"Strongest projection of maps of ZFNet's conv layers 1-5 (panels: model indices) "
                                f"at epochs {', '.join(map(str, chosen))} (ZFNet Fig. 4 in kind)")
