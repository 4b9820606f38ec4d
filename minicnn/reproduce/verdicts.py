"""The verdicts: does a claim of ZFNet hold for minicnn's network? Pure functions of numbers.

Each claim (claims.py) is split into named *checks*, each a yes or no about
numbers the measurements produced, with its threshold written down below as
a named constant. One check is the claim's *core*, the difference the paper
reports; the others are the rest of its sentence. Then

    holds    every check passes
    partly   the core passes but another check fails, or the core fails
             while every other check passes
    differs  the core fails and so does at least one other check

The spread rule. Accuracies and most other numbers are measured once per
seed. ``compare(a, b, floor)`` says +1 when the mean of ``a`` exceeds the
mean of ``b`` by more than the spread, -1 when it falls short by more, 0
otherwise, where

    spread = max(range of a over the seeds, range of b over the seeds, floor)

(range = largest minus smallest). The floor stands in for the spread where
one seed gives none: a difference smaller than the floor is never evidence.
A check that compares measured numbers passes only with +1: a difference
inside the spread does not show the paper's effect.

"Rises with depth" is the rank correlation (Spearman's rho) between the
layer numbers and the means per layer, at least ``TREND_MIN``.

Every function here takes plain numbers (lists of per-seed values, dicts
keyed by layer) and returns ``{"verdict", "reason", "checks"}``:
tests/test_reproduce.py feeds them made-up numbers that must give each
verdict.
"""

import math

import numpy

HOLDS, PARTLY, DIFFERS = "holds", "partly", "differs"
VERDICTS = (HOLDS, PARTLY, DIFFERS)

# ----- thresholds, one per idea; each check below names the ones it uses --------------
ACCURACY_FLOOR = 0.002        # accuracies, errors (fractions): 0.2 points, the convergence rule's own noise
TREND_MIN = 0.8               # Spearman's rho of layer number against a per-layer mean: "rises with depth"
PURITY_FLOOR = 0.05           # claim 1: top-9 purity (share of the 9 images in the map's commonest class)
SETTLE_FLOOR = 1.0            # claim 2: settle epochs; one epoch apart is no evidence
EARLY_FRACTION = 0.3          # claim 2: "within a few epochs" = in the first 30% of the epochs trained
CHANGE_FLOOR = 0.05           # claim 3: relative change of a feature vector, ||f(Tx) - f(x)|| / ||f(x)||
STABLE_RETAINED = 0.8         # claim 3: "stable": the true class keeps 80% of its clean probability on average
ROTATION_MARGIN = 0.1         # claim 3: rotation keeps at least 0.1 less of it than translation and scaling
SHIFT_VARIANCE_FLOOR = 0.01   # claim 4: layer-2 relative change under 1-pixel shifts (aliasing)
FAR_MORE_RATIO = 2.0          # claim 5: covering the object drops p(true) at least twice as much as background
PROBABILITY_FLOOR = 0.02      # claim 5: drops of p(true class)
ACTIVITY_FLOOR = 0.05         # claim 5: relative drops of a map's summed activity
LITTLE_COST = 0.02            # claim 6: "costs little": at most 2 points more top-1 test error


# ----- the shared arithmetic -------------------------------------------------------
def values(numbers):
    """A per-seed list (or one number) as a float array, NaN-free; ValueError if empty."""
    array = numpy.atleast_1d(numpy.asarray(numbers, dtype=numpy.float64))
    array = array[numpy.isfinite(array)]
    if array.size == 0:
        raise ValueError(f"verdicts: no finite value among {numbers!r}")
    return array


def spread(numbers):
    """Largest minus smallest of the per-seed values (0 for one seed)."""
    array = values(numbers)
    return float(array.max() - array.min())


def mean(numbers):
    return float(values(numbers).mean())


def compare(a, b, floor):
    """+1: mean(a) > mean(b) by more than the spread; -1: less by more than it; 0: within it.

    spread = max(spread(a), spread(b), floor), see the module docstring.
    """
    margin = max(spread(a), spread(b), floor)
    difference = mean(a) - mean(b)
    if difference > margin:
        return 1
    if difference < -margin:
        return -1
    return 0


def rank_correlation(x, y):
    """Spearman's rho of two equal-length sequences (ties get their mean rank); 0 if either is constant."""
    x, y = numpy.asarray(x, dtype=numpy.float64), numpy.asarray(y, dtype=numpy.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"rank_correlation: needs two sequences of the same length, at least 2; "
                         f"got {len(x)} and {len(y)}")
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(numpy.corrcoef(rx, ry)[0, 1])


def _ranks(x):
    order = numpy.argsort(x, kind="stable")
    ranks = numpy.empty(len(x))
    ranks[order] = numpy.arange(len(x), dtype=numpy.float64)
    for value in numpy.unique(x):                 # ties share the mean of their ranks
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def check(name, passed, detail):
    """One check: its name, whether it passed, and the numbers that decided it."""
    return {"name": name, "passed": bool(passed), "detail": detail}


def decide(core, others):
    """The verdict of a core check and the other checks (module docstring), with its reason."""
    checks = [core] + list(others)
    failed = [c for c in checks if not c["passed"]]
    passed = [c for c in checks if c["passed"]]
    if not failed:
        return {"verdict": HOLDS, "checks": checks,
                "reason": "every check passes: " + "; ".join(c["detail"] for c in checks)}
    verdict = PARTLY if core["passed"] or (len(failed) == 1 and failed[0] is core) else DIFFERS
    reason = "fails: " + "; ".join(f"{c['name']} ({c['detail']})" for c in failed)
    if passed:
        reason += "; passes: " + "; ".join(c["name"] for c in passed)
    return {"verdict": verdict, "reason": reason, "checks": checks}


def _pm(numbers, digits=3):
    """'0.512 +- 0.010 (3 seeds)': the mean and half the range."""
    array = values(numbers)
    text = f"{array.mean():.{digits}f}"
    if array.size > 1:
        text += f" +- {(array.max() - array.min()) / 2:.{digits}f}"
    return text + f" ({array.size} seed{'s' if array.size != 1 else ''})"


def _by_number(table):
    """{1: ..., 2: ...} from a table keyed by numbers or, as JSON gives them back, by their strings."""
    return {int(key): value for key, value in table.items()}


def _layer_means(per_layer):
    layers = sorted(per_layer)
    return layers, [mean(per_layer[layer]) for layer in layers]


def _rises(per_layer, what):
    """The "rises with depth" check of a {layer: per-seed values} table."""
    layers, means = _layer_means(per_layer)
    rho = rank_correlation(layers, means)
    shown = ", ".join(f"{layer}: {value:.3f}" for layer, value in zip(layers, means))
    return check(f"{what} rises with depth", rho >= TREND_MIN,
                 f"Spearman rho {rho:.2f} (needs >= {TREND_MIN}); means by layer {shown}")


# ----- one function per claim ----------------------------------------------------------
def top9_verdict(purity, first=1, top=5):
    """Claim 1 (Fig. 2). purity: {layer: [per-seed mean top-9 purity]}, layers first..top.

    core: purity[top] > purity[first] beyond the spread (PURITY_FLOOR);
    other: purity rises with depth over first..top (TREND_MIN).
    """
    purity = _by_number(purity)
    judged = {layer: purity[layer] for layer in purity if first <= layer <= top}
    direction = compare(purity[top], purity[first], PURITY_FLOOR)
    core = check("higher layers' top-9 come from fewer classes", direction > 0,
                 f"layer {top} purity {_pm(purity[top])} against layer {first} {_pm(purity[first])}")
    return decide(core, [_rises(judged, "purity")])


def evolution_verdict(settle, epochs, first=1, top=5):
    """Claim 2 (Fig. 4). settle: {layer: [per-seed settle epoch]}; epochs: [per-seed epochs trained].

    core: the top layer settles later than the first beyond the spread (SETTLE_FLOOR);
    others: the first layer settles in the first EARLY_FRACTION of training;
    settle epochs rise with depth (TREND_MIN).
    """
    settle = _by_number(settle)
    judged = {layer: settle[layer] for layer in settle if first <= layer <= top}
    direction = compare(settle[top], settle[first], SETTLE_FLOOR)
    core = check("upper layers settle later than lower ones", direction > 0,
                 f"layer {top} settles at epoch {_pm(settle[top], digits=1)}, layer {first} at "
                 f"{_pm(settle[first], digits=1)}")
    limit = EARLY_FRACTION * mean(epochs)
    early = check("lower layers settle within a few epochs", mean(settle[first]) <= limit,
                  f"layer {first} settles at epoch {mean(settle[first]):.1f}; a few = at most "
                  f"{EARLY_FRACTION:.0%} of the {mean(epochs):.1f} epochs trained, {limit:.1f}")
    return decide(core, [early, _rises(judged, "settle epoch")])


def invariance_verdict(change_first, change_top, retained):
    """Claim 3 (Fig. 5).

    change_first, change_top: {transform: [per-seed mean relative change]} of
    layer 1 and the top layer under small transforms ("translate", "scale", "rotate");
    retained: {transform: [per-seed share of the clean true-class probability kept]},
    small translations and scalings, large rotations.
    core: layer 1 changes more than the top layer, beyond the spread (CHANGE_FLOOR), for every transform;
    others: translation and scaling keep at least STABLE_RETAINED of p(true);
    rotation keeps at least ROTATION_MARGIN less than either.
    """
    transforms = sorted(change_first)
    directions = {t: compare(change_first[t], change_top[t], CHANGE_FLOOR) for t in transforms}
    core = check("small transforms move layer 1 more than the top layer", all(d > 0 for d in directions.values()),
                 "; ".join(f"{t}: layer 1 {_pm(change_first[t])}, top {_pm(change_top[t])}" for t in transforms))
    kept = {t: mean(retained[t]) for t in ("translate", "scale", "rotate")}
    stable = check("the output is stable to translation and scaling",
                   kept["translate"] >= STABLE_RETAINED and kept["scale"] >= STABLE_RETAINED,
                   f"p(true) kept: translation {kept['translate']:.2f}, scaling {kept['scale']:.2f} "
                   f"(needs >= {STABLE_RETAINED})")
    rotation = check("but not to rotation",
                     kept["rotate"] <= min(kept["translate"], kept["scale"]) - ROTATION_MARGIN,
                     f"p(true) kept under rotation {kept['rotate']:.2f} (needs at most "
                     f"{ROTATION_MARGIN} below the smaller of the two)")
    return decide(core, [stable, rotation])


def architecture_verdict(error_small, error_large, dead_small, dead_large, aliased_small, aliased_large,
                         shift_small, shift_large):
    """Claim 4 (Fig. 6, section 4.1): the small first layer (ZFNet's) against the large one (AlexNet's).

    error_*: [per-seed top-1 test error]; dead_*: [per-seed dead filters in layers 1 and 2];
    aliased_*: [per-seed aliased first-layer filters]; shift_*: [per-seed layer-2
    relative change under 1-pixel shifts].
    core: the small first layer's test error is lower, beyond the spread (ACCURACY_FLOOR);
    others: no more dead filters; no more aliased filters; less layer-2 shift
    variance, beyond the spread (SHIFT_VARIANCE_FLOOR).
    """
    core = check("the smaller first layer gives a lower test error",
                 compare(error_large, error_small, ACCURACY_FLOOR) > 0,
                 f"top-1 error {_pm(error_small)} (small) against {_pm(error_large)} (large)")
    dead = check("no more dead filters", mean(dead_small) <= mean(dead_large),
                 f"dead filters in layers 1-2: {_pm(dead_small, digits=1)} (small) against "
                 f"{_pm(dead_large, digits=1)} (large)")
    aliased = check("no more aliased first-layer filters", mean(aliased_small) <= mean(aliased_large),
                    f"aliased filters: {_pm(aliased_small, digits=1)} (small) against "
                    f"{_pm(aliased_large, digits=1)} (large)")
    shift = check("less aliasing in layer 2", compare(shift_large, shift_small, SHIFT_VARIANCE_FLOOR) > 0,
                  f"layer-2 change under 1-pixel shifts {_pm(shift_small)} (small) against {_pm(shift_large)} (large)")
    return decide(core, [dead, aliased, shift])


def occlusion_verdict(drop_object, drop_background, activity_projection, activity_elsewhere):
    """Claim 5 (Fig. 7). Per-seed means over images.

    drop_object, drop_background: fall of p(true class) when the square lies on the
    object / on the background; activity_projection, activity_elsewhere: relative fall
    of the top map's summed activity when the square covers most of its deconvnet
    projection / the least of it.
    core: drop_object >= FAR_MORE_RATIO x drop_background, and larger beyond the spread (PROBABILITY_FLOOR);
    other: activity_projection > activity_elsewhere beyond the spread (ACTIVITY_FLOOR).
    """
    ratio_ok = mean(drop_object) >= FAR_MORE_RATIO * max(mean(drop_background), 0.0)
    core = check("covering the object lowers p(true) far more than covering the background",
                 ratio_ok and compare(drop_object, drop_background, PROBABILITY_FLOOR) > 0,
                 f"drop on the object {_pm(drop_object)}, on the background {_pm(drop_background)} "
                 f"(needs {FAR_MORE_RATIO:g}x and more than the spread)")
    projection = check("covering a top map's projection lowers that map",
                       compare(activity_projection, activity_elsewhere, ACTIVITY_FLOOR) > 0,
                       f"relative activity drop over its projection {_pm(activity_projection)}, "
                       f"elsewhere {_pm(activity_elsewhere)}")
    return decide(core, [projection])


def ablation_verdict(errors):
    """Claim 6 (Tables 2-3). errors: {variant: [per-seed top-1 test error]} with the variants
    "full", "no_fc" (layers 6, 7 removed), "no_mid_conv" (3, 4), "no_fc_no_mid_conv" (both),
    "layer1_only" (2-5 removed).

    core: removing both costs more than removing either, beyond the spread (ACCURACY_FLOOR);
    others: removing 6-7 costs at most LITTLE_COST; removing 3-4 too; depth matters:
    layer 1 alone is worse than the full model beyond the spread and no variant
    beats the full model beyond it.
    """
    full = errors["full"]
    cost = {name: mean(errors[name]) - mean(full) for name in errors}
    core = check("removing both the FC and the middle conv layers costs most",
                 compare(errors["no_fc_no_mid_conv"], errors["no_fc"], ACCURACY_FLOOR) > 0
                 and compare(errors["no_fc_no_mid_conv"], errors["no_mid_conv"], ACCURACY_FLOOR) > 0,
                 f"top-1 error: both removed {_pm(errors['no_fc_no_mid_conv'])}, FC removed {_pm(errors['no_fc'])}, "
                 f"middle conv removed {_pm(errors['no_mid_conv'])}")
    fc = check("removing the FC layers 6-7 costs little", cost["no_fc"] <= LITTLE_COST,
               f"cost {cost['no_fc'] * 100:+.1f} points (at most {LITTLE_COST * 100:.0f})")
    mid = check("removing the middle conv layers 3-4 costs little", cost["no_mid_conv"] <= LITTLE_COST,
                f"cost {cost['no_mid_conv'] * 100:+.1f} points (at most {LITTLE_COST * 100:.0f})")
    beaten = [name for name in errors if name != "full" and compare(errors[name], full, ACCURACY_FLOOR) < 0]
    depth = check("depth matters", compare(errors["layer1_only"], full, ACCURACY_FLOOR) > 0 and not beaten,
                  f"layer 1 only {_pm(errors['layer1_only'])} against the full model {_pm(full)}"
                  + (f"; beaten by {', '.join(beaten)}" if beaten else "; no variant beats the full model"))
    return decide(core, [fc, mid, depth])


def discriminability_verdict(accuracy, first=1, top=7):
    """Claim 7 (Table 7). accuracy: {layer: [per-seed softmax test accuracy]} on frozen features.

    core: the top layer beats layer 1 beyond the spread (ACCURACY_FLOOR);
    others: accuracy rises with depth (TREND_MIN); no layer beats the top beyond the spread.
    """
    accuracy = _by_number(accuracy)
    core = check("a softmax on the top layer beats one on layer 1",
                 compare(accuracy[top], accuracy[first], ACCURACY_FLOOR) > 0,
                 f"layer {top} {_pm(accuracy[top])}, layer {first} {_pm(accuracy[first])}")
    better = [layer for layer in accuracy if layer != top
              and compare(accuracy[layer], accuracy[top], ACCURACY_FLOOR) > 0]
    best = check("best at the top", not better,
                 "no layer beats the top" if not better else
                 "beaten by layer " + ", ".join(f"{layer} ({_pm(accuracy[layer])})" for layer in better))
    return decide(core, [_rises(accuracy, "accuracy"), best])


def transfer_verdict(transfer, scratch):
    """Claim 8 (section 5.2). transfer, scratch: {images per class: [per-seed test accuracy]}.

    core: at the fewest images per class the pretrained features beat training
    from scratch beyond the spread (ACCURACY_FLOOR);
    others: they do at every number of images; the gap (transfer - scratch)
    widens as the images per class shrink: Spearman rho of (images, gap) <= -TREND_MIN.
    """
    transfer, scratch = _by_number(transfer), _by_number(scratch)
    shots = sorted(transfer)
    fewest = shots[0]
    wins = {n: compare(transfer[n], scratch[n], ACCURACY_FLOOR) for n in shots}
    core = check("pretrained features beat training from scratch on few images", wins[fewest] > 0,
                 f"{fewest} per class: transfer {_pm(transfer[fewest])}, scratch {_pm(scratch[fewest])}")
    said = {1: "beyond the spread", 0: "within the spread", -1: "scratch better beyond the spread"}
    everywhere = check("at every number of images", all(w > 0 for w in wins.values()),
                       "; ".join(f"{n} per class: {(mean(transfer[n]) - mean(scratch[n])) * 100:+.1f} points, "
                                 f"{said[wins[n]]}" for n in shots))
    gaps = [mean(transfer[n]) - mean(scratch[n]) for n in shots]
    rho = rank_correlation(shots, gaps) if len(shots) > 1 else 0.0
    widens = check("the gap widens as the images per class shrink", rho <= -TREND_MIN,
                   f"Spearman rho of (images per class, gap) {rho:.2f} (needs <= -{TREND_MIN})")
    return decide(core, [everywhere, widens])


def clean_number(value):
    """A JSON-safe number: NaN and infinities become None (claims.json is strict JSON)."""
    if isinstance(value, (float, numpy.floating)) and not math.isfinite(float(value)):
        return None
    if isinstance(value, numpy.generic):
        return value.item()
    return value
