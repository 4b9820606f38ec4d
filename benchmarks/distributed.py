"""Data-parallel training on this machine, measured, and its scaling on a cluster, predicted.

    python benchmarks/distributed.py                 # about 5 minutes on 2 cores
    python benchmarks/distributed.py --quick         # a smoke test, about a minute

Needs MPI (``pip install minicnn[mpi]``). Writes
benchmarks/results/distributed-<cpu|gpu>-<date>.{md,json,png} with the machine.

What it measures, each in fresh processes started by mpiexec, one thread per
rank (OPENBLAS_NUM_THREADS=NUMBA_NUM_THREADS=1: two ranks on two cores):

1. Training images/s of ``fit`` on 1 process and on 2 ranks, for
   keras_mnist_cnn and zfnet_small, the same global batch (64) and the same
   Fashion-MNIST images; in rounds, alternating, medians reported (other
   programs share the machine). Each 2-rank run also times its gradient
   all-reduces (and, apart, the wait for the slower rank, a barrier just
   before each all-reduce), so the share of a step spent communicating is
   known. Before anything is timed, 8 steps of each model in float64 on 1
   process and on 2 ranks must give the same weights to round-off (1e-12
   relative); the timed float32 runs' weight differences are reported too
   (float32 runs drift apart further: tests/test_distributed.py says why).
2. One all-reduce of n bytes on 2 ranks, n from 1 kB to 64 MB: the time,
   alpha and beta of the cost model alpha + beta n (fitted to relative
   errors), and the bandwidth: algorithm bandwidth n / t, and bus bandwidth
   2 (K-1)/K n / t, the bytes each rank actually moves in a ring all-reduce.
3. One flat buffer against one all-reduce per parameter tensor and against
   buckets, for the gradients of keras_mnist_cnn and zfnet_small.
4. The single-worker step time of zfnet_small (batch 64, 28x28) and of full
   ZFNet (224x224x3, timed at a small batch and taken per image).

What it predicts (on paper, the ring cost model of tutorial 14) for 1-64
workers as fast as one core of this machine, on 10 and 100 Gbit/s networks:

    t_comm(K) = 2 (K-1) alpha + 2 (K-1)/K * 4P bytes / bandwidth
    fixed global batch B (strong scaling):  t(K) = t_image B / K + t_comm(K)
    fixed batch per worker b (weak scaling): t(K) = t_image b + t_comm(K)

with t_image the measured time per image of one worker, P the parameter
count, alpha 10 microseconds (an assumed typical Ethernet latency; the
measured shared-memory alpha is in the results). ZFNet trained with
B = 128 (docs/sources.md section 4). A CPU core computes so slowly that
ZFNet's 250 MB of gradients hardly matter; so the same prediction is made
for workers as fast as minicnn on an H100 GPU, from the committed ZFNet
forward+backward time in GPU_RESULTS (where communication matters a lot).
"""

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
NETWORKS_GBIT = (10, 100)
ASSUMED_ALPHA_S = 10e-6
WORKERS = (1, 2, 4, 8, 16, 32, 64)
GPU_RESULTS = ROOT / "benchmarks" / "results" / "gpu-h100-2026-11-22" / "results.json"


def gpu_zfnet_worker():
    """ZFNet's forward+backward per image on minicnn's cupy backend, from GPU_RESULTS, or None."""
    if not GPU_RESULTS.exists():
        return None
    document = json.loads(GPU_RESULTS.read_text())
    for case in document["cases"]:
        if case["name"] == "forward+backward" and case["params"]["model"] == "zfnet":
            for result in case["results"]:
                if result["backend"] == "cupy":
                    return {"model": "zfnet (H100 worker)", "batch": case["params"]["batch"],
                            "seconds_per_image": result["timing"]["median_ms"] / 1e3 / case["params"]["batch"],
                            "parameters": case["params"]["parameters"], "gpu": document["machine"]["gpu"]["name"],
                            "source": str(GPU_RESULTS.relative_to(ROOT))}
    return None


# ----- the workers: run under mpiexec (or alone), write JSON -----------------------------------
def worker_train(arguments):
    """fit for one epoch of ``steps`` global batches; rank 0 writes images/s, all-reduce times, weights."""
    import numpy

    import minicnn as mc
    from minicnn.data import load_dataset, mean_std, normalize, to_float
    from minicnn.distributed import Communicator, abort_on_uncaught_exception, check_ranks_agree, world
    from minicnn.models import get_model
    from minicnn.training.loop import fit

    real = world()
    abort_on_uncaught_exception(real)

    class Timed(Communicator):
        """The real communicator, with the gradient all-reduces (buffers of more than 3 values) timed."""

        def __init__(self, inner):
            self.inner, self.rank, self.size, self.name = inner, inner.rank, inner.size, inner.name
            self.wait_s, self.allreduce_s, self.calls = 0.0, 0.0, 0

        def allreduce_sum(self, buffer):
            if buffer.size <= 3 or self.size == 1:          # the epoch's loss and counts: not a step's cost
                return self.inner.allreduce_sum(buffer)
            started = time.perf_counter()
            self.inner.barrier()                            # waiting for the slower rank, apart
            arrived = time.perf_counter()
            self.inner.allreduce_sum(buffer)
            self.wait_s += arrived - started
            self.allreduce_s += time.perf_counter() - arrived
            self.calls += 1
            return buffer

        def broadcast(self, buffer, root=0):
            return self.inner.broadcast(buffer, root)

        def allgather(self, value):
            return self.inner.allgather(value)

        def barrier(self):
            self.inner.barrier()

        def abort(self, status=1):
            self.inner.abort(status)

    train = load_dataset("fashion-mnist", "train", verbose=False)
    count = (arguments.steps + 2) * arguments.batch
    images = normalize(to_float(train.images[:count]), *mean_std(train.images[:count])).astype(arguments.dtype)
    labels = train.labels[:count]
    warm, timed = slice(0, 2 * arguments.batch), slice(2 * arguments.batch, count)
    mc.manual_seed(0)
    model = get_model(arguments.model).to(arguments.dtype)
    fit(model, (images[warm], labels[warm]), epochs=1, batch_size=arguments.batch, progress=False,
        communicator=real)                                  # warm-up: compiled kernels load, memory pools fill
    mc.manual_seed(0)
    model = get_model(arguments.model).to(arguments.dtype)
    communicator = Timed(real)
    history = fit(model, (images[timed], labels[timed]), epochs=1, batch_size=arguments.batch,
                  progress=False, seed=0, communicator=communicator)
    check_ranks_agree(model.parameters(), real)
    per_rank = real.allgather((communicator.allreduce_s, communicator.wait_s, communicator.calls))
    if real.rank == 0:
        record = history.to_dict()["epochs"][0]
        steps = arguments.steps
        numpy.save(arguments.out + ".npy", numpy.concatenate([mc.to_numpy(p.data).ravel() for p in model.parameters()]))
        result = {
            "model": arguments.model, "ranks": real.size, "batch": arguments.batch, "steps": steps,
            "images_per_second": record["images_per_second"],
            "seconds_per_step": arguments.batch / record["images_per_second"],
            "allreduce_s_per_step": max(r[0] for r in per_rank) / steps,
            "wait_s_per_step": max(r[1] for r in per_rank) / steps,
            "allreduces_per_step": per_rank[0][2] / steps,
            "parameters": int(sum(p.size for p in model.parameters())),
            "train_loss": record["train_loss"],
        }
        pathlib.Path(arguments.out).write_text(json.dumps(result))


def worker_allreduce(arguments):
    """2+ ranks: time one all-reduce per size; then one flat buffer against buckets and per-parameter."""
    import numpy

    from minicnn.distributed import GradientAllReduce, abort_on_uncaught_exception, world
    from minicnn.models import get_model

    communicator = world()
    abort_on_uncaught_exception(communicator)

    def timed(function, nbytes):
        """The slowest rank's median time per call, over ``repeat`` samples that start at a barrier.

        Every rank must make the same number of calls (each is collective), so
        the calls per sample come from the message size, not from a per-rank
        calibration as in minicnn.bench.timing.measure.
        """
        number = max(1, min(200, int(4e6 // nbytes)))
        function()                                          # warm-up
        samples = []
        for _ in range(arguments.repeat):
            communicator.barrier()
            started = time.perf_counter()
            for _ in range(number):
                function()
            samples.append((time.perf_counter() - started) / number)
        return max(communicator.allgather(statistics.median(samples)))

    sizes = []
    for exponent in range(10, 27 if not arguments.quick else 23, 2):      # 1 kB .. 64 MB
        buffer = numpy.ones((2 ** exponent) // 4, numpy.float32)
        sizes.append({"bytes": buffer.nbytes,
                      "seconds": timed(lambda buffer=buffer: communicator.allreduce_sum(buffer), buffer.nbytes)})
    buckets = []
    for model_name in ("keras_mnist_cnn", "zfnet_small"):
        model = get_model(model_name)
        for parameter in model.parameters():
            parameter.grad = numpy.ones_like(parameter.data)
        parameters = model.parameters()
        rows = {"one flat buffer": GradientAllReduce(parameters, communicator)}
        for values in (2 ** 14, 2 ** 16):
            rows[f"buckets of {values:,} values"] = GradientAllReduce(parameters, communicator, values)
        for label, gradients in rows.items():
            seconds = timed(lambda gradients=gradients: gradients.allreduce(0.5), gradients.total * 4)
            buckets.append({"model": model_name, "how": label, "allreduces": len(gradients.buckets()),
                            "seconds": seconds})
        seconds = timed(lambda: [communicator.allreduce_sum(p.grad) for p in parameters],
                        sum(p.size for p in parameters) * 4)
        buckets.append({"model": model_name, "how": "one all-reduce per parameter tensor",
                        "allreduces": len(parameters), "seconds": seconds})
    if communicator.rank == 0:
        pathlib.Path(arguments.out).write_text(json.dumps({"ranks": communicator.size, "sizes": sizes,
                                                           "buckets": buckets}))


def worker_step(arguments):
    """One process: the median time of a training step (forward, backward, SGD) on random images."""
    import numpy

    import minicnn as mc
    from minicnn import functional as F
    from minicnn.bench.timing import measure
    from minicnn.models import get_model, input_shape

    mc.manual_seed(0)
    model = get_model(arguments.model)
    optimizer = mc.optim.SGD(model.parameters(), 0.01, 0.9)
    random = numpy.random.default_rng(0)
    images = mc.tensor(random.standard_normal((arguments.batch,) + input_shape(arguments.model)).astype(numpy.float32))
    labels = random.integers(0, 10, arguments.batch)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    timing = measure(step, warmup=1, repeat=arguments.repeat, min_sample_s=0.0)
    pathlib.Path(arguments.out).write_text(json.dumps({
        "model": arguments.model, "batch": arguments.batch, "seconds_per_step": timing.median_s,
        "seconds_per_image": timing.median_s / arguments.batch,
        "parameters": int(sum(p.size for p in model.parameters()))}))


# ----- the orchestra: start the workers, predict, write the results ---------------------------
def launch(ranks, worker_arguments, out, timeout):
    """Run this file as a worker on ``ranks`` ranks (1: a plain process); return its JSON."""
    from minicnn.distributed import mpiexec_command

    command = [sys.executable, str(pathlib.Path(__file__).resolve()), *worker_arguments, "--out", str(out)]
    if ranks > 1:
        command = mpiexec_command(ranks, command)
    env = dict(os.environ, **ONE_THREAD,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(pathlib.Path(out).read_text())


def communication_seconds(workers, parameters, gbits, alpha=ASSUMED_ALPHA_S):
    """Ring all-reduce of 4P bytes over ``workers`` ranks: 2 (K-1) alpha + 2 (K-1)/K 4P / bandwidth."""
    if workers == 1:
        return 0.0
    bandwidth = gbits * 1e9 / 8                                     # bytes per second
    return 2 * (workers - 1) * alpha + 2 * (workers - 1) / workers * 4 * parameters / bandwidth


def predict(model, seconds_per_image, parameters, global_batch, worker_batch):
    """Strong and weak scaling predictions for one model, both networks, every K in WORKERS."""
    rows = []
    for gbits in NETWORKS_GBIT:
        for workers in WORKERS:
            comm = communication_seconds(workers, parameters, gbits)
            strong = seconds_per_image * global_batch / workers + comm
            weak = seconds_per_image * worker_batch + comm
            rows.append({
                "model": model, "gbit_per_s": gbits, "workers": workers, "communication_s": comm,
                "strong_step_s": strong, "strong_speedup": seconds_per_image * global_batch / strong,
                "strong_communication_share": comm / strong,
                "weak_images_per_s": workers * worker_batch / weak,
                "weak_efficiency": seconds_per_image * worker_batch / weak,
            })
    return rows


def fit_alpha_beta(sizes):
    """time = alpha + beta * bytes, least squares on relative errors; returns (alpha s, beta s/byte)."""
    import numpy
    nbytes = numpy.array([row["bytes"] for row in sizes], float)
    seconds = numpy.array([row["seconds"] for row in sizes])
    beta, alpha = numpy.polyfit(nbytes, seconds, 1, w=1 / seconds)
    return float(alpha), float(beta)


def plot(predictions, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (strong_axis, weak_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model, color in (("zfnet_small", "tab:blue"), ("zfnet", "tab:red"), ("zfnet (H100 worker)", "tab:purple")):
        for gbits, style in ((10, "--"), (100, "-")):
            rows = [r for r in predictions if r["model"] == model and r["gbit_per_s"] == gbits]
            if not rows:
                continue
            workers = [r["workers"] for r in rows]
            strong_axis.plot(workers, [r["strong_speedup"] for r in rows], style, color=color, marker="o",
                             label=f"{model}, {gbits} Gbit/s")
            weak_axis.plot(workers, [r["weak_efficiency"] for r in rows], style, color=color, marker="o",
                           label=f"{model}, {gbits} Gbit/s")
    strong_axis.plot(WORKERS, WORKERS, ":", color="gray", label="perfect")
    strong_axis.set(xscale="log", yscale="log", xlabel="workers K", ylabel="speed-up over one worker",
                    title="Fixed global batch (zfnet_small 64, ZFNet 128)")
    strong_axis.set_ylim(bottom=0.1)
    weak_axis.set(xscale="log", xlabel="workers K", ylabel="efficiency (compute / step time)", ylim=(0, 1.05),
                  title="Fixed batch per worker (the same)")
    for axis in (strong_axis, weak_axis):
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle("Ring all-reduce model; workers as fast as one core of this machine, or as minicnn "
                    "on an H100 (committed GPU results)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(document):
    machine, lines = document["machine"], []
    lines += [f"# Data-parallel training: measured on {machine['cpu_model']}, predicted for a cluster", "",
              f"{document['date']}, `{document['command']}`; {machine['usable_cores']} usable cores, "
              f"load average before {[round(v, 1) for v in machine['load_average_before']]}; one thread per rank; "
              f"MPI: {document['mpi']}; minicnn {machine['versions']['minicnn']}, numpy {machine['versions']['numpy']}, "
              f"numba {machine['versions']['numba']}. Re-measure: `python benchmarks/distributed.py`.", "",
              "## The same run", "",
              "Checked before timing: " + "; ".join(
                  f"{row['model']}, {row['steps']} steps in {row['dtype']}, 2 ranks against 1 process: largest weight "
                  f"difference {row['relative_difference']:.1e} of the largest weight" for row in document["exactness"]) + ".", "",
              "## Training throughput, 1 process and 2 ranks (global batch 64, medians of the rounds)", "",
              "| model | ranks | images/s | step ms | all-reduce ms/step | waiting for the slower rank ms/step | share of the step | speed-up | max rel. weight difference vs 1 process |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in document["throughput"]:
        lines.append(f"| {row['model']} | {row['ranks']} | {row['images_per_second']:.0f} | {row['seconds_per_step'] * 1e3:.1f} "
                     f"| {row['allreduce_s_per_step'] * 1e3:.2f} | {row['wait_s_per_step'] * 1e3:.2f} "
                     f"| {row['communication_share']:.1%} | {row['speedup']:.2f} | {row['weight_difference']:.1e} |")
    alpha, beta = document["alpha_beta"]["alpha_s"], document["alpha_beta"]["beta_s_per_byte"]
    lines += ["", "Rounds (images/s, in order): " + "; ".join(
        f"{key}: {', '.join(f'{v:.0f}' for v in values)}" for key, values in document["rounds"].items()), "",
        "## One all-reduce on 2 ranks (shared memory)", "",
        f"Cost model fitted to relative errors: alpha = {alpha * 1e6:.1f} us, beta = {beta * 1e9:.3f} ns/byte "
        f"({1 / beta / 1e9:.2f} GB/s).", "",
        "| bytes | time us | algorithm bandwidth GB/s (n/t) | bus bandwidth GB/s (2(K-1)/K n/t) |", "|---|---|---|---|"]
    for row in document["allreduce"]["sizes"]:
        lines.append(f"| {row['bytes']:,} | {row['seconds'] * 1e6:.1f} | {row['algorithm_gb_s']:.2f} | {row['bus_gb_s']:.2f} |")
    lines += ["", "## One flat buffer against buckets and one all-reduce per parameter (2 ranks)", "",
              "| model | how | all-reduces | time us |", "|---|---|---|---|"]
    for row in document["allreduce"]["buckets"]:
        lines.append(f"| {row['model']} | {row['how']} | {row['allreduces']} | {row['seconds'] * 1e6:.1f} |")
    lines += ["", "## Predicted scaling (ring all-reduce, alpha 10 us assumed)", "",
              "Single-worker step times measured here: " + "; ".join(
                  f"{row['model']}: {row['seconds_per_image'] * 1e3:.2f} ms per image (timed at batch {row['batch']}), "
                  f"{row['parameters']:,} parameters" for row in document["single_worker"]) + "." + (
                  "" if not document["gpu_worker"] else
                  f" GPU worker: ZFNet forward+backward on minicnn's cupy backend, "
                  f"{document['gpu_worker']['seconds_per_image'] * 1e3:.3f} ms per image on an "
                  f"{document['gpu_worker']['gpu']} (batch {document['gpu_worker']['batch']}, "
                  f"from {document['gpu_worker']['source']}; the SGD update is not in that time)."), "",
              "| model | Gbit/s | K | all-reduce ms | fixed global batch: speed-up | its communication share | fixed batch per worker: efficiency |",
              "|---|---|---|---|---|---|---|"]
    for row in document["predictions"]:
        lines.append(f"| {row['model']} | {row['gbit_per_s']} | {row['workers']} | {row['communication_s'] * 1e3:.2f} "
                     f"| {row['strong_speedup']:.1f} | {row['strong_communication_share']:.0%} | {row['weak_efficiency']:.2f} |")
    lines += ["", f"![predicted scaling]({document['plot']})", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=("train", "allreduce", "step"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help="training steps timed per run (default 60)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating 1- and 2-rank rounds (default 3)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer steps, rounds and sizes: a smoke test")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    arguments = parser.parse_args()
    if arguments.worker:
        {"train": worker_train, "allreduce": worker_allreduce, "step": worker_step}[arguments.worker](arguments)
        return

    for name, value in ONE_THREAD.items():                 # this process too, before NumPy loads its BLAS
        os.environ[name] = value
    import numpy
    from minicnn.bench.machine import limit_threads, machine_info
    from minicnn.distributed import find_mpiexec, import_mpi

    if find_mpiexec() is None:
        sys.exit("benchmarks/distributed.py: no mpiexec; install MPI with `pip install minicnn[mpi]`")
    machine = machine_info(limit_threads(1))
    steps = arguments.steps or (12 if arguments.quick else 60)
    rounds = arguments.rounds or (1 if arguments.quick else 3)
    repeat = "3" if arguments.quick else str(arguments.repeat)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        throughput, round_log, exactness = [], {}, []
        for model in ("keras_mnist_cnn", "zfnet_small"):      # the check before the figures: the same run
            weights = []
            for ranks in (1, 2):
                out = scratch / f"check-{model}-{ranks}.json"
                launch(ranks, ["--worker", "train", "--model", model, "--batch", str(arguments.batch),
                               "--steps", "8", "--dtype", "float64"], out, 900)
                weights.append(numpy.load(str(out) + ".npy"))
            difference = float(numpy.abs(weights[1] - weights[0]).max() / numpy.abs(weights[0]).max())
            exactness.append({"model": model, "steps": 8, "dtype": "float64", "relative_difference": difference})
            print(f"{model}: float64, 8 steps, 2 ranks vs 1 process: {difference:.1e}", file=sys.stderr, flush=True)
            if difference > 1e-12:
                raise RuntimeError(f"{model}: in float64 the 2-rank weights differ from one process's by {difference:.1e}")
        for model in ("keras_mnist_cnn", "zfnet_small"):
            model_steps = steps if model == "keras_mnist_cnn" else max(6, steps // 3)
            runs = {1: [], 2: []}
            for round_number in range(rounds):
                for ranks in (1, 2):
                    out = scratch / f"train-{model}-{ranks}-{round_number}.json"
                    runs[ranks].append(launch(ranks, ["--worker", "train", "--model", model, "--batch",
                                                      str(arguments.batch), "--steps", str(model_steps)], out, 900))
                    runs[ranks][-1]["weights"] = str(out) + ".npy"
                    print(f"{model}, {ranks} rank(s), round {round_number + 1}: "
                          f"{runs[ranks][-1]['images_per_second']:.0f} images/s", file=sys.stderr, flush=True)
            single = numpy.load(runs[1][0]["weights"])
            for ranks in (1, 2):
                difference = numpy.abs(numpy.load(runs[ranks][0]["weights"]) - single).max() / numpy.abs(single).max()
                middle = {key: statistics.median(run[key] for run in runs[ranks])
                          for key in ("images_per_second", "seconds_per_step", "allreduce_s_per_step", "wait_s_per_step")}
                round_log[f"{model} {ranks} rank(s)"] = [run["images_per_second"] for run in runs[ranks]]
                throughput.append({**runs[ranks][0], **middle, "weight_difference": float(difference),
                                   "communication_share": (middle["allreduce_s_per_step"] + middle["wait_s_per_step"])
                                   / middle["seconds_per_step"]})
            throughput[-1]["speedup"] = throughput[-1]["images_per_second"] / throughput[-2]["images_per_second"]
            throughput[-2]["speedup"] = 1.0
        for row in throughput:
            row.pop("weights", None)
        allreduce = launch(2, ["--worker", "allreduce", "--repeat", repeat] + (["--quick"] if arguments.quick else []),
                           scratch / "allreduce.json", 900)
        for row in allreduce["sizes"]:
            row["algorithm_gb_s"] = row["bytes"] / row["seconds"] / 1e9
            row["bus_gb_s"] = 2 * (allreduce["ranks"] - 1) / allreduce["ranks"] * row["bytes"] / row["seconds"] / 1e9
        alpha, beta = fit_alpha_beta(allreduce["sizes"])
        single_worker = [launch(1, ["--worker", "step", "--model", "zfnet_small", "--batch", "64", "--repeat", repeat],
                                scratch / "step-small.json", 900),
                         launch(1, ["--worker", "step", "--model", "zfnet", "--batch", "2" if arguments.quick else "8",
                                    "--repeat", "2" if arguments.quick else "3"], scratch / "step-zfnet.json", 900)]
    gpu = gpu_zfnet_worker()
    predictions = []
    for row, global_batch in zip(single_worker + ([gpu] if gpu else []), (64, 128, 128)):
        predictions += predict(row["model"], row["seconds_per_image"], row["parameters"], global_batch, global_batch)
    mpi = import_mpi()
    processor = "gpu" if machine.get("gpu") else "cpu"
    stem = f"distributed-{processor}-{datetime.date.today().isoformat()}" + ("-quick" if arguments.quick else "")
    results = pathlib.Path(arguments.results)
    results.mkdir(parents=True, exist_ok=True)
    document = {
        "date": machine["date"], "command": machine["command"], "machine": machine,
        "mpi": mpi.Get_library_version().splitlines()[0].strip() + f", mpi4py {sys.modules['mpi4py'].__version__}",
        "seconds": time.perf_counter() - started, "load_average_after": list(os.getloadavg()),
        "exactness": exactness, "throughput": throughput, "rounds": round_log, "allreduce": allreduce,
        "alpha_beta": {"alpha_s": alpha, "beta_s_per_byte": beta, "gb_per_s": 1 / beta / 1e9},
        "single_worker": single_worker, "gpu_worker": gpu, "assumed_alpha_s": ASSUMED_ALPHA_S,
        "predictions": predictions,
        "plot": f"{stem}.png",
    }
    plot(predictions, results / f"{stem}.png")
    (results / f"{stem}.json").write_text(json.dumps(document, indent=2) + "\n")
    (results / f"{stem}.md").write_text(markdown(document))
    print(f"wrote {results / stem}.md, .json, .png ({document['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
