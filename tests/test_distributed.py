"""Data-parallel training (minicnn/distributed/): the same run on one process or many.

Without MPI: the shares of a batch, the single-process communicator, dropout
drawn for the whole batch, and the weighted flat-buffer sum of the ranks'
gradients checked against the whole batch's gradient, all in one process.

With MPI (mpiexec from `pip install minicnn[mpi]`, which setup.sh installs):
  - 2 and 3 ranks follow the single-process trajectory in float64, with and
    without dropout and augmentation, to round-off;
  - `minicnn train --distributed` on 2 ranks gives the single process's test
    accuracy and nearly its weights;
  - a rank that raises ends the job, naming the rank and the reason;
  - kill -9 of one rank mid-epoch ends the job within seconds, and the
    checkpoint loads and resumes on one process.
Those skip, saying why, only when no mpiexec exists; under CI=true a
missing MPI is a failure (as for the oracles, tests/oracles.py).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.distributed import (
    Communicator, GradientAllReduce, SingleProcess, broadcast_parameters, empty_share_problem,
    find_mpiexec, mpiexec_command, share,
)
from minicnn.engine import rng
from minicnn.models import get_model
from minicnn.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
EPSILON64 = numpy.finfo(numpy.float64).eps


# ----- without MPI ---------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 500), size=st.integers(1, 9))
def test_shares_are_disjoint_cover_the_batch_and_differ_by_at_most_one(rows, size):
    slices = [share(rows, rank, size) for rank in range(size)]
    covered = numpy.concatenate([numpy.arange(rows)[piece] for piece in slices])
    assert covered.tolist() == list(range(rows))             # in order: disjoint and complete
    counts = [piece.stop - piece.start for piece in slices]
    assert max(counts) - min(counts) <= 1


def test_share_example_and_bad_rank():
    assert [share(10, rank, 4) for rank in range(4)] == [slice(0, 3), slice(3, 6), slice(6, 8), slice(8, 10)]
    with pytest.raises(ValueError, match="rank 4 is not one of the 4 ranks"):
        share(10, 4, 4)


def test_a_batch_that_leaves_a_rank_no_image_is_explained():
    assert empty_share_problem(100, 50, 2) is None
    assert empty_share_problem(101, 50, 1) is None
    assert "last batch of 1 image(s), fewer than the 2 ranks" in empty_share_problem(101, 50, 2)
    assert "batch size 2 is smaller than the 3 ranks" in empty_share_problem(100, 2, 3)


def test_single_process_communicator_moves_nothing():
    communicator = SingleProcess()
    buffer = numpy.arange(5.0)
    assert communicator.allreduce_sum(buffer) is buffer and buffer.tolist() == [0, 1, 2, 3, 4]
    assert communicator.broadcast(buffer) is buffer and communicator.allgather("x") == ["x"]
    assert (communicator.rank, communicator.size) == (0, 1)


def test_each_rank_draws_the_whole_batch_and_keeps_its_rows():
    """Dropout inside drawing_for_batch: rank r's mask is rows r of the single-process mask."""
    x = mc.tensor(numpy.ones((7, 3, 4), numpy.float64))
    rng.manual_seed(5)
    whole = F.dropout(x, 0.5).data
    for rank in range(3):
        rows = share(7, rank, 3)
        rng.manual_seed(5)
        with rng.drawing_for_batch(rows, 7):
            part = F.dropout(mc.tensor(numpy.ones((rows.stop - rows.start, 3, 4))), 0.5).data
        assert numpy.array_equal(part, whole[rows])
    with pytest.raises(ValueError, match="should be those 3 rows"):
        with rng.drawing_for_batch(slice(0, 3), 7):
            rng.uniform_array(numpy, (4, 2), numpy.float64)


class Recorder(Communicator):
    """A stand-in for one rank of K: keeps the buffer it is given; 'sums' by adding ``others``."""

    def __init__(self, rank, size, others=None):
        self.rank, self.size, self.others, self.seen = rank, size, others, []

    def allreduce_sum(self, buffer):
        self.seen.append(buffer.copy())
        if self.others is not None:
            buffer += self.others[len(self.seen) - 1]
        return buffer


def _loss_gradients(model, images, labels):
    model.zero_grad()
    F.cross_entropy(model(mc.tensor(images)), labels).backward()
    return [p.grad.copy() for p in model.parameters()]


@pytest.mark.parametrize("bucket_values", [None, 1000])
def test_weighted_sum_of_the_shares_gradients_is_the_batch_gradient(bucket_values):
    """g = sum_r (b_r / B) g_r through GradientAllReduce's pack, sum and unpack, 3 uneven shares."""
    random = numpy.random.default_rng(0)
    images, labels = random.standard_normal((11, 1, 12, 12)), random.integers(0, 4, 11)
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3 * 5 * 5, 4)).to("float64")
    whole = _loss_gradients(model, images, labels)
    packed = []
    for rank in range(3):                        # each rank packs its weighted gradient
        rows = share(11, rank, 3)
        _loss_gradients(model, images[rows], labels[rows])
        recorder = Recorder(rank, 3)
        GradientAllReduce(model.parameters(), recorder, bucket_values).allreduce((rows.stop - rows.start) / 11)
        packed.append(recorder.seen)
    rows = share(11, 0, 3)                       # rank 0 again, now "summing" with ranks 1 and 2
    _loss_gradients(model, images[rows], labels[rows])
    others = [packed[1][i] + packed[2][i] for i in range(len(packed[0]))]
    gradients = GradientAllReduce(model.parameters(), Recorder(0, 3, others), bucket_values)
    gradients.allreduce(4 / 11)
    total = sum(p.size for p in model.parameters())
    assert gradients.calls == (1 if bucket_values is None else -(-total // bucket_values))
    for parameter, expected in zip(model.parameters(), whole):
        scale = numpy.abs(expected).max()
        assert numpy.abs(parameter.grad - expected).max() <= 64 * EPSILON64 * scale, parameter.shape


def test_broadcast_and_allreduce_do_nothing_on_one_process():
    mc.manual_seed(0)
    model = get_model("keras_mnist_cnn")
    before = [p.data.copy() for p in model.parameters()]
    broadcast_parameters(model.parameters(), SingleProcess())
    model.zero_grad()
    assert GradientAllReduce(model.parameters(), SingleProcess()).allreduce() is None
    assert all(numpy.array_equal(a, p.data) for a, p in zip(before, model.parameters()))


# ----- with MPI --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpiexec():
    """The path of mpiexec; skip (or, under CI=true, fail) when MPI is not installed."""
    path = find_mpiexec()
    try:
        import mpi4py  # noqa: F401
    except ImportError as error:
        path, reason = None, f"mpi4py is not installed ({error})"
    else:
        reason = "no mpiexec in this Python environment or on PATH"
    if path is None:
        message = f"{reason}; the multi-process tests need MPI: pip install minicnn[mpi] (or bash setup.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return path


def environment():
    """One thread per rank (2 ranks share 2 cores), and this checkout importable."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for name in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        env.pop(name, None)       # a test run under mpiexec must not look like a rank itself
    return env


def run_ranks(mpiexec, ranks, command, timeout=120, cwd=None):
    """Run ``command`` on ``ranks`` ranks (1: a plain process); return the CompletedProcess."""
    full = command if ranks == 1 else mpiexec_command(ranks, command, mpiexec)
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=environment(), cwd=cwd)


def test_ranks_follow_the_single_process_trajectory_in_float64(mpiexec, tmp_path):
    """36 steps of a global batch of 32 on 1, 2 and 3 ranks (shares 16+16 and 11+11+10).

    Every image's gradient is the same on every run; only the order in which
    the per-image gradients are added differs (within each rank's matrix
    products, then across ranks), so the weights agree to round-off. Measured:
    about 4e-15 for weights of size 2; the bound below is 1e-12.
    """
    results = {}
    for ranks in (1, 2, 3):
        out = tmp_path / f"ranks{ranks}.npz"
        done = run_ranks(mpiexec, ranks, [sys.executable, str(WORKER), str(out)])
        assert done.returncode == 0, f"{ranks} rank(s):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        results[ranks] = numpy.load(out)
        assert int(results[ranks]["world_size"]) == ranks
    one = results[1]
    for ranks in (2, 3):
        for run in ("plain", "dropout"):
            weights, reference = results[ranks][f"{run}_weights"], one[f"{run}_weights"]
            difference = numpy.abs(weights - reference).max()
            print(f"{ranks} ranks, {run}: max |w_K - w_1| = {difference:.2e} (max |w| {numpy.abs(reference).max():.2f})")
            assert difference <= 1e-12, f"{ranks} ranks, {run}: weights differ by {difference}"
            logs, reference_logs = results[ranks][f"{run}_logs"], one[f"{run}_logs"]
            assert numpy.allclose(logs, reference_logs, rtol=1e-12, atol=0), (run, logs, reference_logs)
    # the dropout run is really random: its weights are not those of a run without dropout's masks
    assert not numpy.array_equal(one["dropout_weights"], results[2]["plain_weights"][:len(one["dropout_weights"])])


def test_cli_two_ranks_give_the_single_process_accuracy_and_nearly_its_weights(mpiexec, tmp_path):
    """`minicnn train` of keras_mnist_cnn on 1280 images, one epoch of global batches of 64 (18 steps).

    float32, so not to round-off as in float64: the two runs add the same
    per-image gradients in another order (each rank's matrix products, then
    the all-reduce), which moves the weights by about 1e-7 per step, and a
    ReLU or max-pool decision that this nudge flips sends the runs further
    apart. Measured: 4.5e-7 relative, the same test accuracy; the bound is 1e-3.
    """
    train = [sys.executable, "-m", "minicnn", "train", "--model", "keras_mnist_cnn", "--epochs", "1",
             "--limit", "1280", "--batch-size", "64", "--seed", "0", "--quiet"]
    runs = {}
    for ranks in (1, 2):
        out = tmp_path / f"ranks{ranks}"
        command = train + ["--out", str(out)] + (["--distributed"] if ranks > 1 else [])
        done = run_ranks(mpiexec, ranks, command, cwd=tmp_path)
        assert done.returncode == 0, f"{ranks} rank(s):\n{done.stderr[-3000:]}"
        assert done.stdout.count("test accuracy") == 1, "rank 0 alone prints the result"
        runs[ranks] = (json.loads((out / "metrics.json").read_text()), load_checkpoint(out / "checkpoint.npz"))
    (one, one_checkpoint), (two, two_checkpoint) = runs[1], runs[2]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["history"][0]["train_loss"] == pytest.approx(two["history"][0]["train_loss"], rel=1e-5)
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.001, (one["test_accuracy"], two["test_accuracy"])
    for name, weights in one_checkpoint.model_state.items():
        other = two_checkpoint.model_state[name]
        relative = numpy.linalg.norm(other - weights) / numpy.linalg.norm(weights)
        assert relative <= 1e-3, f"{name}: the 2-rank weights differ by {relative:.2e} (relative norm)"


def test_cli_two_ranks_in_float64_follow_the_single_process_to_round_off(mpiexec, tmp_path):
    """The run above with --dtype float64: the same per-image gradients added in another order
    differ by float64 round-off, too little to flip a ReLU or max-pool decision, so the runs
    stay together: the same test accuracy and loss, and weights that agree to round-off.
    Measured: at most 6e-16 (max |w_2 - w_1| / max |w_1|, per layer) after 18 steps; the bound is 1e-12."""
    train = [sys.executable, "-m", "minicnn", "train", "--model", "keras_mnist_cnn", "--epochs", "1",
             "--limit", "1280", "--batch-size", "64", "--seed", "0", "--dtype", "float64", "--quiet"]
    runs = {}
    for ranks in (1, 2):
        out = tmp_path / f"ranks{ranks}"
        command = train + ["--out", str(out)] + (["--distributed"] if ranks > 1 else [])
        done = run_ranks(mpiexec, ranks, command, cwd=tmp_path)
        assert done.returncode == 0, f"{ranks} rank(s):\n{done.stderr[-3000:]}"
        runs[ranks] = (json.loads((out / "metrics.json").read_text()), load_checkpoint(out / "checkpoint.npz"))
    (one, one_checkpoint), (two, two_checkpoint) = runs[1], runs[2]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["test_accuracy"] == two["test_accuracy"]
    assert two["test_loss"] == pytest.approx(one["test_loss"], rel=1e-12)
    for name, weights in one_checkpoint.model_state.items():
        other = two_checkpoint.model_state[name]
        assert weights.dtype == other.dtype == numpy.float64, name
        relative = numpy.abs(other - weights).max() / numpy.abs(weights).max()
        print(f"{name}: max |w_2 - w_1| / max |w_1| = {relative:.1e}")
        assert relative <= 1e-12, f"{name}: the 2-rank weights differ by {relative:.2e} (relative)"


def find_rank_process(launcher_pid, rank):
    """The pid of MPI rank ``rank`` among the descendants of ``launcher_pid`` (Linux /proc)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    stack, descendants = [launcher_pid], []
    while stack:
        for child in children.get(stack.pop(), []):
            descendants.append(child)
            stack.append(child)
    for pid in descendants:
        try:
            variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"PMI_RANK={rank}".encode() in variables or f"OMPI_COMM_WORLD_RANK={rank}".encode() in variables:
            return pid
    return None


def test_a_rank_that_raises_ends_the_job_naming_the_rank_and_the_reason(mpiexec, tmp_path):
    started = time.perf_counter()
    done = run_ranks(mpiexec, 2, [sys.executable, str(WORKER), str(tmp_path / "never.npz"),
                                  "--fail-rank", "1", "--fail-batch", "3"], timeout=60)
    seconds = time.perf_counter() - started
    assert done.returncode != 0
    assert "rank 1 of 2 failed, stopping every rank: RuntimeError: deliberate failure at batch 3" in done.stderr
    assert not (tmp_path / "never.npz").exists()
    assert seconds < 30, f"the job took {seconds:.0f} s to stop"


def test_killing_one_rank_mid_epoch_ends_the_job_and_the_checkpoint_resumes_on_one_process(mpiexec, tmp_path):
    """kill -9 of rank 1 during epoch 2: mpiexec ends every rank within seconds; epoch 1's checkpoint,
    written by 2 ranks, loads and resumes on one process with the same global batch."""
    out = tmp_path / "run"
    train = [sys.executable, "-m", "minicnn", "train", "--model", "keras_mnist_cnn", "--train-limit", "1500",
             "--test-limit", "100", "--val-fraction", "0", "--batch-size", "50", "--quiet", "--out", str(out)]
    job = subprocess.Popen(mpiexec_command(2, train + ["--epochs", "30", "--distributed"], mpiexec),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while not (out / "checkpoint.npz").exists() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (out / "checkpoint.npz").exists(), f"no checkpoint after epoch 1: {job.poll()} {job.stderr.read() if job.poll() is not None else ''}"
        time.sleep(0.5)                                              # into epoch 2
        rank_one = find_rank_process(job.pid, 1)
        assert rank_one is not None, "rank 1's process was not found under mpiexec"
        os.kill(rank_one, signal.SIGKILL)
        killed = time.perf_counter()
        job.wait(timeout=30)
        seconds = time.perf_counter() - killed
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    stderr = job.stderr.read()
    assert job.returncode != 0, stderr
    assert seconds < 10, f"the job took {seconds:.1f} s to end after rank 1 was killed"
    print(f"the job ended {seconds:.2f} s after kill -9 of rank 1 (exit status {job.returncode})")
    saved = load_checkpoint(out / "checkpoint.npz")                  # complete: written atomically
    assert 1 <= saved.epoch < 30
    resumed = run_ranks(mpiexec, 1, train + ["--epochs", str(saved.epoch + 1), "--resume", str(out / "checkpoint.npz")],
                        cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 1 and metrics["epochs"] == saved.epoch + 1
    assert [record["epoch"] for record in metrics["history"]] == list(range(1, saved.epoch + 2))


def test_cli_usage_errors_under_mpiexec_are_one_line_and_end_every_rank(mpiexec, tmp_path):
    """Without --distributed, K ranks would each train alone and overwrite each other's files;
    with it, settings that leave a rank no image of a batch stop the job with status 2."""
    train = [sys.executable, "-m", "minicnn", "train", "--model", "keras_mnist_cnn", "--epochs", "1",
             "--quiet", "--out", str(tmp_path / "run")]
    alone = run_ranks(mpiexec, 2, train, timeout=60, cwd=tmp_path)
    assert alone.returncode == 2
    assert "started by mpiexec as one of 2 processes but without --distributed" in alone.stderr
    started = time.perf_counter()
    short = run_ranks(mpiexec, 2, train + ["--distributed", "--train-limit", "101", "--val-fraction", "0",
                                            "--batch-size", "50"], timeout=60, cwd=tmp_path)
    assert short.returncode == 2, short.stderr[-2000:]
    assert "of 2 failed, stopping every rank: RunConfigError: 101 training images in batches of 50 leave a " \
           "last batch of 1 image(s), fewer than the 2 ranks" in short.stderr
    assert "Traceback" not in short.stderr
    assert time.perf_counter() - started < 30


GPU_COLLECTIVES = r"""
import sys
import cupy
from minicnn.distributed import MPICommunicator, NCCLCommunicator
mpi = MPICommunicator()
values = cupy.arange(5, dtype=cupy.float32) * (mpi.rank + 1)
if sys.argv[1] == "nccl":                      # one rank: NCCL's sum and broadcast of one buffer are itself
    communicator = NCCLCommunicator(mpi)
    communicator.allreduce_sum(values)
    communicator.broadcast(values)
    cupy.cuda.get_current_stream().synchronize()
    assert values.tolist() == [0, 1, 2, 3, 4], values
else:                                          # two ranks on one GPU: summed through the host
    mpi.allreduce_sum(values)
    assert values.tolist() == [0, 3, 6, 9, 12], values
    values[:] = mpi.rank
    mpi.broadcast(values, root=1)
    assert values.tolist() == [1] * 5, values
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.skipif(mc.engine.backend.cupy is None,
                    reason=f"needs CuPy and a CUDA GPU: {mc.engine.backend.cupy_reason}")
@pytest.mark.parametrize("how, ranks", [("nccl", 1), ("host", 2)])
def test_cupy_buffers_are_summed_by_nccl_or_through_the_host(mpiexec, how, ranks):
    """On one GPU: NCCLCommunicator on one rank (NCCL refuses two ranks on one GPU, so its sum over
    several GPUs is untested), and MPICommunicator's host path on two ranks."""
    done = run_ranks(mpiexec, ranks, [sys.executable, "-c", GPU_COLLECTIVES, how], timeout=120)
    assert done.returncode == 0 and done.stdout.count("ok") == ranks, done.stderr[-3000:]
