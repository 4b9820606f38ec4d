"""Winograd F(4x4, 3x3) against the F(2x2, 3x3) that minicnn uses: the forward products alone
(36 of (F, C) by (C, T/4) against 16 of (F, C) by (C, T)), zfnet_small's four 3x3 layers, batch 32
and 128, float32, on minicnn's threads with BLAS on one thread each, alternating call by call.
Measured, not built.

    python benchmarks/results/pool-reach-2026-12-07/winograd_f4_products.py
"""
import time, statistics, numpy
import minicnn
from minicnn.engine.kernels import winograd as W
rng = numpy.random.default_rng(0)
for batch in (32, 128):
  tot2 = tot4 = 0
  for (C, F, H) in ((32, 64, 14), (64, 96, 7), (96, 96, 7), (96, 64, 7)):
    t2 = batch * ((H + 1)//2)**2; t4 = batch * ((H + 3)//4)**2
    u2 = rng.standard_normal((16, F, C)).astype(numpy.float32); v2 = rng.standard_normal((16, C, t2)).astype(numpy.float32); m2 = numpy.empty((16, F, t2), numpy.float32)
    u4 = rng.standard_normal((36, F, C)).astype(numpy.float32); v4 = rng.standard_normal((36, C, t4)).astype(numpy.float32); m4 = numpy.empty((36, F, t4), numpy.float32)
    def p4():
        from minicnn.engine import threads
        def work(first, last):
            numpy.matmul(u4[first:last], v4[first:last], out=m4[first:last])
        with threads.blas_on_one_thread():
            threads.parallel_for(36, work)
    calls = {"2x2": lambda: W.products(u2, v2, m2), "4x4": p4}
    times = {name: [] for name in calls}
    for round_number in range(40):                          # alternating, the order turning each round
        for name in (list(calls) if round_number % 2 else list(calls)[::-1]):
            start = time.perf_counter()
            calls[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    a, b = (statistics.median(times[name][4:]) for name in ("2x2", "4x4"))
    tot2 += a; tot4 += b
    print(batch, (C, F, H), f"F(2x2) 16 x ({F},{C},{t2}) {a:.2f} ms   F(4x4) 36 x ({F},{C},{t4}) {b:.2f} ms")
  print(batch, f"total forward products F(2x2) {tot2:.2f} F(4x4) {tot4:.2f} ratio {tot4/tot2:.2f}")
