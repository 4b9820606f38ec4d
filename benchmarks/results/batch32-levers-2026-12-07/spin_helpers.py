"""Helpers that spin a while before they sleep: whole training steps with threads.py's workers as
they are (asleep on a queue between parallel sections) and with workers that, after each piece
of work, wait up to SPIN microseconds in a compiled loop (Python's lock released) for the next
section before they go to sleep; the caller likewise waits that long for its helpers before it
sleeps. Alternating step by step in one process. Not in the engine: a trial.

    python benchmarks/results/batch32-levers-2026-12-07/spin_helpers.py --model M --batch B --steps S [--spin 300]
"""

import argparse
import os
import queue
import sys
import threading
import time

import numba
import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import alternate, machine_line, setup, train_step  # noqa: E402

from minicnn.engine import threads  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="keras_mnist_cnn")
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--spin", type=float, default=300.0, help="microseconds")
arguments = parser.parse_args()

spinning = {"on": False}
posted = numpy.zeros(1, numpy.int64)          # sections handed out so far
finished = numpy.zeros(1, numpy.int64)        # helpers' shares finished so far
scratch = numpy.zeros(1, numpy.int64)         # written in the wait, so that each test reloads


@numba.njit(nogil=True)
def wait_until(counter, target, scratch, iterations):
    for _ in range(iterations):
        if counter[0] >= target:
            return True
        scratch[0] += 1
    return False


wait_until(posted, 1, scratch, 10)
start = time.perf_counter()
wait_until(posted, 1, scratch, 10_000_000)
iterations = int(arguments.spin * 10_000_000 / ((time.perf_counter() - start) * 1e6))


class SpinningWorker(threads._Worker):
    def _run(self):
        threads._local.inside = True
        while True:
            self.tasks.get()()
            if spinning["on"]:
                wait_until(posted, posted[0] + 1, scratch, iterations)


def parallel_for(total, work, pieces_per_thread=1):
    """threads.parallel_for, with the waits above added where spinning["on"]."""
    count = min(threads.get_num_threads(), total)
    if count <= 1 or getattr(threads._local, "inside", False) or not threads._sections.acquire(blocking=False):
        return threads._serial(total, work)
    caller_errors = numpy.geterr()
    try:
        pieces = min(total, count * pieces_per_thread)
        bounds = [total * piece // pieces for piece in range(pieces + 1)]
        taken = iter(range(pieces))
        errors, done = [], queue.SimpleQueue()

        def share():
            try:
                for piece in taken:
                    work(bounds[piece], bounds[piece + 1])
            except BaseException as error:
                errors.append(error)
        section, joining = {"open": True, "joined": 0}, threading.Lock()

        def helper_share():
            with joining:
                if not section["open"]:
                    return
                section["joined"] += 1
            try:
                with numpy.errstate(**caller_errors):
                    share()
            finally:
                finished[0] += 1
                done.put(True)
        target = finished[0]
        for worker in threads._workers(count - 1):
            worker.tasks.put(helper_share)
        posted[0] += 1
        threads._local.inside = True
        try:
            share()
        finally:
            threads._local.inside = False
            with joining:
                section["open"] = False
                joined = section["joined"]
            if joined and spinning["on"]:
                wait_until(finished, target + joined, scratch, iterations)
            for _ in range(joined):
                done.get()
    finally:
        threads._sections.release()
    if errors:
        raise errors[0]


threads._Worker = SpinningWorker            # before the first parallel section starts the workers
threads.parallel_for = parallel_for
model, x, labels, optimizer = setup(arguments.model, arguments.batch)
times = alternate({"asleep": lambda: spinning.update(on=False), "spinning": lambda: spinning.update(on=True)},
                  lambda: train_step(model, x, labels, optimizer), arguments.steps)
asleep, spin = numpy.array(times["asleep"]), numpy.array(times["spinning"])
print(machine_line())
print(f"{arguments.model}, batch {arguments.batch}, {arguments.steps} steps each, spinning up to "
      f"{arguments.spin:.0f} us: asleep {numpy.median(asleep) * 1e3:.2f} ms, spinning "
      f"{numpy.median(spin) * 1e3:.2f} ms; spinning / asleep {numpy.median(spin / asleep):.3f} "
      f"(median of step pairs)")
