"""How one number is taken: warm up, calibrate, repeat, synchronise, take medians.

    1. Warm up: call the function ``warmup`` times. The first calls pay for
       things a steady training loop does not: Numba loading its compiled
       code, NumPy and CuPy filling their memory pools, cuDNN choosing its
       algorithms, caches filling.
    2. Calibrate: time one call and choose ``number``, how many calls make one
       sample last at least ``min_sample_s``. An op slower than that is timed
       call by call; one much faster is timed over many calls, or Python's own
       overhead and the clock's granularity would be most of what we measure.
    3. Take ``repeat`` samples. Each: synchronise the device, read the clock,
       call ``number`` times, synchronise again, read the clock. GPU work is
       queued and runs later: without the second synchronisation we would
       time the queueing, not the work.
    4. Report per call: the median (the figure we quote: robust to a sample
       disturbed by another process), the minimum (least disturbed), and the
       quartiles and their distance, the IQR (a wide IQR says the machine was
       busy and the median is less certain).
"""

import math
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Timing:
    """Per-call times in seconds of ``repeat`` samples of ``number`` calls each."""

    samples_s: list = field(default_factory=list)
    number: int = 1
    warmup: int = 0

    @property
    def median_s(self):
        return statistics.median(self.samples_s)

    @property
    def min_s(self):
        return min(self.samples_s)

    @property
    def quartiles_s(self):
        """(first quartile, third quartile); both the median for a single sample."""
        if len(self.samples_s) < 2:
            return self.median_s, self.median_s
        q1, _, q3 = statistics.quantiles(self.samples_s, n=4, method="inclusive")
        return q1, q3

    @property
    def iqr_s(self):
        q1, q3 = self.quartiles_s
        return q3 - q1

    def summary(self):
        """The figures as a dict in milliseconds, for the JSON."""
        q1, q3 = self.quartiles_s
        return {
            "median_ms": self.median_s * 1e3, "min_ms": self.min_s * 1e3,
            "q1_ms": q1 * 1e3, "q3_ms": q3 * 1e3, "iqr_ms": self.iqr_s * 1e3,
            "repeat": len(self.samples_s), "calls_per_sample": self.number,
            "warmup_calls": self.warmup,
            "samples_ms": [s * 1e3 for s in self.samples_s],
        }


def _no_sync():
    pass


def measure(function, synchronize=None, warmup=2, repeat=7, min_sample_s=0.02, max_number=1000):
    """Time ``function()`` as described in this module's docstring; returns a Timing.

    synchronize: called before and after every sample (``cupy.cuda.Device().synchronize``
    or ``torch.cuda.synchronize`` on a GPU); None on the CPU.
    """
    synchronize = synchronize or _no_sync
    for _ in range(warmup):
        function()
    synchronize()
    start = time.perf_counter()
    function()
    synchronize()
    one_call = time.perf_counter() - start
    number = max(1, min(max_number, math.ceil(min_sample_s / max(one_call, 1e-9))))
    samples = []
    for _ in range(repeat):
        synchronize()
        start = time.perf_counter()
        for _ in range(number):
            function()
        synchronize()
        samples.append((time.perf_counter() - start) / number)
    return Timing(samples, number, warmup)
