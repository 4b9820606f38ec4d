"""Killing a real training run at random moments never breaks its checkpoint.

A ``minicnn train`` process is started, then killed (SIGKILL: nothing gets
to clean up; or SIGINT: Ctrl-C) at a random moment, again and again, each
run resuming from the checkpoint the last one left. After every kill the
checkpoint on disk must load, be complete (every parameter and velocity, the
metadata, finite weights) and never go back in epochs; at the end a resumed
run finishes normally from it. The moments are drawn from a fixed seed, so a
failure can be replayed.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minicnn.training.checkpoint import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--model", "fc_baseline", "--backend", "numpy", "--limit", "1200", "--batch-size", "32",
         "--epochs", "400", "--quiet"]


def start(out, checkpoint):
    arguments = list(TRAIN) + (["--resume", str(checkpoint)] if checkpoint.exists() else ["--out", str(out)])
    return subprocess.Popen([sys.executable, "-m", "minicnn", *arguments], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def modified(path):
    return path.stat().st_mtime_ns if path.exists() else None


def wait_for_a_new_checkpoint(process, checkpoint, previous, limit=120):
    """Wait until this run has written a checkpoint of its own: it is past start-up, training."""
    deadline = time.monotonic() + limit
    while modified(checkpoint) == previous:
        assert process.poll() is None, f"training ended before writing a checkpoint: {process.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint within two minutes"
        time.sleep(0.01)


def check_complete(checkpoint, last_epoch):
    """The checkpoint loads, holds every array with finite values, and kept or advanced its epoch."""
    state = load_checkpoint(checkpoint)
    model = load_model(state)
    names = [name for name, _ in model.named_parameters()]
    assert names and all(np.isfinite(parameter.data).all() for parameter in model.parameters())
    assert state.epoch >= max(last_epoch, 1), f"the checkpoint went back from epoch {last_epoch} to {state.epoch}"
    assert len(state.history().records) == state.epoch
    return state.epoch


def leftovers(directory):
    return sorted(path.name for path in Path(directory).iterdir() if path.name.endswith((".tmp", ".part")))


@pytest.mark.parametrize("sig, kills", [(signal.SIGKILL, 6), (signal.SIGINT, 3)], ids=["kill-9", "ctrl-c"])
def test_random_kills_leave_a_checkpoint_that_loads_and_resumes(tmp_path, sig, kills):
    out = tmp_path / "run"
    checkpoint = out / "checkpoint.npz"
    moments = np.random.default_rng(int(sig)).uniform(0.0, 0.5, size=kills)   # an epoch takes ~0.1 s
    epoch = 0
    for moment in moments:
        previous = modified(checkpoint)
        process = start(out, checkpoint)
        wait_for_a_new_checkpoint(process, checkpoint, previous)
        time.sleep(moment)                       # somewhere in an epoch, or while a checkpoint is written
        process.send_signal(sig)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"{signal.Signals(sig).name} did not stop the run within a minute")
        if sig == signal.SIGINT:
            assert process.returncode != 0
            assert "Traceback" not in stderr, stderr
            assert "interrupted" in stderr.lower(), stderr
            assert leftovers(out) == [], "Ctrl-C left temporary files behind"
        epoch = check_complete(checkpoint, epoch)
    # a last run resumes from what the kills left and finishes normally
    final = subprocess.run([sys.executable, "-m", "minicnn", *TRAIN[:-3], "--epochs", str(epoch + 1),
                            "--quiet", "--resume", str(checkpoint)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert load_checkpoint(checkpoint).epoch == epoch + 1
