"""ZFNet's findings at convergence: one command tests each claim and gives a verdict.

    python -m minicnn.reproduce zfnet --out repro [--budget quick|full] [--claims 1,3,7] [--seeds N]
    from minicnn.reproduce import reproduce; reproduce("repro", budget="quick")

It trains what the claims need on Fashion-MNIST (resumable), measures each
claim with minicnn.visualize and minicnn.training, decides holds / partly /
differs by rules written as code, and writes DIR/claims.json and
DIR/index.html. One concern per module:

    claims.py       the eight claims: the paper's statement, its section, what is measured
    verdicts.py     the verdicts: pure functions of numbers, thresholds as named constants
    budgets.py      quick (CI, minutes) and full (at convergence, hours): every size, the time estimate
    networks.py     zfnet_small and its variants, and where ZFNet's layers 1-7 are in them
    runs.py         what to train: a folder per run, skipped when done, resumed when killed
    context.py      what the measurements share (folders, budget, seeds, trained runs)
    measure_top9.py, measure_evolution.py, measure_invariance.py, measure_architecture.py,
    measure_occlusion.py, measure_ablation.py, measure_discriminability.py, measure_transfer.py
                    one per claim (1 to 8): plan(context) -> the runs; measure(context) -> numbers,
                    figures, verdict
    figures.py      the two charts of its own (bars and lines with a dot per seed)
    page.py         DIR/index.html
    zfnet.py        reproduce(): runs, measurements, claims.json, the page
    cli.py          the command line (add_parser, command) and __main__.py
"""



def reproduce(out, budget="quick", claims=None, seeds=None, data_path=None, progress=True):
    """minicnn.reproduce.zfnet.reproduce, imported when called: ``minicnn --help`` stays light."""
    from .zfnet import reproduce as run
    return run(out, budget, claims, seeds, data_path, progress)


__all__ = ["reproduce"]
