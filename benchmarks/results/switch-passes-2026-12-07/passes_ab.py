"""Gradients at the switches in two passes, four products at a time (this commit), against the
one pass of one window at a time before it (git's HEAD~, or --before REV): the loop alone and
whole training steps, alternating in one process.

    python benchmarks/results/switch-passes-2026-12-07/passes_ab.py --model keras_mnist_cnn --batch 32 --steps 60

The loop alone: keras-MNIST's second layer (32 channels in, 64 filters, 3x3, 11x11 outputs, a
2x2 pool of stride 2) over --batch images on one thread, asked for both gradients, dL/dW only
and dL/dx only. Whole steps: a learner's training step (common.py) with the engine's loop and
with the old one swapped in, on one thread and on minicnn's default count.
"""

import os
import subprocess
import sys
import time

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "winograd-runs-2026-12-07"))
from common import after_before, machine_line, setup, swapped, train_step  # noqa: E402

from minicnn.engine import threads  # noqa: E402
from minicnn.engine.kernels import switch_gradients  # noqa: E402
from minicnn.engine.kernels.compiled import flat, ints  # noqa: E402


def old_loop(revision):
    """_switch_gradient_loops as it was at ``revision``: its file's source run as a module of
    the package (so its relative imports work), compiled with the engine's options but not cached."""
    root = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
    source = subprocess.run(["git", "show", f"{revision}:minicnn/engine/kernels/switch_gradients.py"], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    import numba
    namespace = {"__name__": "minicnn.engine.kernels._switch_gradients_before",
                 "__package__": "minicnn.engine.kernels",
                 "_loop": numba.njit(nogil=True, fastmath=False), "_helper": numba.njit(nogil=True)}
    source = source.replace("@numba_loop\n", "@_loop\n").replace("@numba_helper\n", "@_helper\n")
    exec(compile(source, "switch_gradients_before.py", "exec"), namespace)   # compiled as the engine's, not cached
    return namespace["_switch_gradient_loops"]


def loop_alone(before, batch, rounds):
    """Both loops on keras-MNIST's second layer, one thread, alternating call by call."""
    rng = numpy.random.default_rng(0)
    out, pool = (11, 11), ((2, 2), (2, 2), (0, 0), (1, 1), (5, 5))
    x = rng.standard_normal((batch, 32, 13, 13)).astype(numpy.float32)
    weight = (rng.standard_normal((64, 32, 3, 3)) * 0.1).astype(numpy.float32)
    _, switches, reach = switch_gradients.conv2d_max_pool_forward_in_reach(
        x, weight, None, (1, 1), (0, 0), (1, 1), out, pool)
    grad = rng.standard_normal(switches.shape).astype(numpy.float32)
    offsets, run = switch_gradients.run_offsets((3, 3), (1, 1), 13, 32)
    weight_last = numpy.ascontiguousarray(numpy.transpose(weight, (0, 2, 3, 1))).reshape(-1)
    corners = switch_gradients.corner_table(tuple(reach), (1, 1), 13, 32)

    def call(loop, needs_x, needs_weight):
        arguments = (flat(grad), flat(switches), x.reshape(-1), *ints(32, 13, 13, 0, 0, 13, 13, 25), corners,
                     offsets, run, weight_last, needs_x, needs_weight, numpy.zeros(64 * 288), numpy.zeros(64),
                     numpy.empty(x.size, numpy.float32), numpy.zeros(1))
        return lambda: loop(*arguments, 0, batch)
    print(f"The loop alone, keras-MNIST's second layer, {batch} images, one thread (medians of {rounds}):")
    for label, needs in (("both gradients", (True, True)), ("dL/dW only", (False, True)),
                         ("dL/dx only", (True, False))):
        calls = {"before": call(before, *needs), "after": call(switch_gradients._switch_gradient_loops, *needs)}
        times = {name: [] for name in calls}
        for round_ in range(rounds + 2):
            for name, function in calls.items():
                start = time.perf_counter()
                function()
                if round_ >= 2:
                    times[name].append(time.perf_counter() - start)
        print(f"  {label:15s}", after_before(times["before"], times["after"]))


def main():
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--before", default="HEAD~")
    args = parser.parse_args()
    print(machine_line())
    before = old_loop(args.before)
    loop_alone(before, args.batch, 40)
    model, x, labels, optimizer = setup(args.model, args.batch)
    default = threads.get_num_threads()
    print(f"Whole training steps, {args.model}, batch {args.batch} ({args.steps} of each, alternating):")
    for count in sorted({1, default}):
        previous = threads.set_num_threads(count)
        try:
            times = swapped(switch_gradients, "_switch_gradient_loops", before,
                            lambda: train_step(model, x, labels, optimizer), args.steps)
        finally:
            threads.set_num_threads(previous)
        # swapped's "after" is the old loop put in place: this commit is its "before"
        print(f"  {count} thread{'s' if count > 1 else ''}:", after_before(times["after"], times["before"]))


if __name__ == "__main__":
    main()
