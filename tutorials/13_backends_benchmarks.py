# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 13. Backends and benchmarks
#
# The same minicnn code runs on three backends: plain NumPy (the reference
# kernels you have been reading), NumPy with the hot loops compiled by
# Numba, and CuPy on an NVIDIA GPU. The ops never ask which backend is
# active; only `minicnn/engine/kernels/` does. This lesson checks that the
# backends compute the same numbers, then measures them, and on the way
# shows how to time code so that the numbers mean something.
#
# Where it lives in minicnn: `minicnn/engine/backend.py` (choosing a backend),
# `minicnn/engine/kernels/` (one file per family, such as `pooling.py`: the
# plain-array reference first, then its Numba and CUDA twins; `__init__.py`
# says which twin runs when), `minicnn/bench/` (`timing.py`: how one
# number is taken; `machine.py`: threads and the machine; `profile.py`:
# where a training step spends its time), `benchmarks/README.md`.

# %%
from common import FAST, Stopwatch, savefig   # first: fast mode, figure folder, BLAS threads

import os

import numpy as np
import matplotlib.pyplot as plt

import minicnn as mc
from minicnn import functional as F
from minicnn.engine import kernels, process
from minicnn.bench.machine import limit_threads, machine_info
from minicnn.bench.profile import profile_training_step, table
from minicnn.bench.timing import measure
from minicnn.models import get_model

mc.manual_seed(0)

# %% [markdown]
# ## Which backends this machine has
#
# `mc.backends()` says, for each, whether it is usable and, if not, why.

# %%
available = {}
for name, (usable, reason) in mc.backends().items():
    available[name] = usable
    print(f"{name:>6}: {'available' if usable else 'not available: ' + reason}")
assert available["numpy"]
cpu_backends = [name for name in ("numpy", "numba") if available[name]]

# %% [markdown]
# ## Timing fairly, 1: the same threads, and the machine written down
#
# minicnn's own pool, NumPy's BLAS (the matrix products) and Numba each
# have a thread count; two backends compared with different thread counts
# compare the thread counts. `limit_threads` gives every library the same
# number, and
# `machine_info` records what the numbers came from, including the load
# average: other programs running at the same time slow everything down.

# %%
threads_report = limit_threads(1)
info = machine_info(threads_report)
print(f"CPU: {info['cpu_model']}, {info['usable_cores']} usable cores, {info['ram_gib']:.0f} GiB; "
      f"load average {[round(v, 1) for v in info['load_average_before']]}")
print("versions:", {k: v for k, v in info["versions"].items() if v})
print("threads:", {"minicnn": threads_report["minicnn"],
                   "BLAS": [b.get("num_threads") for b in threads_report["blas"]],
                   "numba": threads_report.get("numba")})
assert mc.get_num_threads() == 1

# %% [markdown]
# ## Timing fairly, 1b: idle threads and the rest of the process
#
# After a matrix product OpenBLAS's threads keep polling for more work, and
# OpenMP's threads do the same after a parallel loop: if minicnn's loops and
# products ran on two such pools, on a machine with few cores each would
# steal the cores the other one needs next. So minicnn runs both on one pool
# of its own (`minicnn/engine/threads.py`, `mc.set_num_threads(n)`), and
# `import minicnn` changes nothing else in the process: no environment
# variable, no allocator setting. A benchmark measures what a user gets, so
# it does not tune the process either. `minicnn.engine.process.tune()` is the
# explicit, optional call that would (read `minicnn/engine/process.py`: what
# it changes, for every library in the process); `settings()` says whether
# anything called it here.

# %%
process_settings = process.settings()
for part, state in process_settings.items():
    print(f"{part:>6}: {state}")
assert process_settings["tuned"] is False

# %% [markdown]
# ## Timing fairly, 2: the first call is different
#
# The first call of a Numba kernel loads its compiled machine code (and,
# the very first time on a machine, compiles it); NumPy and the operating
# system fill caches and memory pools. None of that happens in a steady
# training loop, so the first calls must not be timed. (Numba keeps what
# it compiled on disk, so after the first run on a machine only loading
# remains.)

# %%
rng = np.random.default_rng(0)
batch = 8 if FAST else 64
x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
y = rng.integers(0, 10, batch)


def one_step(backend_name, model, x_on_device, y_on_device):
    """Forward, loss and backward of one batch (no optimizer step: the weights stay put)."""
    with mc.using_backend(backend_name):
        model.zero_grad()
        F.cross_entropy(model(x_on_device), y_on_device).backward()


for name in cpu_backends:
    with mc.using_backend(name):
        mc.manual_seed(0)
        model = get_model("zfnet_small")
        x_on_device, y_on_device = mc.tensor(x), mc.tensor(y).data
    times = []
    for _ in range(3):
        with Stopwatch() as clock:
            one_step(name, model, x_on_device, y_on_device)
        times.append(clock.seconds)
    print(f"{name:>6}: first three training steps " + ", ".join(f"{t * 1e3:.0f} ms" for t in times))

# %% [markdown]
# ## Same model, same numbers
#
# One forward and backward pass of `zfnet_small` on a batch, once per
# backend, from the same weights and inputs. The compiled kernels do the
# same arithmetic in the same order as the reference, so the loss and
# every gradient should agree, here to the last bit.

# %%
def loss_and_gradients(backend_name):
    with mc.using_backend(backend_name):
        mc.manual_seed(0)
        model = get_model("zfnet_small").eval()       # eval: no dropout, so both runs are deterministic
        x_on_device = mc.tensor(x)
        loss = F.cross_entropy(model(x_on_device), mc.tensor(y).data)
        loss.backward()
        return loss.item(), [mc.to_numpy(p.grad) for p in model.parameters()]


results = {name: loss_and_gradients(name) for name in cpu_backends + (["cupy"] if available["cupy"] else [])}
reference_loss, reference_grads = results["numpy"]
for name, (loss, grads) in results.items():
    worst = max(float(np.abs(g - r).max()) for g, r in zip(grads, reference_grads))
    identical = loss == reference_loss and all(np.array_equal(g, r) for g, r in zip(grads, reference_grads))
    print(f"{name:>6}: loss {loss:.6f}; largest gradient difference from numpy {worst:.1e}; bit for bit: {identical}")
    assert np.isclose(loss, reference_loss, rtol=1e-5)
    assert all(np.allclose(g, r, rtol=1e-4, atol=1e-6) for g, r in zip(grads, reference_grads))

# %% [markdown]
# Always check before you time: a fast wrong answer is not a result.
# minicnn's benchmark harness refuses to time a backend whose output
# differs from the NumPy reference (`minicnn/bench/harness.py`).

# %% [markdown]
# ## Timing fairly, 3: many samples, the median, the spread
#
# `minicnn.bench.timing.measure` warms up, picks how many calls make one
# sample last long enough for the clock, takes several samples and
# reports the median (robust to a sample disturbed by another process),
# the minimum, and the interquartile range (IQR: a wide one says the
# machine was busy). On a GPU it also synchronises before reading the
# clock, since GPU work is queued and runs later. We use it from here on.
#
# Do more threads help? For one large matrix product, yes. For a training
# step of a small network, made of many small operations, the threads
# spend much of their time waiting for each other, and on a machine where
# other programs hold cores the waiting can make things slower, not
# faster. (That is why the tutorials default to one BLAS thread: see
# `tutorials/common.py`.)

# %%
repeat = 3 if FAST else 7
size = 256 if FAST else 768
a = rng.standard_normal((size, size)).astype(np.float32)
b = rng.standard_normal((size, size)).astype(np.float32)
mc.manual_seed(0)
model = get_model("zfnet_small")
x_on_device, y_on_device = mc.tensor(x), mc.tensor(y).data
thread_counts = sorted({1, min(2, os.cpu_count() or 1)})
thread_results = {}
for count in thread_counts:
    limit_threads(count)
    gemm = measure(lambda: a @ b, repeat=repeat)
    step = measure(lambda: one_step("numpy", model, x_on_device, y_on_device), repeat=repeat, warmup=1)
    thread_results[count] = (gemm, step)
    print(f"{count} BLAS thread(s): {size}x{size} matrix product {gemm.median_s * 1e3:.2f} ms "
          f"(IQR {gemm.iqr_s * 1e3:.2f}); zfnet_small training step, batch {batch}: "
          f"{step.median_s * 1e3:.1f} ms (IQR {step.iqr_s * 1e3:.1f})")
limit_threads(1)                                                     # back to the tutorials' default

# %% [markdown]
# ## Where a training step spends its time
#
# `profile_training_step` wraps a timer around every op's forward and
# backward, every hot-loop kernel and the optimizer, and runs a few
# training steps. On NumPy, the convolutions (im2col, the matrix products,
# col2im) and max pooling dominate; Numba's compiled loops shrink the
# scatter and gather kernels (col2im, pooling, LRN), leaving the matrix
# products, which both backends hand to the same BLAS. On Numba,
# zfnet_small's 3x3 layers are also computed by Winograd's F(2x2, 3x3)
# (minicnn/engine/kernels/winograd.py): each 2x2 tile of output from the
# 4x4 input tile under it, with 2.25 times fewer multiply-adds in those
# products; the profile lists them as "conv2d by winograd F(2x2,3x3)"; from
# 32 images on, by F(4x4, 3x3) (kernels/winograd_4x4.py), 4x4 tiles of
# output and 4 times fewer multiply-adds. Its
# first convolution, pool and ReLU run as one op ("conv2d+max_pool2d+relu by
# direct, pooled in cache": no im2col, the pooled maxima put through the ReLU
# while in the cache, the gradients read at the pool's switches) and its LRN layers take the power 3/4 by square roots
# ("local_response_norm by square roots (beta 3/4)"): every such *route* is
# named where it runs (minicnn/engine/kernels/routes.py), and the figure
# below adds each op's routes to the op.

# %%
profiles = {}
for name in cpu_backends:
    profiles[name] = profile_training_step("zfnet_small", name, batch=batch, steps=2 if FAST else 5,
                                           warmup=1 if FAST else 2)
    print(table(profiles[name]))
    assert profiles[name]["step_ms_median"] > 0

parts = ["conv2d forward", "conv2d backward", "max_pool2d forward", "max_pool2d backward",
         "local_response_norm forward", "local_response_norm backward"]


def op_time(per_step, part):
    """ms of one op and direction, its routes included ("conv2d by ...", the fused
    "conv2d+max_pool2d+relu by ..." counted as convolution)."""
    op, direction = part.rsplit(" ", 1)
    return sum(ms for key, ms in per_step.items()
               if key.startswith(op) and key.endswith(" " + direction))


fig, ax = plt.subplots(figsize=(8, 3.4))
for row, name in enumerate(cpu_backends):
    left = 0.0
    per_step = profiles[name]["ms_per_step"]
    for index, part in enumerate(parts + ["everything else"]):
        value = (op_time(per_step, part) if part != "everything else"
                 else profiles[name]["step_ms_instrumented"] - sum(op_time(per_step, p) for p in parts))
        ax.barh(row, value, left=left, color=f"C{index}", label=part if row == 0 else None)
        left += value
ax.set_yticks(range(len(cpu_backends)), cpu_backends)
ax.set_xlabel("milliseconds per training step")
ax.set_title(f"zfnet_small, batch {batch}: where the time goes", fontsize=10)
ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4)
savefig(fig, "13_profile.png")

# %% [markdown]
# ## Kernel by kernel
#
# The same kernels on a workload of `zfnet_small`'s size, through the
# dispatcher (`minicnn.engine.kernels`), each backend timed the fair way. The
# results are compared with the reference before timing.

# %%
n = 8 if FAST else 64
conv_input = rng.standard_normal((n, 16, 28, 28)).astype(np.float32)
cols = kernels.im2col_col2im.im2col(conv_input, (3, 3), (1, 1), (1, 1), (28, 28))
pool_input = rng.standard_normal((n, 16, 28, 28)).astype(np.float32)
_, switches = kernels.pooling.maxpool_forward(pool_input, (3, 3), (2, 2), (0, 0), (14, 14))
pooled = rng.standard_normal(switches.shape).astype(np.float32)
cases = {
    "im2col 3x3": lambda: kernels.im2col(conv_input, (3, 3), (1, 1), (1, 1), (28, 28)),
    "col2im 3x3": lambda: kernels.col2im(cols, conv_input.shape, (3, 3), (1, 1), (1, 1)),
    "max pool 3x3/2": lambda: kernels.maxpool_forward(pool_input, (3, 3), (2, 2), (0, 0), (14, 14)),
    "unpool (scatter)": lambda: kernels.maxpool_scatter(pooled, switches, pool_input.shape),
    "LRN forward, n=5": lambda: kernels.lrn_forward(conv_input, 5, 1e-4, 0.75, 2.0),
}
def as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


kernel_times = {name: {} for name in cases}
for case, function in cases.items():
    with mc.using_backend("numpy"):
        expected = as_tuple(function())
    for name in cpu_backends:
        with mc.using_backend(name):
            for want, have in zip(expected, as_tuple(function())):
                assert np.allclose(have, want, rtol=1e-5, atol=1e-6), (case, name)     # check, then time
            kernel_times[case][name] = measure(function, repeat=repeat).median_s
    print(f"{case:>18}: " + ", ".join(f"{name} {seconds * 1e3:.2f} ms" for name, seconds in kernel_times[case].items()))

fig, ax = plt.subplots(figsize=(8, 3.4))
width = 0.8 / len(cpu_backends)
for index, name in enumerate(cpu_backends):
    ax.bar(np.arange(len(cases)) + index * width, [kernel_times[c][name] * 1e3 for c in cases], width, label=name)
ax.set_xticks(np.arange(len(cases)) + width * (len(cpu_backends) - 1) / 2, list(cases), fontsize=8)
ax.set_ylabel("median ms per call")
ax.set_yscale("log")
ax.set_title(f"Hot-loop kernels, batch {n}, 16 channels at 28x28", fontsize=10)
ax.legend()
savefig(fig, "13_kernels.png")

# %% [markdown]
# ## CPU against GPU
#
# On a machine with an NVIDIA GPU and CuPy, the same code runs on the GPU:
# `mc.set_backend("cupy")` (or `MINICNN_BACKEND=cupy`), `model.to("gpu")`,
# and `mc.tensor(x)` puts inputs there. Every array then lives in GPU
# memory; the matrix products go to cuBLAS, the loops to the CUDA twins
# (`*_cuda` in each family file of `minicnn/engine/kernels/`) where `KERNELS`
# uses one, and to the CuPy references elsewhere. Time it with a
# synchronisation before each clock reading (`measure(..., synchronize=...)`),
# or you time only the queueing of the work.

# %%
if available["cupy"]:
    import cupy

    with mc.using_backend("cupy"):
        mc.manual_seed(0)
        gpu_model = get_model("zfnet_small").to("gpu")
        gpu_x, gpu_y = mc.tensor(x), mc.tensor(y).data
        gpu_step = measure(lambda: one_step("cupy", gpu_model, gpu_x, gpu_y), repeat=repeat,
                           synchronize=cupy.cuda.Device().synchronize)
    cpu_step = min(profiles[name]["step_ms_median"] for name in cpu_backends)
    print(f"training step, batch {batch}: GPU {gpu_step.median_s * 1e3:.1f} ms, best CPU {cpu_step:.1f} ms")
else:
    print("No GPU backend here:", mc.backends()["cupy"][1])
    print("On a GPU machine: python benchmarks/run.py --out benchmarks/results/gpu-<date> "
          "(ops, models, scaling; see benchmarks/README.md)")

# %% [markdown]
# Expect the GPU to win by a wide margin on large batches and images
# (ZFNet at 224x224) and to gain little on 28x28 images in small batches,
# where launching each small kernel costs more than its arithmetic.
# `benchmarks/run.py` measures both, with PyTorch alongside as a yardstick.
#
# ## What to remember
#
# * backends must agree before they are compared; minicnn's agree to the bit;
# * time the steady state: warm up, take several samples, quote the median
#   and look at the spread; synchronise a GPU before reading the clock;
# * compare with the same thread counts, and write down the machine and its load;
# * two thread pools taking turns on few cores cost real time: minicnn shares
#   out its loops and products on one pool of its own and leaves the rest of
#   the process alone (minicnn/engine/process.py's tune() is yours to call);
# * profile before optimising: the slow part is rarely where you guess.
