"""The folded ReLU's backward pass chunk by chunk inside the routes that read at the switches
(the engine), against one pass of relu's backward loop over the whole dL/d(output) before
them; whole training steps, alternating in one process (after = the engine).

    python benchmarks/results/relu-fold-2026-12-07/relu_backward_ab.py --model keras_mnist_cnn --batch 32 --steps 100

It measured commit b86fe93, where the engine ran relu's backward chunk by chunk
(relu_backward_part); that was not kept, so on later commits "after" and "before" are the
same code (relu-backward-ab.txt holds what it gave at b86fe93).
"""

import dataclasses
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import after_before, alternate, machine_line, options, setup, train_step  # noqa: E402

from minicnn.engine.kernels import direct_pool, routes, switch_gradients  # noqa: E402


def direct_one_pass(call, saved, grad_output, needs):
    switches, finite, x, weight, positive = saved
    return direct_pool.conv2d_max_pool_backward_direct(
        routes._through_relu(grad_output, positive), switches, finite, x, weight, call.padding,
        call.dilation, call.out, *needs)


def switches_one_pass(call, saved, grad_output, needs):
    switches, reach, x, weight, positive = saved
    return switch_gradients.conv2d_max_pool_backward_at_switches(
        routes._through_relu(grad_output, positive), switches, x, weight, call.stride, call.padding,
        call.dilation, call.out, reach, *needs)


def main():
    args = options("keras_mnist_cnn", 32, 100)
    model, x, labels, optimizer = setup(args.model, args.batch)
    engine = routes.ROUTES["conv2d+max_pool2d"]
    one_pass = {"direct, pooled in cache": direct_one_pass,
                "im2col pooled, gradients at switches": switches_one_pass}
    before = tuple(dataclasses.replace(r, backward=one_pass[r.name]) if r.name in one_pass else r
                   for r in engine)
    versions = {"before": lambda: routes.ROUTES.__setitem__("conv2d+max_pool2d", before),
                "after": lambda: routes.ROUTES.__setitem__("conv2d+max_pool2d", engine)}
    try:
        times = alternate(versions, lambda: train_step(model, x, labels, optimizer), args.steps, warm_up=4)
    finally:
        routes.ROUTES["conv2d+max_pool2d"] = engine
    print(machine_line())
    print(f"{args.model}, batch {args.batch}, {args.steps} steps each, relu's backward chunk by chunk "
          f"(after) against one pass before the route (before): "
          f"{after_before(times['before'], times['after'])}")


if __name__ == "__main__":
    main()
