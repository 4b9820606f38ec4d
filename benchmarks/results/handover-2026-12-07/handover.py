"""What handing work to minicnn's second thread costs on this machine, and what it buys at batch 32.

    python benchmarks/results/handover-2026-12-07/handover.py [--model keras_mnist_cnn] [--batch 32]

1. A raw hand-over: a worker thread blocked on a queue.SimpleQueue (as minicnn's workers
   are) is handed a task after the calling thread has been busy for a while; how long until
   the worker runs it. Then threads.parallel_for over 2 items of a compiled loop that takes
   about 40 microseconds each, against the same 2 items run one after the other.
2. Every parallel section of a training step (each call of threads.parallel_for, named by
   the function that called it): its median time shared out on minicnn's two threads and run
   whole on the calling thread, alternating step by step. "whole" runs the section's pieces
   on the calling thread (BLAS on one thread for a product).
"""

import argparse
import inspect
import json
import queue
import statistics
import threading
import time

import numba
import numpy

import minicnn  # noqa: F401  (a learner's import order: NumPy, then minicnn)
from minicnn.bench.machine import machine_info
from minicnn.bench.suite_models import ModelCase
from minicnn.bench.targets import make_targets
from minicnn.engine import threads

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="keras_mnist_cnn")
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--steps", type=int, default=20)
arguments = parser.parse_args()
clock = time.perf_counter


# ----- 1. a raw hand-over, and a small parallel section ----------------------------------------

tasks, done, started = queue.SimpleQueue(), queue.SimpleQueue(), {}


def worker():
    while True:
        tasks.get()
        started["at"] = clock()
        done.put(True)


threading.Thread(target=worker, daemon=True).start()


def busy(seconds):
    end = clock() + seconds
    while clock() < end:
        pass


handover = {}
for idle in (0.0, 50e-6, 200e-6, 1e-3, 5e-3, 20e-3):
    latencies = []
    for _ in range(200):
        busy(idle)
        start = clock()
        tasks.put(True)
        done.get()
        latencies.append((started["at"] - start) * 1e6)
    handover[f"{idle * 1e6:.0f} us busy before"] = {"median_us": statistics.median(latencies),
                                                     "p90_us": float(numpy.percentile(latencies, 90))}


@numba.njit(nogil=True, cache=False)
def spin(count):
    total = 0.0
    for i in range(count):
        total += i * 0.5
    return total


def two_items(first, last):
    spin(40000 * (last - first))


threads.set_num_threads(2)
section = {"shared": [], "one after the other": []}
for _ in range(400):
    for name, call in (("shared", lambda: threads.parallel_for(2, two_items)),
                       ("one after the other", lambda: two_items(0, 2))):
        start = clock()
        call()
        section[name].append((clock() - start) * 1e6)
section = {name: statistics.median(values) for name, values in section.items()}

# ----- 2. the sections of a training step, shared and whole -------------------------------------

case = ModelCase(arguments.model, "train step", arguments.batch, 4)
arrays = case.inputs(numpy.random.default_rng(0), "time")
(target,), _ = make_targets(["numba"])
original = threads.parallel_for
mode = {"whole": False}
seen = {}


def recorded(total, work, pieces_per_thread=1):
    caller = inspect.stack()[1]
    key = f"{caller.filename.split('/')[-1]}:{caller.function} ({total} items)"
    start = clock()
    if mode["whole"]:
        threads._serial(total, work)
    else:
        original(total, work, pieces_per_thread)
    seen.setdefault(key, {"shared": [], "whole": []})["whole" if mode["whole"] else "shared"].append(
        (clock() - start) * 1e6)


with target.active():
    run = case.runner(target, arrays, "time")
    for _ in range(3):
        run()
    threads.parallel_for = recorded
    try:
        steps = {"shared": [], "whole": []}
        for _ in range(arguments.steps):
            for whole in (False, True):
                mode["whole"] = whole
                start = clock()
                run()
                steps["whole" if whole else "shared"].append((clock() - start) * 1e3)
    finally:
        threads.parallel_for = original
sites = {key: {name: statistics.median(values) for name, values in value.items()}
         for key, value in seen.items()}
info = machine_info(threads=None)
result = {"machine": {key: info[key] for key in ("date", "cpu_model", "usable_cores", "minicnn_threads",
                                                  "load_average_before", "platform")},
          "handover": handover, "two items of ~40 us": section,
          "model": arguments.model, "batch": arguments.batch,
          "step_ms": {name: statistics.median(values) for name, values in steps.items()},
          "sections_us": sites}
print(json.dumps(result, indent=1))
print(f"\nhand-over after the caller was busy: " + ", ".join(
    f"{key}: {value['median_us']:.1f} us" for key, value in handover.items()))
print(f"2 items of ~40 us: shared {section['shared']:.0f} us, one after the other "
      f"{section['one after the other']:.0f} us")
print(f"{arguments.model} batch {arguments.batch}: step with sections shared "
      f"{result['step_ms']['shared']:.2f} ms, whole {result['step_ms']['whole']:.2f} ms")
for key, value in sorted(sites.items(), key=lambda item: -item[1]["whole"]):
    print(f"  {key:75s} shared {value['shared']:7.0f} us  whole {value['whole']:7.0f} us  "
          f"shared/whole {value['shared'] / value['whole']:.2f}")
