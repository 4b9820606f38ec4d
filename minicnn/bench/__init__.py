"""Benchmarks: minicnn's backends against each other and against PyTorch.

    python benchmarks/run.py --quick                 # a smoke test, under a minute
    python benchmarks/run.py                         # ops, models and scaling, every backend here
    minicnn bench --suite ops --backends numba,torch --out benchmarks/results/mine

Every figure is checked before it is timed (the result must match minicnn's
NumPy reference), measured the same way (timing.py), and written with the
machine it came from (machine.py). Read the modules in this order:

    flops.py          how much work each case is: the FLOP and byte formulas
    timing.py         how one number is taken: warm-up, samples, GPU sync, medians
    machine.py        what it ran on, threads per library, the GEMM and copy peaks
    targets.py        numpy, numba, cupy (minicnn) and torch-cpu, torch-cuda (PyTorch)
    harness.py        check, then time, one case on every target
    suite_ops.py      conv2d, im2col/col2im, max-pool, unpool, LRN, cross-entropy
    suite_models.py   training steps of keras_mnist_cnn, zfnet_small; ZFNet at 224x224
    suite_scaling.py  one conv layer against batch size and image size
    report.py, plots.py   Markdown and PNGs
    run.py            the command line, ``main(args)``

benchmarks/README.md explains what each number means and how to time fairly.
"""



def main(args=None):
    """Run the benchmarks (see run.py); returns the exit status."""
    from .run import main as run_main  # late import: ``python -m minicnn.bench.plots`` stays clean
    return run_main(args)


def add_arguments(parser):
    """Add the benchmark options to an argparse parser (``minicnn bench`` does)."""
    from .run import add_arguments as run_add_arguments
    return run_add_arguments(parser)


__all__ = ["main", "add_arguments"]
