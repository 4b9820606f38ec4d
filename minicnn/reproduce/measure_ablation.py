"""Claim 6 (ZFNet section 5.1, Tables 2-3): removing layers, retraining: depth matters more than any layer.

zfnet_small (the main runs) and four variants (networks.ABLATIONS), each
built by minicnn.visualize.rebuild and trained from scratch exactly as the
full model (same data, optimizer, schedule and convergence rule, same
seeds): layers 6-7 removed; the middle convolutions 3-4 removed; both; and
layers 2-5 removed, the depth question put directly. The numbers are each
run's top-1 test error and its parameter count.
"""

from . import networks, runs
from .figures import seed_bars
from .verdicts import ablation_verdict

CLAIM = 6


def spec(context, variant, seed):
    if variant == "full":
        return runs.main_run(context.budget, seed)
    return runs.variant_run(context.budget, seed, f"ablation-{variant.replace('_', '-')}",
                            remove=networks.ABLATIONS[variant])


def plan(context):
    return [spec(context, variant, seed) for seed in context.seeds for variant in networks.ABLATIONS]


def measure(context):
    folder = context.claim_folder(CLAIM)
    errors = {variant: [] for variant in networks.ABLATIONS}
    epochs = {variant: [] for variant in networks.ABLATIONS}
    parameters = {}
    for seed in context.seeds:
        for variant in networks.ABLATIONS:
            run = spec(context, variant, seed)
            record = context.record(run)
            errors[variant].append(1.0 - record["test_accuracy"])
            epochs[variant].append(record["epochs"])
            if variant not in parameters:
                parameters[variant] = int(sum(p.size for p in networks.build(run.network, 10).parameters()))
    verdict = ablation_verdict(errors)
    bars = seed_bars(folder / "ablation.png",
                     {f"{networks.ABLATION_NAMES[v]}\n{parameters[v]:,} params": errors[v] for v in errors},
                     "top-1 test error", "Ablation, each variant retrained (ZFNet Tables 2-3 in kind)")
    return {
        "numbers": {"top1_error": errors, "epochs": epochs, "parameters": parameters,
                    "names": networks.ABLATION_NAMES, "removed": networks.ABLATIONS},
        "verdict": verdict,
        "figures": [context.relative(bars)],
        "runs": [context.run_folder(run) for run in plan(context)],
    }
