"""SGD's step in one compiled pass (tried_sgd.py) against minicnn's SGD.step (NumPy),
alternating step by step in one process: a learner's training step (common.py of
../winograd-runs-2026-12-07), numba backend, default threads, nothing set.

    python benchmarks/results/sgd-and-pool-2026-12-07/sgd_ab.py --model zfnet_small --batch 32 --steps 60
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "winograd-runs-2026-12-07"))
from common import after_before, machine_line, options, setup, swapped, train_step  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tried_sgd  # noqa: E402

args = options()
model, x, labels, optimizer = setup(args.model, args.batch)
times = swapped(optimizer, "step", lambda: tried_sgd.step(optimizer), lambda: train_step(model, x, labels, optimizer),
                args.steps)
print(machine_line())
print(f"{args.model} batch {args.batch}, {args.steps} training steps each, alternating")
print(after_before(times["before"], times["after"]))
