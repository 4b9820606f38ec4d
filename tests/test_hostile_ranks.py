"""Many ranks used carelessly: ranks that do not agree, Ctrl-C on mpiexec, --distributed alone.

Real ``mpiexec -n 2`` jobs (mpiexec as tests/test_distributed.py finds it;
without MPI these skip, and under CI=true fail). Ranks with different
settings are started with mpiexec's own syntax for that,
``mpiexec -n 1 CMD1 : -n 1 CMD2``. Sections, with their number of tests:

    1. --distributed without mpiexec                          1
    2. ranks that do not agree, refused before any weight     3
    3. Ctrl-C on mpiexec names the checkpoint; a divergence   2
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicnn.cli.main import main
from minicnn.distributed import mpiexec_command
from minicnn.training.checkpoint import load_checkpoint
from minicnn.training.files import LOCK_NAME
from test_distributed import environment, mpiexec  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, "-m", "minicnn", "train", "--distributed", "--epochs", "1", "--limit", "200", "--quiet",
         "--backend", "numpy"]


def job(mpiexec, first, second, timeout=120):
    """Two ranks, each with its own command line: ``mpiexec -n 1 FIRST : -n 1 SECOND``."""
    command = mpiexec_command(1, first, mpiexec) + [":", "-n", "1", *second]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment(), cwd=ROOT)


def refused_by_rank_zero(done):
    """Status 2, and one line from minicnn (after the lines that say where the data was read): rank 0's,
    no MPI error stack, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("minicnn: ")]
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("minicnn train: "), done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "MPI" not in done.stderr, done.stderr[-3000:]
    return lines[0]


# ===== 1. --distributed without mpiexec (1) ============================================================
def test_distributed_without_mpiexec_trains_as_one_process_and_says_so(tmp_path, capsys, monkeypatch):
    for name in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "run"
    assert main(TRAIN[3:] + ["--model", "fc_baseline", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert ("minicnn train: --distributed, but not started by mpiexec: training as one process (for K ranks: "
            "mpiexec -n K python -m minicnn train --distributed ...)") in err.splitlines()
    assert load_checkpoint(out / "checkpoint.npz").epoch == 1


# ===== 2. ranks that do not agree, refused before any weight moves (3) =================================
@pytest.mark.parametrize("first, second, named", [
    (["--lr", "0.01"], ["--lr", "1000"], "--lr is 0.01 on rank 0, 1000.0 on rank 1"),
    (["--batch-size", "32"], ["--batch-size", "16", "--model", "lenet5"],
     "--model is fc_baseline on rank 0, lenet5 on rank 1; --batch-size is 32 on rank 0, 16 on rank 1"),
], ids=["lr", "model and batch size"])
def test_ranks_started_with_different_settings_are_refused_before_any_weight_moves(mpiexec, tmp_path, first,
                                                                                     second, named):
    """Before: different --lr trained 'together' and exited 0 with the ranks' weights apart; a different
    --model or --batch-size ended in MPI's "Message truncated" stack from MPI_Bcast."""
    out = tmp_path / "run"
    common = TRAIN + ["--model", "fc_baseline", "--out", str(out)]
    started = time.monotonic()
    line = refused_by_rank_zero(job(mpiexec, common + first, common + second))
    assert line == (f"minicnn train: the 2 ranks were started with different settings: {named}; nothing was "
                    "trained: start every rank with the same command line")
    assert not out.exists(), "a refused job left its folder behind"
    assert time.monotonic() - started < 60


def test_a_rank_that_cannot_start_is_named_and_every_rank_stops(mpiexec, tmp_path):
    """Rank 1's machine lacks the data folder: before, rank 1 exited while rank 0 waited in MPI."""
    missing = tmp_path / "no-data-here"
    common = TRAIN + ["--model", "fc_baseline", "--out", str(tmp_path / "run")]
    line = refused_by_rank_zero(job(mpiexec, common, common + ["--data-path", str(missing)]))
    assert line.startswith(f"minicnn train: rank 1 of 2: --data-path: {missing} does not exist"), line
    assert not (tmp_path / "run").exists()


# ===== 3. Ctrl-C on mpiexec names the checkpoint; a divergence (2) ====================================
def test_ctrl_c_on_mpiexec_names_the_checkpoint_and_the_command_that_resumes_it(mpiexec, tmp_path):
    """Before: "rank 0 of 2: interrupted; stopping every rank" and MPICH's abort, never the checkpoint."""
    out = tmp_path / "run"
    checkpoint = out / "checkpoint.npz"
    command = [*TRAIN[:5], "--model", "fc_baseline", "--limit", "1200", "--batch-size", "32", "--epochs", "400",
               "--quiet", "--backend", "numpy", "--out", str(out)]
    process = subprocess.Popen(mpiexec_command(2, command, mpiexec), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=environment(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 90
        while not checkpoint.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.02)
        time.sleep(0.3)                                       # into a later epoch
        process.send_signal(signal.SIGINT)                    # what Ctrl-C sends mpiexec
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, (process.returncode, stderr[-3000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    assert (f"minicnn train: interrupted; the checkpoint of the last complete epoch is intact: continue with "
            f"`mpiexec -n 2 python -m minicnn train --distributed --resume {checkpoint}`") in stderr.splitlines(), stderr
    assert "rank 1 of 2" not in stderr and "MPI_Abort" not in stderr, stderr[-3000:]   # rank 0 speaks for the job
    assert sorted(path.name for path in out.iterdir() if path.name.endswith(".tmp") or path.name == LOCK_NAME) == []
    assert load_checkpoint(checkpoint).epoch >= 1


def test_a_job_that_diverges_is_one_line_from_rank_zero_and_leaves_nothing(mpiexec, tmp_path):
    """Before: each rank printed the divergence, then MPI_Abort's own line, and the folder stayed."""
    out = tmp_path / "run"
    command = TRAIN + ["--model", "lenet5", "--lr", "1e3", "--out", str(out)]
    line = refused_by_rank_zero(subprocess.run(mpiexec_command(2, command, mpiexec), capture_output=True, text=True,
                                               timeout=120, env=environment(), cwd=ROOT))
    assert line.startswith("minicnn train: rank 0 of 2 failed, stopping every rank: TrainingDiverged: training "
                           "diverged in epoch 1"), line
    assert "above 10 ln 10 = 23.0" in line and "nothing was saved" in line, line
    assert not out.exists()
