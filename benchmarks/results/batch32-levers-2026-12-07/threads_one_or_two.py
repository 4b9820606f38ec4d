"""Whole training steps on one thread and on two (minicnn's default here), alternating step by
step in one process: what the second core buys at the time of the run.

    python benchmarks/results/batch32-levers-2026-12-07/threads_one_or_two.py --model M --batch B --steps S
"""

import os
import sys

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import alternate, machine_line, options, setup, train_step  # noqa: E402

from minicnn.engine import threads  # noqa: E402

arguments = options(model="keras_mnist_cnn", batch=32, steps=60)
print(machine_line())
model, x, labels, optimizer = setup(arguments.model, arguments.batch)
times = alternate({"two": lambda: threads.set_num_threads(2), "one": lambda: threads.set_num_threads(1)},
                  lambda: train_step(model, x, labels, optimizer), arguments.steps)
two, one = numpy.array(times["two"]), numpy.array(times["one"])
print(f"{arguments.model}, batch {arguments.batch}, {arguments.steps} steps each: two threads "
      f"{numpy.median(two) * 1e3:.2f} ms, one thread {numpy.median(one) * 1e3:.2f} ms; one / two "
      f"{numpy.median(one / two):.3f} (median of step pairs)")
