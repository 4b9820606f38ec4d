"""Runs side by side, signals, odd paths, divergence and every model: hostile use, round two.

Real ``minicnn train`` processes where the thing tested is a process (a lock
another process holds, a signal, what a real terminal's stdout does with a
byte that is not UTF-8); in-process main([...]) for the rest, as
test_hostile_cli.py does. Every case asserts the exit status, a message that
names the thing and says what to do, and the files left on disk.
Sections, with their number of tests (pytest items):

    1. one run per folder; SIGTERM, SIGHUP and kill -9                  3
    2. a folder name that is not UTF-8                                  2
    3. divergence: NaN, overflow, a loss far above chance               7
    4. every model the CLI knows evaluates and visualizes, or says why  3
    5. unpooling with switches that do not fit                          1 per backend
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import minicnn as mc
from minicnn import functional as F
from minicnn import models
from minicnn.cli import main as cli
from minicnn.cli.main import main
from minicnn.cli.terminal import shell_quoted, signals_as_interrupts
from minicnn.engine.errors import ArgumentError, ShapeError
from minicnn.training.callbacks import Callback
from minicnn.training.checkpoint import load_checkpoint, save_checkpoint
from minicnn.training.loop import TrainingDiverged, fit
from minicnn.training.files import LOCK_NAME, FolderInUse, hold_folder

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--limit", "120", "--epochs", "1", "--batch-size", "32", "--quiet", "--backend", "numpy"]
# a run that goes on until stopped: fc_baseline writes a checkpoint every ~0.1 s
LONG = ["train", "--model", "fc_baseline", "--backend", "numpy", "--limit", "1200", "--batch-size", "32",
        "--epochs", "400", "--quiet"]


def environment(**changes):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MINICNN_BACKEND="numpy")
    for name in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        env.pop(name, None)
    env.update(changes)
    return env


def start(*arguments, **popen):
    return subprocess.Popen([sys.executable, "-m", "minicnn", *map(str, arguments)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(), **popen)


def modified(path):
    return path.stat().st_mtime_ns if path.exists() else None


def wait_for_a_new_checkpoint(process, checkpoint, previous=None, limit=90):
    """Poll until ``process`` has written a checkpoint other than ``previous`` (mtime): it is training."""
    deadline = time.monotonic() + limit
    while modified(checkpoint) == previous:
        assert process.poll() is None, f"the run ended before writing a checkpoint: {process.communicate()}"
        assert time.monotonic() < deadline, f"no new checkpoint within {limit} s"
        time.sleep(0.02)


def stop(process, sig, timeout=60):
    """Send ``sig``; return the process's stderr once it has ended (killed if it does not)."""
    process.send_signal(sig)
    try:
        return process.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{signal.Signals(sig).name} did not stop the run within {timeout} s")


def leftovers(folder):
    return sorted(path.name for path in Path(folder).iterdir() if path.name.endswith(".tmp") or path.name == LOCK_NAME)


def run_main(argv, capsys):
    status = main([str(word) for word in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def refused(argv, capsys, *fragments):
    status, _, err = run_main(argv, capsys)
    lines = err.strip().splitlines()
    assert status == 2 and lines and lines[-1].startswith(f"minicnn {argv[0]}: "), (status, err)
    assert all(line.startswith("minicnn: ") for line in lines[:-1]), err     # where the data was read
    for fragment in fragments:
        assert fragment in lines[-1], err
    return lines[-1]


# ===== 1. one run per folder; SIGTERM, SIGHUP and kill -9 (3) ========================================
def test_a_folder_in_use_is_refused_to_every_command_and_sigterm_stops_the_run_like_ctrl_c(tmp_path, capsys):
    """Before: a second run into the same --out exited 0 over the first's files; SIGTERM ended a run
    with status -15, no word, and possibly a temporary file. The second runs here are main() in this
    process: the lock they meet is a real one, held by another process."""
    out = tmp_path / "run"
    checkpoint = out / "checkpoint.npz"
    first = start(*LONG, "--out", out)
    try:
        wait_for_a_new_checkpoint(first, checkpoint)
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == first.pid
        for argv in (["train", "--out", out, "--model", "fc_baseline", *TINY],
                     ["train", "--out", out, "--overwrite", "--model", "fc_baseline", *TINY],
                     ["train", "--resume", checkpoint, "--epochs", "999", "--quiet", "--backend", "numpy"],
                     ["tour", "--fast", "--out", out, "--quiet", "--overwrite", "--backend", "numpy"]):
            line = refused(argv, capsys, f"minicnn {argv[0]}: --out {out} is in use by another run (pid {first.pid}",
                           "nothing was changed", f"stop it (`kill {first.pid}`)", "choose another --out",
                           "minicnn train --model fc_baseline")
            assert first.poll() is None and load_checkpoint(checkpoint).epoch >= 1, line
        assert not (out / "metrics.json").exists()        # nothing of the refused runs was written
        stderr = stop(first, signal.SIGTERM)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == (
        "minicnn train: terminated (SIGTERM); the checkpoint of the last complete epoch is intact: "
        f"continue with `minicnn train --resume {checkpoint}`")
    assert leftovers(out) == [], "SIGTERM left a temporary file or the lock behind"
    epoch = load_checkpoint(checkpoint).epoch
    assert main([*LONG[:-3], "--epochs", str(epoch + 1), "--quiet", "--resume", str(checkpoint)]) == 0
    assert load_checkpoint(checkpoint).epoch == epoch + 1 and leftovers(out) == []


def test_nohup_keeps_sighup_ignored_a_killed_runs_lock_is_never_stale_and_sighup_stops_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    checkpoint = out / "checkpoint.npz"
    ignoring = start(*LONG, "--out", out, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        wait_for_a_new_checkpoint(ignoring, checkpoint)
        ignoring.send_signal(signal.SIGHUP)                # as nohup asked: ignored
        wait_for_a_new_checkpoint(ignoring, checkpoint, modified(checkpoint))    # still training
        stop(ignoring, signal.SIGKILL)                     # kill -9: no chance to clean up
    finally:
        if ignoring.poll() is None:
            ignoring.kill()
            ignoring.wait()
    assert (out / LOCK_NAME).exists()                      # its lock went with the process: not stale
    hung_up = start(*LONG[:-3], "--epochs", "400", "--quiet", "--resume", checkpoint)
    try:
        wait_for_a_new_checkpoint(hung_up, checkpoint, modified(checkpoint))
        stderr = stop(hung_up, signal.SIGHUP)              # the terminal closed
    finally:
        if hung_up.poll() is None:
            hung_up.kill()
            hung_up.wait()
    assert hung_up.returncode == 128 + signal.SIGHUP, stderr
    assert stderr.strip().splitlines()[-1] == (
        "minicnn train: terminated (SIGHUP); the checkpoint of the last complete epoch is intact: "
        f"continue with `minicnn train --resume {checkpoint}`")
    assert leftovers(out) == [] and load_checkpoint(checkpoint).epoch >= 2


def test_the_lock_is_taken_again_within_a_process_and_never_written_through_a_link(tmp_path):
    folder = tmp_path / "run"
    with hold_folder(folder, "first") as held, hold_folder(folder, "again"):   # run() inside minicnn train
        assert held == folder and json.loads((folder / LOCK_NAME).read_text())["command"] == "first"
    assert not folder.exists()                   # made for the run, nothing written: removed again
    folder.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (folder / LOCK_NAME).symlink_to(victim)
    with pytest.raises(OSError, match=re.escape(f"cannot write {folder / LOCK_NAME}")):
        with hold_folder(folder):
            pass
    assert victim.read_text() == "keep me"
    assert FolderInUse(folder, {}).sentence().startswith(f"{folder} is in use by another run (a process")
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)                   # what nohup does
    try:
        with signals_as_interrupts():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


# ===== 2. a folder name that is not UTF-8 (2) ==========================================================
def test_an_out_whose_name_is_not_utf8_trains_and_prints_every_line(tmp_path):
    """PYTHONIOENCODING=utf-8 is a UTF-8 terminal's strict stdout, where print() of such a path raised."""
    out = os.fsencode(tmp_path) + b"/run\xff"
    done = subprocess.run([sys.executable, "-m", "minicnn", "train", "--model", "fc_baseline", "--out", out, *TINY],
                          cwd=ROOT, capture_output=True, timeout=120, env=environment(PYTHONIOENCODING="utf-8"))
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    assert f"wrote {tmp_path}/run\\xff/metrics.json, curves.png, checkpoint.npz" in stdout, stdout
    assert load_checkpoint(os.fsdecode(out + b"/checkpoint.npz")).epoch == 1
    assert json.loads(Path(os.fsdecode(out + b"/metrics.json")).read_text())["epochs"] == 1


def test_a_path_that_is_not_utf8_is_quoted_so_the_shell_reads_it_back(tmp_path, capsys, monkeypatch):
    for raw in (b"/tmp/run\xff/checkpoint.npz", b"/tmp/it's \\ here\xfe/checkpoint.npz", b"/tmp/plain run/c.npz"):
        quoted = shell_quoted(os.fsdecode(raw))
        echoed = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True, timeout=30).stdout
        assert echoed == raw, (raw, quoted, echoed)
    folder = os.fsdecode(os.fsencode(tmp_path) + b"/run\xff")
    assert main(["train", "--model", "fc_baseline", "--out", folder] + TINY) == 0
    capsys.readouterr()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupt)
    status, _, err = run_main(["train", "--resume", f"{folder}/checkpoint.npz", "--epochs", "2", "--quiet",
                               "--backend", "numpy"], capsys)
    assert status == 130 and f"continue with `minicnn train --resume $'{tmp_path}/run\\xff/checkpoint.npz'`" in err


# ===== 3. divergence: NaN, overflow, a loss far above chance (6) =======================================
@pytest.mark.parametrize("model", ["keras_mnist_cnn", "lenet5", "fc_baseline", "zfnet_small"])
def test_a_learning_rate_of_1000_diverges_for_every_small_model_and_saves_nothing(tmp_path, capsys, recwarn, model):
    """keras_mnist_cnn: finite weights whose validation pass overflowed (a NonFiniteError traceback);
    lenet5: exit 0 with a test loss of ~45,000, reported as a success. Now one line, status 2."""
    out = tmp_path / "run"
    line = refused(["train", "--model", model, "--out", out, "--lr", "1e3"] + TINY, capsys,
                   "minicnn train: training diverged in epoch 1, batch", "nothing was saved",
                   "try a smaller learning rate than 1000")
    assert any(reason in line for reason in ("NaN or infinite", "the loss became", "overflowed", "above 10 ln 10"))
    assert not out.exists()
    assert [str(warning.message) for warning in recwarn if issubclass(warning.category, RuntimeWarning)] == []


@pytest.mark.parametrize("model", ["fc_baseline", "keras_mnist_cnn"])
def test_a_run_diverging_on_resume_never_saves_the_diverged_epoch(tmp_path, capsys, recwarn, model):
    """fc_baseline resumed at lr 1000 saved an epoch with a training loss of 7e29 over the good one."""
    out = tmp_path / "run"
    assert main(["train", "--model", model, "--out", str(out)] + TINY) == 0
    checkpoint = out / "checkpoint.npz"
    before = {name: (path.read_bytes(), modified(path)) for name in ("checkpoint.npz", "metrics.json")
              for path in [out / name]}
    capsys.readouterr()
    refused(["train", "--resume", checkpoint, "--epochs", "2", "--lr", "1e3", "--quiet", "--backend", "numpy"],
            capsys, "training diverged in epoch 2", f"the checkpoint of epoch 1 in {checkpoint} is unchanged")
    assert {name: ((out / name).read_bytes(), modified(out / name)) for name in before} == before
    assert leftovers(out) == []
    assert [str(warning.message) for warning in recwarn if issubclass(warning.category, RuntimeWarning)] == []


def test_a_validation_pass_that_overflows_is_a_divergence_and_nothing_is_saved(tmp_path, recwarn):
    """keras_mnist_cnn at lr 1000 (numba backend, --limit 120) ended in a NonFiniteError traceback from
    the evaluation: finite weights so large that the class scores overflowed. The same state, on purpose."""

    class Inflate(Callback):
        def on_batch_end(self, state, batch, logs):
            if batch == len(state.loader) - 1:
                for parameter in state.optimizer.params:
                    parameter.data *= 1e15                  # finite, far too large

    random = np.random.default_rng(0)
    images, labels = random.standard_normal((64, 1, 28, 28)).astype(np.float32), np.arange(64) % 10
    mc.manual_seed(0)
    with pytest.raises(TrainingDiverged) as error:
        fit(models.get_model("keras_mnist_cnn"), (images, labels), (images[:16], labels[:16]), epochs=2,
            batch_size=32, checkpoint=tmp_path / "checkpoint.npz", callbacks=[Inflate()], progress=False)
    message = str(error.value)
    assert message.startswith("training diverged in epoch 1, batch 2 of 2: the validation "), message
    assert message.endswith("; nothing was saved; try a smaller learning rate than 0.01"), message
    assert "overflowed (the weights are finite, but as large as" in message or "validation loss is nan" in message
    assert os.listdir(tmp_path) == []
    assert [str(warning.message) for warning in recwarn if issubclass(warning.category, RuntimeWarning)] == []


# ===== 4. every model the CLI knows evaluates and visualizes, or says why (3) ==========================
class Described:
    """What save_checkpoint needs of a model, for the 224x224 models whose weights fill gigabytes."""

    def __init__(self, name):
        self.config = {"name": name, "kwargs": {"num_classes": 10}}

    def state_dict(self):
        return {}


# models whose whole page, rendered, another test writes (the time of one page is spent once)
VISUALIZED_ELSEWHERE = {"zfnet_small": "tests/test_cli.py::test_visualize_writes_every_figure_of_a_checkpoint"}


def untrained(path, name):
    """The checkpoint of an untrained ``name`` (a tiny stand-in for the 224x224 ones)."""
    fits = models.input_shape(name) == (1, 28, 28)
    model = models.get_model(name, num_classes=10) if fits else Described(name)
    return save_checkpoint(path, model, epoch=0, extra={"dataset": "fashion-mnist"})


def test_every_model_name_evaluates_and_visualizes_or_says_in_one_line_why_not(tmp_path, capsys, monkeypatch):
    """Before: visualize of fc_baseline failed with "max() arg is an empty sequence". Every figure is
    computed and drawn; only matplotlib's rendering of the PNG bytes is skipped, for time (the whole
    page of zfnet_small, rendered, is tests/test_cli.py's)."""
    monkeypatch.setattr(Figure, "savefig", lambda figure, file, **options: file.write(b"\x89PNG, not rendered"))
    for name in models.NAMES:
        checkpoint = untrained(tmp_path / name / "checkpoint.npz", name)
        report = tmp_path / f"{name}-report"
        if models.input_shape(name) != (1, 28, 28):
            why = f"{name} takes {models.input_shape(name)} images (C, H, W) and fashion-mnist's are (1, 28, 28)"
            refused(["eval", checkpoint, "--limit", "20", "--backend", "numpy"], capsys,
                    f"minicnn eval: {checkpoint}: {why}: nothing to evaluate")
            refused(["visualize", checkpoint, "--out", report, "--backend", "numpy"], capsys,
                    f"minicnn visualize: {checkpoint}: {why}: nothing to visualize")
            refused(["train", "--model", name, "--out", tmp_path / "never"] + TINY, capsys,
                    f"minicnn train: {why}: nothing to train; the models for them are")
            assert not (tmp_path / "never").exists() and not report.exists()
            continue
        status, out, _ = run_main(["eval", checkpoint, "--limit", "20", "--backend", "numpy"], capsys)
        assert status == 0 and f"{name} (epoch 0) on fashion-mnist test (20 images" in out, name
        if name in VISUALIZED_ELSEWHERE:
            continue
        argv = ["visualize", checkpoint, "--out", report, "--count", "9", "--backend", "numpy"]
        if name == "fc_baseline":
            refused(argv, capsys, f"minicnn visualize: {checkpoint}: fc_baseline has no convolutional layer: "
                    "nothing to visualize", f"`minicnn eval {checkpoint}` tests it")
            assert not report.exists()
            continue
        status, out, _ = run_main(argv, capsys)
        assert status == 0 and (report / "index.html").exists(), name


def test_a_checkpoint_of_fewer_classes_than_the_labels_is_one_line(tmp_path, capsys):
    model = models.get_model("fc_baseline", num_classes=3, hidden=8)
    checkpoint = save_checkpoint(tmp_path / "checkpoint.npz", model, epoch=0, extra={"dataset": "fashion-mnist"})
    for argv, what in ((["eval", checkpoint, "--limit", "50"], "evaluate"),
                       (["visualize", checkpoint, "--out", tmp_path / "report"], "visualize")):
        refused(argv + ["--backend", "numpy"], capsys, f"{checkpoint}: its fc_baseline scores 3 classes, but "
                f"fashion-mnist's labels go up to 9 (10 classes): nothing to {what}", "--dataset")


def test_a_checkpoint_whose_scores_overflow_is_one_line_without_numpy_warnings(tmp_path, capsys, recwarn):
    mc.manual_seed(0)
    model = models.get_model("keras_mnist_cnn")
    for parameter in model.parameters():
        parameter.data *= 1e12                  # finite, far too large: a run that diverged
    checkpoint = save_checkpoint(tmp_path / "checkpoint.npz", model, epoch=1, extra={"dataset": "fashion-mnist"})
    refused(["eval", checkpoint, "--limit", "50", "--backend", "numpy"], capsys, f"minicnn eval: {checkpoint}: ",
            "the class scores of its keras_mnist_cnn overflow (its weights are as large as",
            "the run that saved it had diverged")
    assert [str(warning.message) for warning in recwarn if issubclass(warning.category, RuntimeWarning)] == []


# ===== 5. unpooling with switches that do not fit (1 per backend) =====================================
def test_switches_that_do_not_fit_are_named_on_every_backend(backend_name):
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32))
    y, switches = F.max_pool2d(x, 2, return_switches=True)
    assert F.max_unpool2d(y, switches).shape == (2, 3, 6, 6)
    xp = mc.engine.backend.get_array_module(switches.indices)

    def changed(indices=None, input_shape=None):
        return F.Switches(switches.indices if indices is None else indices,
                          switches.input_shape if input_shape is None else input_shape)

    beyond = switches.indices.copy()
    beyond[1, 2, 2, 2] = 36                     # one past the 6x6 plane
    below = switches.indices.copy()
    below[0, 0, 0, 0] = -1
    cases = [
        (changed(beyond), ArgumentError, "switches.indices hold 36, outside the 6x6 plane of the pooled input"),
        (changed(below), ArgumentError, "switches.indices hold -1, outside the 6x6 plane"),
        (changed(input_shape=(2, 3, 4, 4)), ArgumentError, "outside the 4x4 plane of the pooled input"),
        (changed(input_shape=(2, 5, 6, 6)), ShapeError, "do not match switches.input_shape (2, 5, 6, 6)"),
        (changed(input_shape=(2, 3, 6)), ArgumentError, "switches.input_shape must be the (N, C, H, W)"),
        (changed(switches.indices.astype(xp.float32)), ArgumentError, "must be a 4-D integer array"),
        (changed(switches.indices[0]), ArgumentError, "must be a 4-D integer array (N, C, OH, OW); got "),
    ]
    for bad, kind, fragment in cases:
        with pytest.raises(kind) as error:
            F.max_unpool2d(y, bad)
        assert str(error.value).startswith("max_unpool2d: ") and fragment in str(error.value), str(error.value)
