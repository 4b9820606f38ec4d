"""keras-MNIST's second layer by "gradients at the switches" or by "im2col, pooled from the
product" (the two products of the reference's backward pass), whole training steps alternating
step by step in one process.

    python benchmarks/results/batch32-levers-2026-12-07/switches_or_products.py --batch B --steps S

The second route is put in place by making switch_gradients.pays answer False (routes.py then
takes the next route of its table); only the layer's backward pass differs.
"""

import os
import sys

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import machine_line, options, setup, swapped, train_step  # noqa: E402

from minicnn.engine.kernels import switch_gradients  # noqa: E402

arguments = options(model="keras_mnist_cnn", batch=32, steps=60)
model, x, labels, optimizer = setup(arguments.model, arguments.batch)
times = swapped(switch_gradients, "pays", lambda *geometry: False,
                lambda: train_step(model, x, labels, optimizer), arguments.steps)
switches, products = numpy.array(times["before"]), numpy.array(times["after"])
print(machine_line())
print(f"{arguments.model}, batch {arguments.batch}, {arguments.steps} steps each: at the switches "
      f"{numpy.median(switches) * 1e3:.2f} ms, by the products {numpy.median(products) * 1e3:.2f} ms; "
      f"products / switches {numpy.median(products / switches):.3f} (median of step pairs)")
