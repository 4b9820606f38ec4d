"""Where zfnet_small's Winograd layers spend a training step: each transform and each kind of product.

    python benchmarks/results/winograd-runs-2026-12-07/in_step.py --batch 32 --steps 20

Wraps, for the length of the run, kernels/winograd.py's ``share_out`` calls
(the four tile transforms), its ``_products`` (the 16 products of each kind)
and the layer's whole forward and backward with timers, and prints the
milliseconds per step of each, summed over the model's four 3x3 layers,
beside the median step (timed with the timers in place: they add a few
microseconds a call).
"""

import argparse
import collections
import time

import numpy

import minicnn as mc
from minicnn import functional as F
from minicnn import optim
from minicnn.bench.machine import machine_info
from minicnn.engine.kernels import winograd
from minicnn.models import get_model


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
    mc.set_backend("numba")
    totals = collections.defaultdict(float)
    kinds = {(False, False): "products M = U V", (False, True): "products dU = dM V^T",
             (True, False): "products dV = U^T dM"}
    originals = {name: getattr(winograd, name) for name in
                 ("share_out", "_products", "winograd_forward_numba", "winograd_backward_numba")}
    winograd.share_out = timed(originals["share_out"], lambda a, k: "transform " + a[0].__name__, totals)
    winograd._products = timed(originals["_products"], lambda a, k: kinds[
        (k.get("transpose_left", False), k.get("transpose_right", False))], totals)
    # the conv op calls these through the module, so the wrappers see every call
    winograd.winograd_forward_numba = timed(originals["winograd_forward_numba"],
                                            lambda a, k: "forward, whole", totals)
    winograd.winograd_backward_numba = timed(originals["winograd_backward_numba"],
                                             lambda a, k: "backward, whole", totals)
    try:
        rng = numpy.random.default_rng(0)
        mc.manual_seed(0)
        model = get_model("zfnet_small")
        x = mc.tensor(rng.standard_normal((args.batch,) + tuple(model.input_shape)).astype(numpy.float32))
        labels = rng.integers(0, 10, args.batch)
        optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
        steps = []
        for round_ in range(args.steps + 3):
            if round_ == 3:
                totals.clear()
            start = time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model(x), labels).backward()
            optimizer.step()
            if round_ >= 3:
                steps.append(time.perf_counter() - start)
    finally:
        for name, function in originals.items():
            setattr(winograd, name, function)
    info = machine_info(threads=None)
    print("machine:", info["cpu_model"], "| cores", info["cpu_count"], "| minicnn threads",
          info["minicnn_threads"], "| BLAS",
          info["numpy_blas"].get("openblas configuration", info["numpy_blas"]))
    print(f"zfnet_small, batch {args.batch}: median step {numpy.median(steps) * 1e3:.1f} ms; "
          f"its four Winograd layers, ms per step:")
    for name in sorted(totals):
        print(f"  {name:34s} {totals[name] / args.steps * 1e3:6.2f}")
    if not totals:
        raise SystemExit("no Winograd call was timed: the conv op no longer calls kernels/winograd.py "
                         "through the module's names")


if __name__ == "__main__":
    main()
