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
# # 14. Data parallelism: the same run on one process or many
#
# ZFNet trained for twelve days on one GPU. When a model or its data
# outgrows one machine, the first thing to try is *data parallelism*: K
# workers (the *ranks* 0 .. K-1), each holding the whole model, each taking
# its share of every batch; their gradients are summed, and every rank
# applies the same update. Done right, it is the same run as on one worker,
# only faster, as long as summing the gradients costs less than the
# computing it saves.
#
# This lesson shows why the sum of the shards' gradients is the batch's
# gradient, where minicnn sums them, what one sum costs on a network
# (alpha + beta n), how the ring all-reduce keeps that cost from growing
# with K, and when communication eats the speed-up.
#
# Run it as one process, or as two with MPI (`pip install minicnn[mpi]`):
#
#     python tutorials/14_data_parallelism.py
#     mpiexec -n 2 python tutorials/14_data_parallelism.py
#
# Where it lives in minicnn: `minicnn/distributed/` (`communicator.py`: the
# ranks and their collective operations; `sharding.py`: who takes which
# rows; `gradients.py`: the one flat buffer and its all-reduce; `faults.py`:
# a failing rank stops the job; `nccl.py`: the GPU path),
# `minicnn/training/loop.py` (`fit(..., communicator=...)`), and
# `benchmarks/distributed.py` (the measurements and the scaling predictions).

# %%
from common import FAST, Stopwatch, fashion_subset, savefig   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt

import minicnn as mc
from minicnn import functional as F
from minicnn.distributed import abort_on_uncaught_exception, check_ranks_agree, share, world
from minicnn.models import get_model
from minicnn.training.loop import fit

communicator = world()                       # MPI's ranks under mpiexec, else this process alone
abort_on_uncaught_exception(communicator)    # a rank that fails stops them all (faults.py)
RANK, RANKS = communicator.rank, communicator.size


def say(*parts):
    """print, on rank 0 only: K ranks would print every line K times."""
    if RANK == 0:
        print(*parts, flush=True)


say(f"running as {RANKS} rank(s) with the {communicator.name} communicator")

# %% [markdown]
# ## 1. The gradient of a batch is the sum of its shards' gradients
#
# The loss of a batch of B images is the mean of the images' losses,
# L(w) = (1/B) sum_i l_i(w). Differentiation is linear, so
#
#     grad L = (1/B) sum_i grad l_i  =  sum_r (b_r / B) grad L_r
#
# where rank r holds b_r of the images and L_r is the mean loss over its
# own images. Each rank computes grad L_r on its share; one weighted sum
# over the ranks gives every rank the whole batch's gradient. Nothing in
# the model may mix the images of a batch for this to hold: no batch
# normalization (minicnn has none; frameworks that do keep per-rank
# statistics or synchronise them).
#
# Check it: 11 Fashion-MNIST images and keras_mnist_cnn in float64, the
# batch split by `share` into 3 shares of 4, 4 and 3 images (shares differ
# by at most one image; minicnn/distributed/sharding.py).

# %%
images, labels, classes = fashion_subset("train", 2)
images, labels = images[:11].astype(np.float64), labels[:11]   # 11 images: shares of 4, 4 and 3
mc.manual_seed(0)
model = get_model("keras_mnist_cnn").to("float64")


def gradients_of(model, x, y):
    """The mean-loss gradient of (x, y), one array per parameter."""
    model.zero_grad()
    F.cross_entropy(model(mc.tensor(x)), y).backward()
    return [p.grad.copy() for p in model.parameters()]


whole = gradients_of(model, images, labels)
summed = [np.zeros_like(g) for g in whole]
for rank in range(3):
    rows = share(len(labels), rank, 3)
    weight = (rows.stop - rows.start) / len(labels)                  # b_r / B
    for total, g in zip(summed, gradients_of(model, images[rows], labels[rows])):
        total += weight * g
    say(f"share {rank}: rows {rows.start}:{rows.stop}, weight {weight:.4f}")
difference = max(np.abs(a - b).max() / np.abs(a).max() for a, b in zip(whole, summed))
say(f"float64: largest difference, relative to the gradient's size: {difference:.1e}")
assert difference < 1e-13

# %% [markdown]
# Equal, up to the last digits: the two computations add the same
# per-image terms in a different order (inside the matrix products, then
# across the shares), and floating-point addition is not associative:
# (a + b) + c and a + (b + c) can differ in the last bit. In float32 the
# last bit is 2^-24, about 6e-8:

# %%
model32 = get_model("keras_mnist_cnn")
model32.load_state_dict(model.state_dict())
whole32 = gradients_of(model32, images.astype(np.float32), labels)
summed32 = [np.zeros_like(g) for g in whole32]
for rank in range(3):
    rows = share(len(labels), rank, 3)
    for total, g in zip(summed32, gradients_of(model32, images[rows].astype(np.float32), labels[rows])):
        total += np.float32((rows.stop - rows.start) / len(labels)) * g
difference32 = max(np.abs(a - b).max() / np.abs(a).max() for a, b in zip(whole32, summed32))
say(f"float32: largest relative difference {difference32:.1e}")
assert difference32 < 1e-5

# %% [markdown]
# Over many steps these last-bit differences stay last-bit in float64 (the
# tests train 36 steps on 1, 2 and 3 ranks and find the weights within
# about 1e-15 of each other). In float32 they do not stay small forever: a
# ReLU input or a max-pool pair that is equal to within 1e-7 may go one way
# in one run and the other way in the other, and from there the two runs
# drift apart like two runs whose initial weights differ in one bit. The
# README ("Data parallelism") has the measured one-epoch comparison. To make
# it yourself, train in float64 (`minicnn train` trains in float32 unless told):
#
#     python -m minicnn train --model keras_mnist_cnn --epochs 1 --dtype float64 --out runs/one
#     mpiexec -n 2 python -m minicnn train --model keras_mnist_cnn --epochs 1 --dtype float64 \
#         --out runs/two --distributed
#
# and the two checkpoints' weights agree to round-off, with the same test accuracy.

# %% [markdown]
# ## 2. Where the sum sits: between backward and step
#
# `fit(..., communicator=...)` (minicnn/training/loop.py) does, for every
# global batch x of B images (`--batch-size` is always the global batch):
#
#     rows = share(B, rank, size)                  this rank's rows
#     with rng.drawing_for_batch(rows, B):         dropout: the whole batch's draws, these rows
#         logits = model(tensor(x[rows]))
#     loss = cross_entropy(logits, y[rows])        mean over this rank's rows
#     loss.backward()
#     gradients.allreduce(weight=b_r / B)          the one all-reduce of the step
#     optimizer.step()                             the same update on every rank
#
# `GradientAllReduce` copies every parameter's gradient into one flat buffer
# (P numbers), sums it over the ranks with one all-reduce, and hands each
# parameter its slice back. Rank 0's initial weights are broadcast first,
# so every rank starts, and stays, identical. Here is one real run: a
# fraction of Fashion-MNIST, one epoch, on however many ranks this
# lesson was started with.

# %%
per_class = 20 if FAST else 300
x_train, y_train, _ = fashion_subset("train", per_class)
x_val, y_val, _ = fashion_subset("test", 10 if FAST else 50)
mc.manual_seed(RANK)                     # different weights on each rank: the broadcast must fix it
model = get_model("keras_mnist_cnn")
history = fit(model, (x_train, y_train), (x_val, y_val), epochs=1, batch_size=64, lr=0.01,
              progress=False, communicator=communicator)
digest = check_ranks_agree(model.parameters(), communicator)    # every rank holds the same weights
record = history.to_dict()["epochs"][0]
parameters = sum(p.size for p in model.parameters())
say(f"{RANKS} rank(s), {len(y_train)} images: train loss {record['train_loss']:.3f}, "
    f"val accuracy {record['val_accuracy']:.3f}, {record['images_per_second']:.0f} images/s")
say(f"weights identical on every rank (sha256 {digest[:12]}...); each step all-reduced "
    f"{parameters:,} float32 values = {parameters * 4 / 1e6:.2f} MB")

# %% [markdown]
# ## 3. What one all-reduce costs: alpha + beta n
#
# Sending n bytes costs a fixed start-up time alpha (latency: software,
# the network card, the switch) plus n times beta, the time per byte
# (1 / bandwidth). An all-reduce is a sequence of such messages, so its
# time is, to first order, alpha' + beta' n for some alpha' and beta'.
# Under mpiexec this cell measures it on this machine: ranks on one
# machine talk through shared memory, so alpha is microseconds and beta
# is set by memory copies. The model is a first approximation: MPI
# libraries switch protocols as messages grow (small ones are copied
# eagerly, large ones after a handshake), and caches make some sizes
# cheaper than the line says. (On one process there is nothing to send:
# run the lesson with `mpiexec -n 2` to see this machine's numbers.)

# %%
sizes = 2 ** np.arange(8, 19 if FAST else 23, 2)          # float32 values per all-reduce
measured = []
if RANKS > 1:
    for n in sizes:
        buffer = np.ones(n, np.float32)
        repeats = 5 if FAST else 30
        communicator.allreduce_sum(buffer)                  # warm-up
        communicator.barrier()
        with Stopwatch() as clock:
            for _ in range(repeats):
                communicator.allreduce_sum(buffer)
        times = communicator.allgather(clock.seconds / repeats)
        measured.append(max(times))                         # the slowest rank sets the pace
    nbytes, measured = sizes * 4.0, np.array(measured)
    # time = alpha + beta * bytes, fitted to relative errors (w = 1/time) so that the small
    # messages, which show alpha, count as much as the large ones, which show beta
    beta, alpha = np.polyfit(nbytes, measured, 1, w=1 / measured)
    say(f"fit over {len(sizes)} sizes: alpha = {alpha * 1e6:.1f} us, beta = {beta * 1e9:.3f} ns/byte "
        f"({1 / beta / 1e9:.2f} GB/s)")
    assert beta > 0
    for n, seconds in zip(sizes, measured):
        say(f"  {n * 4 / 1e3:10.1f} kB: {seconds * 1e6:9.1f} us")
else:
    say("one process: nothing to measure (run with mpiexec -n 2)")

# %% [markdown]
# ## 4. The ring all-reduce: 2 (K-1)/K n bytes per rank, whatever K
#
# The naive all-reduce sends every buffer to rank 0, which adds them and
# sends the sum back: rank 0 moves 2 (K-1) n bytes, and the time grows
# with K. The *ring* all-reduce (Patarasuk and Yuan 2009; what NCCL and MPI
# libraries use for large buffers, docs/sources.md) arranges the ranks in a
# ring and cuts each buffer into K chunks. In K-1 steps of *reduce-scatter*,
# each rank sends one chunk to its right neighbour and adds the chunk that
# arrives from its left; afterwards rank r holds the full sum of chunk
# r+1. In K-1 steps of *all-gather*, the finished chunks travel once more
# round the ring. Every rank sends 2 (K-1) chunks of n/K bytes:
#
#     bytes per rank = 2 (K-1)/K n      (less than 2n for any K)
#     time           = 2 (K-1) alpha + 2 (K-1)/K n beta
#
# Here is the algorithm, simulated with K lists in one process, checked
# against the plain sum and counting the bytes each rank sends:


# %%
def ring_allreduce(buffers):
    """Sum K equal-length arrays the ring way; returns (the K results, bytes sent by each rank)."""
    count = len(buffers)
    chunks = [np.array_split(b.astype(np.float64), count) for b in buffers]
    sent = [0] * count
    for step in range(count - 1):                           # reduce-scatter
        outgoing = [chunks[r][(r - step) % count].copy() for r in range(count)]
        for r in range(count):
            left = (r - 1) % count
            chunks[r][(left - step) % count] += outgoing[left]
            sent[left] += outgoing[left].nbytes
    for step in range(count - 1):                           # all-gather: finished chunks go round
        outgoing = [chunks[r][(r + 1 - step) % count].copy() for r in range(count)]
        for r in range(count):
            left = (r - 1) % count
            chunks[r][(left + 1 - step) % count] = outgoing[left]
            sent[left] += outgoing[left].nbytes
    return [np.concatenate(c) for c in chunks], sent


values = 1200
for count in (2, 4, 8):
    buffers = [np.random.default_rng(r).standard_normal(values) for r in range(count)]
    results, sent = ring_allreduce(buffers)
    assert all(np.allclose(result, sum(buffers)) for result in results)
    expected = 2 * (count - 1) / count * values * 8
    assert all(abs(s - expected) <= 2 * (count - 1) * 8 for s in sent)   # chunks differ by at most one value
    say(f"K = {count}: every rank holds the sum; each sent {sent[0]:,} bytes "
        f"(2 (K-1)/K n = {expected:,.0f}; naive: rank 0 moves {2 * (count - 1) * values * 8:,})")

# %% [markdown]
# ## 5. When communication dominates
#
# With the global batch B fixed, K ranks each compute B/K images, so the
# computing time of a step falls as 1/K while the all-reduce of P
# parameters costs about the same for every K:
#
#     t_step(K) = t_compute(B) / K + 2 (K-1) alpha + 2 (K-1)/K * 4P bytes * beta
#     speed-up  = t_step(1) / t_step(K)
#
# So what decides is the ratio of computation to parameters. A fully
# connected layer does 2 multiply-adds per weight per image; a convolution
# reuses each weight at every output position (26 x 26 = 676 times in
# keras_mnist_cnn's first layer). Convnets compute much for their size and
# scale well; fully connected giants (AlexNet's and ZFNet's 4096-wide
# layers hold most of their 60 million weights) stop scaling early. Below:
# keras_mnist_cnn's measured step time on this machine and its 93,322
# parameters, on 10 and 100 Gbit/s networks (alpha = 10 us assumed, a
# typical Ethernet figure; `benchmarks/distributed.py` does the same for
# zfnet_small and ZFNet, from measured step times).

# %%
batch = 16 if FAST else 64
x_step, y_step = x_train[:batch], y_train[:batch]
model = get_model("keras_mnist_cnn")
optimizer = mc.optim.SGD(model.parameters(), 0.01, 0.9)


def one_step():
    optimizer.zero_grad()
    F.cross_entropy(model(mc.tensor(x_step)), y_step).backward()
    optimizer.step()


one_step()                                                   # warm-up (compiled kernels load)
steps = 2 if FAST else 10
with Stopwatch() as clock:
    for _ in range(steps):
        one_step()
compute = clock.seconds / steps
say(f"keras_mnist_cnn, one rank: {compute * 1e3:.1f} ms per step of {batch} images")

workers = np.array([1, 2, 4, 8, 16, 32, 64])
figure, axis = plt.subplots(figsize=(6.5, 4))
for gbits, style in ((10, "--"), (100, "-")):
    beta_network = 1 / (gbits * 1e9 / 8)                     # seconds per byte
    communication = np.where(workers > 1, 2 * (workers - 1) * 10e-6
                             + 2 * (workers - 1) / workers * 4 * parameters * beta_network, 0.0)
    step_time = compute / workers + communication
    speedup = compute / step_time
    axis.plot(workers, speedup, style, marker="o", label=f"keras_mnist_cnn, {gbits} Gbit/s")
    say(f"{gbits:>3} Gbit/s: speed-up " + ", ".join(f"K={k}: {s:.1f}" for k, s in zip(workers, speedup))
        + f"; the all-reduce is {communication[-1] / step_time[-1]:.0%} of a step at K=64")
axis.plot(workers, workers, ":", color="gray", label="perfect (K)")
axis.set(xscale="log", yscale="log", xlabel="ranks K", ylabel="speed-up over one rank",
         title=f"Fixed global batch of {batch}: ring all-reduce model")
axis.legend(fontsize=8)
if RANK == 0:
    savefig(figure, "14_data_parallel_speedup.png")
plt.close(figure)

# %% [markdown]
# A small model on a slow network is the worst case: keras_mnist_cnn's
# step is milliseconds of computation, so even 0.4 MB of gradients on 10
# Gbit/s is a large part of it, and beyond a few ranks the per-message
# latency alone (2 (K-1) alpha) costs more than the computation left to
# share. What helps: a faster network, a bigger batch per rank (more
# computation per all-reduce), fewer, larger messages (one flat buffer, not
# one per parameter: the alpha term), and overlapping the all-reduce with
# the backward pass (PyTorch's DDP does; minicnn keeps the steps apart to
# stay readable).
#
# ## What stays the same on one process or many
#
# - `--batch-size` is the global batch; each rank computes a disjoint share.
# - The update is the single process's update (the weights b_r / B).
# - Dropout and augmentation draw per image of the global batch: every rank
#   draws the whole batch's random numbers and keeps its rows
#   (`rng.drawing_for_batch`), so each image gets the numbers it gets on one process.
# - Rank 0 alone writes the checkpoint, so a checkpoint written by K ranks
#   resumes on any number of ranks, one included.
# - A rank that raises prints its rank and the reason and aborts the job
#   (`faults.py`); a killed rank makes mpiexec end the others.
#
# The README's "Data parallelism" section shows the command line:
#
#     mpiexec -n 2 python -m minicnn train --distributed --model keras_mnist_cnn --batch-size 64
