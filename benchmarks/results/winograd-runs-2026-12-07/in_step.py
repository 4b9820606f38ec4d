"""Where zfnet_small's Winograd layers spend a training step: each transform and each kind of product.

    python benchmarks/results/winograd-runs-2026-12-07/in_step.py --batch 32 --steps 20

Wraps, for the length of the run, kernels/winograd.py's ``share_out`` calls
(the four tile transforms), its ``products`` (the 16 products of each kind)
and the layer's whole forward and backward with timers, and prints the
milliseconds per step of each, summed over the model's four 3x3 layers,
beside the median step (timed with the timers in place: they add a few
microseconds a call).
"""

import argparse
import collections
import pathlib
import sys
import time

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402
from minicnn.engine.kernels import winograd  # noqa: E402


def timed(function, name, totals):
    def wrapper(*arguments, **keywords):
        start = time.perf_counter()
        result = function(*arguments, **keywords)
        totals[name(arguments, keywords)] += time.perf_counter() - start
        return result
    return wrapper


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    totals = collections.defaultdict(float)
    kinds = {(False, False): "products M = U V", (False, True): "products dU = dM V^T",
             (True, False): "products dV = U^T dM"}
    originals = {name: getattr(winograd, name) for name in
                 ("share_out", "products", "winograd_forward_numba", "winograd_backward_numba")}
    winograd.share_out = timed(originals["share_out"], lambda a, k: "transform " + a[0].__name__, totals)
    winograd.products = timed(originals["products"], lambda a, k: kinds[
        (k.get("transpose_left", False), k.get("transpose_right", False))], totals)
    # the conv op calls these through the module, so the wrappers see every call
    winograd.winograd_forward_numba = timed(originals["winograd_forward_numba"],
                                            lambda a, k: "forward, whole", totals)
    winograd.winograd_backward_numba = timed(originals["winograd_backward_numba"],
                                             lambda a, k: "backward, whole", totals)
    try:
        model, x, labels, optimizer = common.setup("zfnet_small", args.batch)
        steps = []
        for round_ in range(args.steps + 3):
            if round_ == 3:
                totals.clear()
            seconds = common.train_step(model, x, labels, optimizer)
            if round_ >= 3:
                steps.append(seconds)
    finally:
        for name, function in originals.items():
            setattr(winograd, name, function)
    print(common.machine_line())
    print(f"zfnet_small, batch {args.batch}: median step {numpy.median(steps) * 1e3:.1f} ms; "
          f"its four Winograd layers, ms per step:")
    for name in sorted(totals):
        print(f"  {name:34s} {totals[name] / args.steps * 1e3:6.2f}")
    if not totals:
        raise SystemExit("no Winograd call was timed: the conv op no longer calls kernels/winograd.py "
                         "through the module's names")


if __name__ == "__main__":
    main()
