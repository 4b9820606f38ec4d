"""The parallel sections of a learner's training step: how many, how long, how late the helper
thread starts and how long the caller waits for it after its own share, per kind of section.

    python benchmarks/results/winograd-sections-2026-12-07/handovers.py --model M --batch B --steps S

threads.parallel_for is wrapped (the pieces of work too) to note, per section, when each piece
started and ended on which thread; compiled.share_out is wrapped in every module that
imported it, to name a section by its loops. Medians over the steps. The wrapping costs a few
microseconds a piece.
"""

import collections
import os
import sys
import threading
import time

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))

from common import machine_line, options, setup, train_step  # noqa: E402

from minicnn.engine import threads  # noqa: E402
from minicnn.engine.kernels import compiled  # noqa: E402

arguments = options(steps=20)
model, x, labels, optimizer = setup(arguments.model, arguments.batch)
for _ in range(5):
    train_step(model, x, labels, optimizer)

records, naming = collections.defaultdict(list), {}
parallel_for, share_out = threads.parallel_for, compiled.share_out


def timed_parallel_for(total, work, *rest, **keywords):
    start, pieces = time.perf_counter(), collections.defaultdict(list)

    def timed_work(first, last):
        begun = time.perf_counter()
        work(first, last)
        pieces[threading.current_thread() is threading.main_thread()].append(
            (begun - start, time.perf_counter() - start))

    parallel_for(total, timed_work, *rest, **keywords)
    name = naming.get("loops") or getattr(work, "__qualname__", "?")
    records[name].append((time.perf_counter() - start, dict(pieces)))


def named_share_out(loops, total, *rest, **keywords):
    naming["loops"] = loops.__name__
    try:
        return share_out(loops, total, *rest, **keywords)
    finally:
        naming.pop("loops", None)


threads.parallel_for = timed_parallel_for
for module in list(sys.modules.values()):
    if getattr(module, "__name__", "").startswith("minicnn.engine") and getattr(module, "share_out", None) is share_out:
        module.share_out = named_share_out
for _ in range(arguments.steps):
    train_step(model, x, labels, optimizer)

print(machine_line())
print(f"{arguments.model}, batch {arguments.batch}, {arguments.steps} training steps")
all_sections = all_waits = count = 0
for name, sections in records.items():
    durations = [total for total, _ in sections]
    waits = [total - pieces[True][-1][1] for total, pieces in sections if True in pieces]
    late = [pieces[False][0][0] for _, pieces in sections if False in pieces]
    count += len(sections)
    all_sections, all_waits = all_sections + sum(durations), all_waits + sum(waits)
    print(f"{name[:55]:55s} {len(sections) / arguments.steps:4.1f} a step, {numpy.median(durations) * 1e6:5.0f} us, "
          f"helper starts after {numpy.median(late) * 1e6 if late else float('nan'):4.0f} us, caller waits "
          f"{numpy.median(waits) * 1e6 if waits else float('nan'):4.0f} us")
print(f"a step: {count / arguments.steps:.0f} sections, {all_sections / arguments.steps * 1e3:.2f} ms in them, "
      f"the caller waiting for a helper {all_waits / arguments.steps * 1e3:.2f} ms")
