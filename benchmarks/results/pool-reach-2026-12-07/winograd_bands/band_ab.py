"""Winograd's input and output transforms a band of tiles at a time (band_loops.py) against
kernels/winograd.py's loops: bit for bit the same (asserted), then timed on one thread.
Tried and not kept (benchmarks/README.md).

    python benchmarks/results/pool-reach-2026-12-07/winograd_bands/band_ab.py
"""
import sys, time, statistics, numpy
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import minicnn
from minicnn.engine.kernels import winograd as W
from minicnn.engine.kernels.compiled import flat, ints, share_out
import band_loops as NL
rng = numpy.random.default_rng(0)
for dtype in (numpy.float32, numpy.float64):
  for (N, C, F, H, P) in ((32, 32, 64, 14, 1), (32, 96, 96, 7, 1), (3, 5, 4, 9, 0), (2, 3, 5, 8, 1), (2, 2, 3, 5, 0)):
    x = rng.standard_normal((N, C, H, H + 1)).astype(dtype)
    out = (H + 2*P - 2, H + 1 + 2*P - 2); ty, tx = W.tiles(out); T = N*ty*tx
    v_old = numpy.empty((16, C, T), dtype); v_new = numpy.empty_like(v_old)
    args = (flat(x), *ints(N, C, H, H + 1, P, P, ty, tx))
    W._input_loops(*args, v_old.reshape(-1), 0, N*C); NL._input_band_loops(*args, v_new.reshape(-1), 0, N*C)
    assert numpy.array_equal(v_old, v_new), "input"
    m = rng.standard_normal((16, F, T)).astype(dtype); b = rng.standard_normal(F).astype(dtype)
    y_old = numpy.empty((N, F) + out, dtype); y_new = numpy.empty_like(y_old)
    margs = (m.reshape(-1), *ints(N, F, *out, ty, tx), b)
    W._output_loops(*margs, y_old.reshape(-1), 0, N*F); NL._output_band_loops(*margs, y_new.reshape(-1), 0, N*F)
    assert numpy.array_equal(y_old, y_new), "output"
    if dtype == numpy.float32 and N == 32:
        calls = {"input old": lambda: W._input_loops(*args, v_old.reshape(-1), 0, N*C),
                 "input new": lambda: NL._input_band_loops(*args, v_old.reshape(-1), 0, N*C),
                 "output old": lambda: W._output_loops(*margs, y_old.reshape(-1), 0, N*F),
                 "output new": lambda: NL._output_band_loops(*margs, y_old.reshape(-1), 0, N*F)}
        times = {name: [] for name in calls}
        for round_number in range(60):                       # alternating, the order turning each round
            names = list(calls)[round_number % 4:] + list(calls)[:round_number % 4]
            for name in names:
                start = time.perf_counter()
                calls[name]()
                times[name].append((time.perf_counter() - start) * 1e3)
        r = {name: statistics.median(values[5:]) for name, values in times.items()}
        print((N, C, F, H), "one thread, medians of 55 alternating calls:",
              " ".join(f"{k} {v:.3f}" for k, v in r.items()),
              f"| new / old: input {r['input new'] / r['input old']:.2f}, output {r['output new'] / r['output old']:.2f}")
print("bit for bit the same")
