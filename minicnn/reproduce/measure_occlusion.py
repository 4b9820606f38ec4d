"""Claim 5 (ZFNet section 4.2, Fig. 7): covering the object hurts, covering the background does not.

minicnn.visualize.occlusion slides a WINDOW x WINDOW square, filled with the
image's mean, STRIDE pixels at a time over a correctly classified test
image, and records at each position the probability of the true class and
the summed activity of the strongest map of ZFNet's layer 5 (the ReLU after
its convolution, 7x7 maps). For each position:

    object cover        share of the square's pixels on the garment (pixel > OBJECT_PIXEL,
                        in [0, 1]; Fashion-MNIST's background is black)
    p drop              p(true | clean) - p(true | occluded)
    projection cover    share of the map's deconvnet projection (|pixels| of the
                        projection of its strongest unit) inside the square
    activity drop       1 - activity(occluded) / activity(clean)

Per image: the mean p drop over the squares on the object (cover >=
ON_OBJECT) and over those on the background (cover <= ON_BACKGROUND; images
with no such square are left out of that mean); the activity drop of the
square covering the most of the projection, and the mean one of the quarter
of squares covering the least. Then means over the images, one number per seed.
"""

import numpy

from ..engine.backend import to_numpy
from ..visualize import Deconvnet, occlusion, plot_occlusion
from . import networks, runs
from .figures import seed_bars
from .measure_invariance import correct_indices
from .verdicts import occlusion_verdict

CLAIM = 5
WINDOW, STRIDE = 8, 2
OBJECT_PIXEL = 0.1
ON_OBJECT, ON_BACKGROUND = 0.75, 0.1
PICTURES = 3


def plan(context):
    return [runs.main_run(context.budget, seed) for seed in context.seeds]


def square_cover(mask, rows, cols, window=WINDOW):
    """(len(rows), len(cols)): the sum of ``mask`` (H, W) inside the square starting at each (row, col)."""
    return numpy.array([[mask[r:r + window, c:c + window].sum() for c in cols] for r in rows], dtype=numpy.float64)


def one_image(model, deconv, image, pixels, label, layer):
    """The numbers of one image (module docstring) and its OcclusionMaps."""
    maps = occlusion(model, image, int(label), WINDOW, STRIDE, layer=layer)
    on_object = square_cover(pixels > OBJECT_PIXEL, maps.rows, maps.cols) / WINDOW ** 2
    drop = maps.clean_prob - maps.prob
    projection = numpy.abs(to_numpy(deconv.project_units(image[None], layer, [maps.channel])[0])[0]).sum(axis=0)
    covered = square_cover(projection, maps.rows, maps.cols) / max(projection.sum(), 1e-12)
    activity_drop = 1.0 - maps.activity / maps.clean_activity if maps.clean_activity > 0 else numpy.zeros_like(drop)
    least = covered <= numpy.quantile(covered, 0.25)
    most = numpy.unravel_index(numpy.argmax(covered), covered.shape)
    return {
        "drop_object": float(drop[on_object >= ON_OBJECT].mean()) if (on_object >= ON_OBJECT).any() else None,
        "drop_background": float(drop[on_object <= ON_BACKGROUND].mean()) if (on_object <= ON_BACKGROUND).any()
        else None,
        "activity_projection": float(activity_drop[most]),
        "activity_elsewhere": float(activity_drop[least].mean()),
    }, maps


def measure(context):
    budget, folder = context.budget, context.claim_folder(CLAIM)
    part = context.split()
    specs = plan(context)
    names = context.class_names()
    keys = ("drop_object", "drop_background", "activity_projection", "activity_elsewhere")
    per_seed = {key: [] for key in keys}
    counted, pictures = [], []
    for spec in specs:
        model = context.model(spec)
        layer = networks.conv_relus(spec.network)[5]
        deconv = Deconvnet(model)
        chosen = correct_indices(model, part, budget.occlusion_images)
        rows = {key: [] for key in keys}
        for number, index in enumerate(context.bar(chosen, f"claim 5: occlusion, {spec.name}")):
            label = int(part.test_y[index])
            result, maps = one_image(model, deconv, part.test_x[index], part.test_pixels[index], label, layer)
            for key in keys:
                if result[key] is not None:
                    rows[key].append(result[key])
            if spec is specs[0] and number < PICTURES:
                title = (f"Occluding a {names[label]}: layer-5 map {maps.channel} (model index {layer}), "
                         f"seed {spec.seed} (ZFNet Fig. 7 in kind)")
                pictures.append(plot_occlusion(part.test_x[index], maps, folder / f"occlusion_{number}.png",
                                               classes=names, title=title))
        for key in keys:
            per_seed[key].append(float(numpy.mean(rows[key])) if rows[key] else float("nan"))
        counted.append({key: len(rows[key]) for key in keys})
    verdict = occlusion_verdict(per_seed["drop_object"], _or_zero(per_seed["drop_background"]),
                                per_seed["activity_projection"], per_seed["activity_elsewhere"])
    bars = seed_bars(folder / "drops.png", {
        "p drop:\nobject": per_seed["drop_object"], "p drop:\nbackground": _or_zero(per_seed["drop_background"]),
        "map drop:\nover projection": per_seed["activity_projection"],
        "map drop:\nelsewhere": per_seed["activity_elsewhere"]},
        "drop (probability; share of activity)", f"Occlusion, {WINDOW}x{WINDOW} square, stride {STRIDE}")
    return {
        "numbers": {**per_seed, "images_counted": counted, "window": WINDOW, "stride": STRIDE},
        "verdict": verdict,
        "figures": [context.relative(bars)] + [context.relative(path) for path in pictures],
        "runs": [context.run_folder(spec) for spec in specs],
    }


def _or_zero(numbers):
    """Seeds whose images had no background square count as a drop of 0 there (none was measured)."""
    return [0.0 if not numpy.isfinite(value) else value for value in numbers]
