"""Whole training steps with Winograd's output and dL/dy transforms along runs (the engine) and
tile by tile (tile_by_tile.py, before), alternating step by step in one process.

    python benchmarks/results/winograd-runs-2026-12-07/step_ab.py --model zfnet_small --batch 32 --steps 30

A learner's step (forward, loss, backward, SGD; float32, numba backend,
minicnn's default threads, nothing set). The two versions swap in by name
in kernels/winograd.py between steps. Prints the machine, each version's
median step and after / before: the ratio of the medians and the median of
the step-by-step ratios.
"""

import argparse
import pathlib
import sys
import time

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import tile_by_tile  # noqa: E402
import minicnn as mc  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn import optim  # noqa: E402
from minicnn.bench.machine import machine_info  # noqa: E402
from minicnn.engine.kernels import winograd  # noqa: E402
from minicnn.models import get_model  # noqa: E402

NAMES = ("_output_loops", "_gradient_loops")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zfnet_small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="steps of each version (alternating)")
    args = parser.parse_args()
    mc.set_backend("numba")
    versions = {"before": {name: getattr(tile_by_tile, name) for name in NAMES},
                "after": {name: getattr(winograd, name) for name in NAMES}}
    rng = numpy.random.default_rng(0)
    mc.manual_seed(0)
    model = get_model(args.model)
    x = mc.tensor(rng.standard_normal((args.batch,) + tuple(model.input_shape)).astype(numpy.float32))
    labels = rng.integers(0, 10, args.batch)
    optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    times = {name: [] for name in versions}
    try:
        for round_ in range(args.steps + 2):                 # two rounds to compile and warm up
            for name, loops in versions.items():
                for loop_name, loop in loops.items():
                    setattr(winograd, loop_name, loop)
                start = time.perf_counter()
                optimizer.zero_grad()
                F.cross_entropy(model(x), labels).backward()
                optimizer.step()
                if round_ >= 2:
                    times[name].append(time.perf_counter() - start)
    finally:
        for loop_name, loop in versions["after"].items():
            setattr(winograd, loop_name, loop)
    info = machine_info(threads=None)
    print("machine:", info["cpu_model"], "| cores", info["cpu_count"], "| minicnn threads",
          info["minicnn_threads"], "| BLAS",
          info["numpy_blas"].get("openblas configuration", info["numpy_blas"]))
    before, after = numpy.array(times["before"]), numpy.array(times["after"])
    print(f"{args.model}, batch {args.batch}, {args.steps} steps each: before "
          f"{numpy.median(before) * 1e3:.2f} ms, after {numpy.median(after) * 1e3:.2f} ms; after / "
          f"before {numpy.median(after) / numpy.median(before):.3f} (medians), "
          f"{numpy.median(after / before):.3f} (median of step pairs)")


if __name__ == "__main__":
    main()
