"""Winograd F(4x4, 3x3) against F(2x2, 3x3) in whole steps: the route table with the
F(4x4, 3x3) route ("after") and without it ("before", so that the same layers take
F(2x2, 3x3)), alternating step by step in one process, numba backend, default threads,
nothing set. Training steps, then forward passes under no_grad.

    python benchmarks/results/winograd-4x4-2026-12-07/step_ab.py --model zfnet_small --batch 32
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "winograd-runs-2026-12-07"))
from common import after_before, alternate, infer_step, machine_line, options, setup, train_step  # noqa: E402

from minicnn.engine.kernels import routes  # noqa: E402

args = options(steps=60)
model, x, labels, optimizer = setup(args.model, args.batch)
with_4x4 = routes.ROUTES["conv2d"]
without_4x4 = tuple(route for route in with_4x4 if route.name != "winograd F(4x4,3x3)")
assert len(without_4x4) == len(with_4x4) - 1


def table(conv_routes):
    return lambda: routes.ROUTES.__setitem__("conv2d", conv_routes)


print(machine_line())
layers = model.summary(tuple(x.shape[1:]), print_table=False, backend="numba", batch=args.batch)
print("3x3 layers run as:", ", ".join(row["runs_as"] for row in layers if row["runs_as"].startswith("winograd")))
try:
    for kind, step in (("training steps", lambda: train_step(model, x, labels, optimizer)),
                       ("forward passes (no_grad)", lambda: infer_step(model, x))):
        times = alternate({"before": table(without_4x4), "after": table(with_4x4)}, step, args.steps,
                          warm_up=4)
        print(f"{args.model} batch {args.batch}, {args.steps} {kind} each, alternating; "
              f"after: with the F(4x4, 3x3) route")
        print(after_before(times["before"], times["after"]))
finally:
    routes.ROUTES["conv2d"] = with_4x4
