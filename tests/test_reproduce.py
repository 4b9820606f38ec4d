"""minicnn.reproduce: the verdict logic on made-up numbers, the quick budget end to end, resuming.

- every claim's verdict function gives "holds", "partly" and "differs" on
  numbers made up to give each, and the spread rule decides: a difference
  inside the spread over the seeds is no evidence;
- the quick budget, every claim, on the embedded Fashion-MNIST sample:
  claims.json has every claim with a valid verdict, its numbers, seeds and
  runs (folders that hold a finished run); index.html names every claim;
  every figure exists;
- resuming: a reproduction stopped after some epochs (the test hook
  ``stop_after_epochs``) continues from its checkpoints: the finished run is
  not trained again (its files untouched), the interrupted one keeps its
  first epoch; a third call trains and measures nothing.
"""

import argparse
import json
import os
import subprocess
import sys

import pytest

import minicnn as mc
from minicnn.data.sources import EMBEDDED_DIRS
from minicnn.reproduce import budgets, claims, networks, runs, verdicts
from minicnn.reproduce.cli import add_parser, command
from minicnn.reproduce.zfnet import parse_claims, reproduce
from minicnn.reproduce.verdicts import DIFFERS, HOLDS, PARTLY
from minicnn.training import load_checkpoint

EMBEDDED = str(EMBEDDED_DIRS["fashion-mnist"])
FAST_BACKEND = "numba" if mc.backends()["numba"][0] else "numpy"


# ----- the spread rule ------------------------------------------------------------------
def test_compare_needs_a_difference_larger_than_the_spread():
    assert verdicts.compare([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], 0.002) == 1
    assert verdicts.compare([0.80, 0.81, 0.82], [0.90, 0.91, 0.92], 0.002) == -1
    # means 0.05 apart, but one group's seeds span 0.2: within the spread
    assert verdicts.compare([0.80, 0.90, 1.00], [0.85, 0.85, 0.85], 0.002) == 0
    # one seed has no spread: the floor stands in for it
    assert verdicts.compare([0.901], [0.900], 0.002) == 0
    assert verdicts.compare([0.91], [0.90], 0.002) == 1
    assert verdicts.spread([0.3, 0.5, 0.4]) == pytest.approx(0.2)
    assert verdicts.spread(0.7) == 0


def test_rank_correlation_and_decide():
    assert verdicts.rank_correlation([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.9]) == pytest.approx(1.0)
    assert verdicts.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert verdicts.rank_correlation([1, 2, 3], [5, 5, 5]) == 0.0
    yes, no = verdicts.check("a", True, "x"), verdicts.check("b", False, "y")
    assert verdicts.decide(yes, [yes])["verdict"] == HOLDS
    assert verdicts.decide(yes, [no])["verdict"] == PARTLY
    assert verdicts.decide(no, [yes, yes])["verdict"] == PARTLY
    assert verdicts.decide(no, [yes, no])["verdict"] == DIFFERS
    assert verdicts.decide(no, [])["verdict"] == PARTLY          # nothing else to fail: only the core did
    assert "b (y)" in verdicts.decide(yes, [no])["reason"]


# ----- every claim, every verdict, on made-up numbers ---------------------------------------
RISING = {1: [0.3, 0.32], 2: [0.4, 0.41], 3: [0.5, 0.52], 4: [0.6, 0.6], 5: [0.8, 0.82]}

MADE_UP = {
    # claim 1: purity by layer
    "top9": (verdicts.top9_verdict, [
        (HOLDS, (RISING,)),
        (PARTLY, ({1: [0.3], 2: [0.9], 3: [0.5], 4: [0.4], 5: [0.6]},)),               # top > first, no trend
        (PARTLY, ({1: [0.3, 0.5], 2: [0.35, 0.5], 3: [0.36, 0.52], 4: [0.38, 0.53], 5: [0.42, 0.55]},)),  # spread
        (DIFFERS, ({1: [0.8], 2: [0.6], 3: [0.5], 4: [0.4], 5: [0.3]},)),
    ]),
    # claim 2: settle epochs by layer, epochs trained
    "evolution": (verdicts.evolution_verdict, [
        (HOLDS, ({1: [1, 1, 2], 2: [2, 3, 3], 3: [4, 5, 5], 4: [8, 9, 9], 5: [12, 13, 14]}, [20, 20, 20])),
        (PARTLY, ({1: [8], 2: [9], 3: [10], 4: [12], 5: [15]}, [20])),                  # layer 1 settles late
        (PARTLY, ({1: [1, 5], 2: [2, 5], 3: [3, 5], 4: [4, 6], 5: [4, 7]}, [20, 20])),   # later, within the spread
        (DIFFERS, ({1: [10], 2: [8], 3: [5], 4: [3], 5: [2]}, [20])),
    ]),
    # claim 3: relative change of layer 1 and the top layer; p(true) kept
    "invariance": (verdicts.invariance_verdict, [
        (HOLDS, ({t: [0.6, 0.62] for t in ("translate", "scale", "rotate")},
                 {t: [0.2, 0.22] for t in ("translate", "scale", "rotate")},
                 {"translate": [0.95], "scale": [0.9], "rotate": [0.4]})),
        (PARTLY, ({t: [0.6] for t in ("translate", "scale", "rotate")},
                  {t: [0.2] for t in ("translate", "scale", "rotate")},
                  {"translate": [0.95], "scale": [0.9], "rotate": [0.9]})),             # rotation stable too
        (DIFFERS, ({t: [0.2] for t in ("translate", "scale", "rotate")},
                   {t: [0.6] for t in ("translate", "scale", "rotate")},
                   {"translate": [0.5], "scale": [0.9], "rotate": [0.4]})),
    ]),
    # claim 4: small against large first layer
    "architecture": (verdicts.architecture_verdict, [
        (HOLDS, ([0.08, 0.085, 0.082], [0.11, 0.112, 0.115], [0, 0, 1], [3, 4, 2], [0, 0, 0], [5, 6, 4],
                 [0.02, 0.025, 0.022], [0.1, 0.12, 0.11])),
        (PARTLY, ([0.08, 0.10, 0.09], [0.095, 0.097, 0.096], [0, 0, 0], [1, 1, 1], [0, 0, 0], [3, 3, 3],
                  [0.02, 0.02, 0.02], [0.1, 0.1, 0.1])),                                  # error gap < spread
        (DIFFERS, ([0.12], [0.09], [5], [1], [0], [0], [0.02], [0.1])),
    ]),
    # claim 5: p drops on object / background, activity drops over the projection / elsewhere
    "occlusion": (verdicts.occlusion_verdict, [
        (HOLDS, ([0.4, 0.45], [0.05, 0.06], [0.5, 0.55], [0.05, 0.1])),
        (PARTLY, ([0.2], [0.15], [0.5], [0.05])),                                         # not twice as much
        (DIFFERS, ([0.1], [0.12], [0.05], [0.1])),
    ]),
    # claim 6: top-1 errors of the variants
    "ablation": (verdicts.ablation_verdict, [
        (HOLDS, ({"full": [0.09, 0.092, 0.091], "no_fc": [0.1, 0.102, 0.101], "no_mid_conv": [0.105, 0.107, 0.106],
                  "no_fc_no_mid_conv": [0.15, 0.152, 0.151], "layer1_only": [0.14, 0.142, 0.141]},)),
        (PARTLY, ({"full": [0.09], "no_fc": [0.14], "no_mid_conv": [0.1], "no_fc_no_mid_conv": [0.2],
                   "layer1_only": [0.15]},)),                                              # FC cost 5 points
        (DIFFERS, ({"full": [0.262], "no_fc": [0.2], "no_mid_conv": [0.21], "no_fc_no_mid_conv": [0.2],
                    "layer1_only": [0.196]},)),                                            # tutorial 11's budget
    ]),
    # claim 7: softmax accuracy by layer
    "discriminability": (verdicts.discriminability_verdict, [
        (HOLDS, ({1: [0.6, 0.62], 2: [0.65, 0.66], 3: [0.7, 0.71], 4: [0.74, 0.75], 5: [0.78, 0.79],
                  6: [0.8, 0.81], 7: [0.83, 0.84]},)),
        (PARTLY, ({1: [0.6, 0.62], 2: [0.65, 0.66], 3: [0.7, 0.71], 4: [0.74, 0.75], 5: [0.78, 0.79],
                   6: [0.86, 0.87], 7: [0.80, 0.81]},)),                                  # dips at the top
        (DIFFERS, ({1: [0.8], 2: [0.78], 3: [0.75], 4: [0.7], 5: [0.65], 6: [0.6], 7: [0.55]},)),
    ]),
    # claim 8: transfer and scratch accuracy by images per class
    "transfer": (verdicts.transfer_verdict, [
        (HOLDS, ({1: [0.6, 0.62], 5: [0.75, 0.76], 20: [0.85, 0.86]},
                 {1: [0.3, 0.32], 5: [0.6, 0.62], 20: [0.82, 0.83]})),
        (PARTLY, ({1: [0.6], 5: [0.7], 20: [0.9]}, {1: [0.5], 5: [0.55], 20: [0.6]})),     # gap grows with n
        (DIFFERS, ({1: [0.3], 5: [0.5]}, {1: [0.4], 5: [0.6]})),
    ]),
}


@pytest.mark.parametrize("claim", list(MADE_UP))
def test_each_verdict_function_gives_every_verdict(claim):
    function, cases = MADE_UP[claim]
    assert {expected for expected, _ in cases} == {HOLDS, PARTLY, DIFFERS}
    for expected, arguments in cases:
        result = function(*arguments)
        assert result["verdict"] == expected, (claim, expected, result["reason"])
        assert result["reason"] and all(set(c) == {"name", "passed", "detail"} for c in result["checks"])
        assert (result["verdict"] == HOLDS) == all(c["passed"] for c in result["checks"])


def test_verdicts_read_layers_as_json_gives_them():
    """claims.json writes layer keys as strings; the verdicts read them either way."""
    as_json = json.loads(json.dumps(RISING))
    assert verdicts.top9_verdict(as_json, 1, 5)["verdict"] == verdicts.top9_verdict(RISING, 1, 5)["verdict"] == HOLDS


def test_every_claim_has_a_verdict_function_and_a_measurement():
    from minicnn.reproduce.zfnet import MEASURES
    assert [claim.id for claim in claims.CLAIMS] == list(range(1, 9)) == sorted(MEASURES)
    for claim in claims.CLAIMS:
        assert callable(getattr(verdicts, claim.verdict))
        assert MEASURES[claim.id].CLAIM == claim.id
        assert "ZFNet" in claim.section and claim.statement and claim.measured


# ----- the controlled comparisons ("why") on made-up numbers ---------------------------------
def test_claim_6_why_says_the_fc_layers_carry_nothing_only_when_the_numbers_show_it():
    from minicnn.reproduce.measure_ablation import why_lines
    errors = {"full": [0.083, 0.081, 0.082], "no_fc": [0.082, 0.081, 0.082], "no_mid_conv": [0.095, 0.094, 0.096],
              "no_fc_no_mid_conv": [0.089, 0.090, 0.089], "layer1_only": [0.10, 0.101, 0.102]}
    cost = {"with layers 3-4": [0.0, 0.001, -0.001], "without layers 3-4": [-0.006, -0.004, -0.007]}
    lines = why_lines(errors, cost, {5: [0.91, 0.912, 0.913], 7: [0.912, 0.911, 0.913]})
    assert "+0.00 points" in lines[0] and "-0.57 points" in lines[1] and "layer-5 features scores 0.912" in lines[2]
    assert len(lines) == 4 and "carry nothing the convolutions lack" in lines[3]
    costly = {"with layers 3-4": [0.02, 0.021, 0.019], "without layers 3-4": [0.03, 0.031, 0.029]}
    assert len(why_lines(errors, costly, {5: [0.91], 7: [0.912]})) == 3          # the FC layers cost: no such line
    compensated = why_lines(errors, cost, {5: [0.85], 7: [0.91]})               # layer 7 more separable
    assert len(compensated) == 4 and "the convolutions take over their work" in compensated[3]
    assert "trained without them scores 0.918" in compensated[3]


def test_claim_7_why_names_the_specialists_only_when_only_the_pretraining_classes_rise():
    from minicnn.reproduce.measure_discriminability import why_lines
    rising = {layer: [0.8 + 0.02 * layer, 0.81 + 0.02 * layer] for layer in range(1, 8)}
    falling = {layer: [0.9 - 0.02 * layer, 0.91 - 0.02 * layer] for layer in range(1, 8)}
    pixels = {"new classes": [0.84, 0.85], "pretraining classes": [0.7, 0.72]}
    lines = why_lines({"new classes": falling, "pretraining classes": rising}, pixels, ["A", "B"])
    assert lines[0].startswith("new classes: layer 1 0.885") and "verdict on them: differs" in lines[0]
    assert "verdict on them: holds" in lines[1] and "specialists in the classes they were pretrained on (A, B)" in lines[2]
    assert len(why_lines({"new classes": rising, "pretraining classes": rising}, pixels, ["A"])) == 2


def test_claim_8_why_finds_the_layers_that_transfer_says_when_none_does_and_reads_the_control():
    from minicnn.reproduce.measure_transfer import LAYERS, why_lines
    scratch = {1: [0.6, 0.62], 10: [0.85, 0.86]}
    pixels = {1: [0.5, 0.52], 10: [0.7, 0.71]}
    wins = {"transfer": {1: [0.8, 0.81], 10: [0.9, 0.91]}, "scratch": {1: [0.4, 0.42], 10: [0.85, 0.86]}}
    loses = {"transfer": {1: [0.3, 0.31], 10: [0.5, 0.51]}, "scratch": {1: [0.4, 0.42], 10: [0.85, 0.86]}}
    lower = {layer: {1: [0.7, 0.71] if layer <= 3 else [0.4, 0.41], 10: [0.8, 0.81]} for layer in LAYERS}
    lines = why_lines(lower, pixels, scratch, wins)
    assert "beating scratch beyond the spread: layer 1, layer 2, layer 3" in lines[0]
    assert "beating scratch beyond the spread: no layer" in lines[1]
    assert "layer(s) 1, 2, 3 beat training from scratch and layer 7's do not" in lines[2]
    assert "1 per class: transfer 0.805" in lines[3] and lines[3].endswith("verdict there: holds")
    assert "what the pretrained features cover decides" in lines[4] and len(lines) == 5
    assert len(why_lines(lower, pixels, scratch, loses)) == 4                 # the control fails too: no such line
    none = {layer: {1: [0.4, 0.41], 10: [0.8, 0.81]} for layer in LAYERS}
    assert "no layer's features beat training from scratch at 1 per class" in why_lines(none, pixels, scratch, loses)[2]
    everywhere = {layer: {1: [0.9, 0.91], 10: [0.95, 0.96]} for layer in LAYERS}
    assert len(why_lines(everywhere, pixels, scratch, wins)) == 3             # transfer wins: nothing to explain


def test_the_page_shows_the_controlled_comparisons_of_a_claim_that_does_not_hold():
    from minicnn.reproduce import page
    claim = {"id": 6, "title": "t", "section": "ZFNet", "statement": "s", "measured": "m", "verdict": PARTLY,
             "reason": "r", "checks": [{"name": "c", "passed": False, "detail": "d"}], "evidence": ["c: d"],
             "why": ["removing layers 6-7 changes <nothing>"], "figures": [], "runs": [], "seeds": [0],
             "tutorial": "tutorials/11", "numbers": {}, "budget": "full"}
    text = page.section(claim)
    assert "Why: controlled comparisons" in text and "changes &lt;nothing&gt;" in text
    assert "Why: controlled" not in page.section({**claim, "why": []})


# ----- the pieces: convergence, networks, the command line ---------------------------------
def history(accuracies, lrs):
    return [{"val_accuracy": a, "lr": lr} for a, lr in zip(accuracies, lrs)]


def test_converged_needs_a_lowered_lr_and_a_flat_validation_accuracy():
    flat = [0.80, 0.85, 0.870, 0.871, 0.8705]
    assert runs.converged(history(flat, [0.01, 0.01, 0.001, 0.001, 0.001]))
    assert not runs.converged(history(flat, [0.01] * 5))                                  # never lowered
    assert not runs.converged(history([0.80, 0.85, 0.86, 0.87, 0.875], [0.01, 0.01, 0.001, 0.001, 0.001]))
    assert not runs.converged(history(flat[:2], [0.01, 0.001]))                          # too short
    assert not runs.converged(history([0.8, None, 0.8, 0.8], [0.01, 0.001, 0.001, 0.001]))


def test_training_stops_once_converged():
    class State:
        stop = False
        history = history([0.8, 0.85, 0.870, 0.871, 0.8705], [0.01, 0.01, 0.001, 0.001, 0.001])
    state = State()
    runs.StopWhenConverged().on_epoch_end(state, 4, {})
    assert state.stop
    spec = runs.main_run(budgets.FULL, 0)
    assert runs.finished(State.history, spec) and not runs.finished(State.history[:3], spec)
    quick = runs.main_run(budgets.QUICK, 0)
    assert not quick.converge and runs.finished(State.history[:2], quick)           # quick: its epochs, no more


def test_the_full_budget_plans_every_run_once(tmp_path):
    from minicnn.reproduce.context import Context
    from minicnn.reproduce.zfnet import MEASURES
    context = Context(tmp_path, budgets.FULL, [0, 1, 2], progress=False)
    specs = []
    for claim in sorted(MEASURES):
        specs += [spec for spec in MEASURES[claim].plan(context) if spec not in specs]
    names = [spec.name for spec in specs]
    # main, 9x9 first layer, 4 ablation variants, pretraining, the few-image runs, claim 8's control
    from minicnn.reproduce.measure_transfer import control_shots
    assert control_shots(budgets.FULL) == (1, 10, 50) and control_shots(budgets.QUICK) == (2, 10)
    assert len(names) == len(set(names)) == 3 * (1 + 1 + 4 + 1 + len(budgets.FULL.transfer_shots) + 3)
    assert sum(name.startswith("scratch-old-classes-") for name in names) == 9
    assert all(spec.classes == runs.OLD_CLASSES for spec in specs if spec.name.startswith("scratch-old-classes-"))
    for spec in specs:
        assert spec.data == {"path": None, "train_limit": None, "test_limit": None}
        if spec.per_class is None:
            assert spec.converge and spec.epochs == budgets.FULL.max_epochs and spec.network["width"] == 2
        else:                                  # few images from scratch: the budget's steps, in whole epochs
            steps_per_epoch = -(-spec.per_class * 5 * spec.repeat // spec.batch_size)
            steps = spec.epochs * steps_per_epoch
            assert budgets.FULL.scratch_steps <= steps < budgets.FULL.scratch_steps + steps_per_epoch
            assert spec.per_class * 5 * spec.repeat >= runs.SCRATCH_EPOCH_IMAGES


def test_the_networks_fit_and_their_layers_are_where_the_tables_say():
    mc.manual_seed(0)
    for variant, removed in networks.ABLATIONS.items():
        description = networks.describe(1, removed)
        model = networks.build(description, 10)
        assert model.output_shape(networks.INPUT_SHAPE) == (10,)
        outputs = networks.layer_outputs(description)
        assert len(outputs) == 7 - {"full": 0, "no_fc": 2, "no_mid_conv": 2, "no_fc_no_mid_conv": 4,
                                    "layer1_only": 3}[variant]
        for layer, index in outputs.items():
            name = type(model[index]).__name__
            assert name == {1: "LocalResponseNorm", 2: "LocalResponseNorm", 5: "MaxPool2d"}.get(layer, "ReLU")
    large = networks.build(networks.describe(1, first_layer=networks.FIRST_LAYERS["large"]), 10)
    assert large[0].kernel_size == (9, 9) and large[0].stride == (2, 2)
    assert large.output_shape(networks.INPUT_SHAPE) == (10,)
    assert large[0].output_shape(networks.INPUT_SHAPE)[1:] == (14, 14)


def test_small_transforms_move_the_image_edge_by_at_most_about_four_pixels():
    """Claim 3's small transforms: shifts up to 4 pixels, scalings 0.8-1.25, turns within 15
    degrees (never the identity, 360 degrees included)."""
    from minicnn.reproduce.measure_invariance import ROTATION_AMOUNTS, small
    import numpy
    turns = ROTATION_AMOUNTS[small("rotate", ROTATION_AMOUNTS)]
    assert turns.tolist() == [5, 10, 15, 345, 350, 355]
    shifts = numpy.arange(-8, 9, 2)
    assert shifts[small("translate", shifts)].tolist() == [-4, -2, 2, 4]
    scales = numpy.linspace(0.6, 1.6, 11)
    assert numpy.allclose(scales[small("scale", scales)], [0.8, 0.9, 1.1, 1.2])
    # a turn of 15 degrees moves the edge (14 pixels from the centre) about as far as 4-pixel shifts
    assert 3.5 < 2 * 14 * numpy.sin(numpy.radians(7.5)) < 4.0


def test_claims_are_parsed_and_bad_ones_refused():
    assert parse_claims(None) == list(range(1, 9)) == parse_claims("all")
    assert parse_claims("7, 1,3,3") == [1, 3, 7]
    for bad in ("0", "9", "1,x", ""):
        with pytest.raises(runs.ReproduceError, match="--claims"):
            parse_claims(bad)


def test_the_lead_can_wire_it_into_the_minicnn_command(tmp_path):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", default=None)
    parser = argparse.ArgumentParser(prog="minicnn")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands, [common])
    args = parser.parse_args(["reproduce", "zfnet", "--out", str(tmp_path), "--claims", "4", "--seeds", "2",
                              "--budget", "full", "--quiet"])
    assert args.run is command and args.paper == "zfnet" and args.budget == "full" and args.seeds == 2


def test_python_dash_m_refuses_a_bad_claim_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minicnn.reproduce", "zfnet", "--out", str(tmp_path / "r"),
                             "--claims", "12"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--claims" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


# ----- the quick budget, end to end ------------------------------------------------------------
@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """Every claim at the quick budget on the embedded sample: (out folder, claims.json)."""
    out = tmp_path_factory.mktemp("reproduce") / "quick"
    with mc.using_backend(FAST_BACKEND):
        document = reproduce(out, budget="quick", data_path=EMBEDDED, progress=False)
    return out, document


def test_the_quick_budget_writes_every_claim_with_its_verdict_numbers_seeds_and_runs(quick):
    out, document = quick
    on_disk = json.loads((out / "claims.json").read_text())
    assert on_disk == document
    assert on_disk["budget"]["name"] == "quick" and on_disk["machine"]["backend"]
    assert list(on_disk["claims"]) == [str(claim.id) for claim in claims.CLAIMS]
    for claim in claims.CLAIMS:
        entry = on_disk["claims"][str(claim.id)]
        assert entry["id"] == claim.id and entry["title"] == claim.title and entry["statement"] == claim.statement
        assert entry["verdict"] in verdicts.VERDICTS and entry["reason"]
        assert entry["checks"] and all(isinstance(check["passed"], bool) for check in entry["checks"])
        assert (entry["evidence"] == []) == (entry["verdict"] == HOLDS)
        assert entry["numbers"] and entry["seeds"] == [0] and entry["budget"] == "quick"
        assert entry["runs"], claim.id
        for run in entry["runs"]:
            done = json.loads((out / run / "done.json").read_text())
            assert (out / run / "checkpoint.npz").is_file() and 0 <= done["test_accuracy"] <= 1
            assert done["epochs"] == done["spec"]["epochs"]          # quick: no early stop
        assert entry["figures"]
        for figure in entry["figures"]:
            assert (out / figure).is_file() and (out / figure).read_bytes()[:4] == b"\x89PNG"


def test_the_quick_budget_page_names_every_claim_and_shows_its_figures(quick):
    out, document = quick
    page = (out / "index.html").read_text()
    for claim in claims.CLAIMS:
        entry = document["claims"][str(claim.id)]
        assert f'id="claim{claim.id}"' in page and claim.title.replace("'", "&#x27;") in page
        assert all(f'src="{figure}"' in page for figure in entry["figures"])
    assert page.count('class="verdict"') >= 2 * len(claims.CLAIMS)


def test_the_main_run_kept_every_epoch_for_the_evolution(quick):
    out, _ = quick
    kept = sorted(path.name for path in (out / "runs" / "main-seed0" / "epochs").iterdir())
    assert kept == [f"epoch_{epoch:03d}.npz" for epoch in range(budgets.QUICK.max_epochs + 1)]


# ----- resuming --------------------------------------------------------------------------------
def test_a_stopped_reproduction_resumes_from_its_checkpoints(tmp_path):
    out = tmp_path / "resume"
    main, large = out / "runs" / "main-seed0", out / "runs" / "first-layer-9x9-stride2-seed0"
    with mc.using_backend(FAST_BACKEND):
        # claim 4 trains two runs of 2 epochs: stop after the third epoch, the first of the second run
        with pytest.raises(KeyboardInterrupt):
            reproduce(out, "quick", claims="4", data_path=EMBEDDED, progress=False, stop_after_epochs=3)
        assert (main / "done.json").is_file() and not (large / "done.json").exists()
        assert not (out / "claims.json").exists()
        first_epoch = json.loads(json.dumps(load_checkpoint(large / "checkpoint.npz").history().records))
        assert len(first_epoch) == 1
        untouched = {path: os.stat(path).st_mtime_ns for path in
                     [main / "checkpoint.npz", main / "done.json", *sorted((main / "epochs").iterdir())]}

        document = reproduce(out, "quick", claims="4", data_path=EMBEDDED, progress=False)
        assert {path: os.stat(path).st_mtime_ns for path in untouched} == untouched     # not trained again
        done = json.loads((large / "done.json").read_text())
        assert done["epochs"] == 2 and done["history"][0] == first_epoch[0]            # epoch 1 kept, not redone
        assert list(document["claims"]) == ["4"] and document["claims"]["4"]["verdict"] in verdicts.VERDICTS

        files = [main / "checkpoint.npz", large / "checkpoint.npz", out / "claim4" / "result.json"]
        before = {path: os.stat(path).st_mtime_ns for path in files}
        (out / "claims.json").unlink()                                                  # lost: written again
        again = reproduce(out, "quick", claims="4", data_path=EMBEDDED, progress=False)
        assert {path: os.stat(path).st_mtime_ns for path in files} == before             # nothing retrained
        assert again["claims"]["4"]["verdict"] == document["claims"]["4"]["verdict"]
        assert (out / "claims.json").is_file() and (out / "index.html").is_file()


def test_a_folder_of_another_budget_is_refused(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "claims.json").write_text(json.dumps({"budget": {"name": "full"}, "claims": {}}))
    with pytest.raises(runs.ReproduceError, match="full budget"):
        reproduce(out, "quick", claims="6", data_path=EMBEDDED, progress=False)
    assert sorted(path.name for path in out.iterdir()) == ["claims.json"]


def test_the_code_fingerprints_are_taken_before_any_training(tmp_path, monkeypatch):
    """A file edited while runs train must not label the results of the code already loaded."""
    from minicnn.reproduce import zfnet
    from minicnn.reproduce.context import Context
    events = []
    real_fingerprint, real_train = zfnet.code_fingerprint, Context.train
    monkeypatch.setattr(zfnet, "code_fingerprint", lambda module: events.append("fingerprint") or real_fingerprint(module))
    monkeypatch.setattr(Context, "train", lambda self, spec: events.append("train") or real_train(self, spec))
    with mc.using_backend(FAST_BACKEND):
        reproduce(tmp_path / "out", budget="quick", claims="1", data_path=EMBEDDED, progress=False)
    assert events.index("train") > events.index("fingerprint") and events.count("fingerprint") == 1
    assert "fingerprint" not in events[events.index("train"):]
