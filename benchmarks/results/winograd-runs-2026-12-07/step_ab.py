"""Whole training steps with Winograd's output and dL/dy transforms along runs (the engine) and
tile by tile (tile_by_tile.py, before), alternating step by step in one process.

    python benchmarks/results/winograd-runs-2026-12-07/step_ab.py --model zfnet_small --batch 32 --steps 30

A learner's step (common.py). The two versions swap in by name in
kernels/winograd.py between steps. Prints the machine, each version's
median step and after / before: the ratio of the medians and the median of
the step-by-step ratios.
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402
import tile_by_tile  # noqa: E402
from minicnn.engine.kernels import winograd  # noqa: E402

NAMES = ("_output_loops", "_gradient_loops")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zfnet_small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="steps of each version (alternating)")
    args = parser.parse_args()
    loops = {"before": {name: getattr(tile_by_tile, name) for name in NAMES},
             "after": {name: getattr(winograd, name) for name in NAMES}}
    model, x, labels, optimizer = common.setup(args.model, args.batch)

    def put(version):
        def put_in_place():
            for name, loop in loops[version].items():
                setattr(winograd, name, loop)
        return put_in_place

    try:
        times = common.alternate({"before": put("before"), "after": put("after")},
                                 lambda: common.train_step(model, x, labels, optimizer), args.steps)
    finally:
        put("after")()
    print(common.machine_line())
    print(f"{args.model}, batch {args.batch}, {args.steps} steps each: "
          + common.after_before(times["before"], times["after"]))


if __name__ == "__main__":
    main()
