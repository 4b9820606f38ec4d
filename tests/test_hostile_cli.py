"""The minicnn command used carelessly or with hostile intent: one line, status 2, nothing lost.

Run in-process through main([...]) on tiny settings, as test_cli.py does.
Every case asserts the exit status, that the message is one line naming the
thing, its value and what to do, and that files on disk are unchanged.
The API's side of the same classes is in test_hostile_checkpoints.py.
Sections, with their number of tests (pytest items; several try more than one input):

    1. a resumed run writes beside its checkpoint                       3
    2. an --out that holds a run is never replaced silently             6
    3. a diverging run, and resuming it with a smaller --lr             2
    4. output problems: a file in the way, a full disk, no permission   4
    5. files that are not checkpoints, given as CKPT                    12
    6. what a checkpoint says never becomes markup in a page            2
    7. flags that make no sense                                         13
    8. Ctrl-C names the checkpoint to resume from                       3
    9. a tired learner's mistakes                                       5
"""

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from minicnn.cli import main as cli
from minicnn.cli.main import main
from minicnn.cli.report import Section, render
from minicnn.training import checkpoint as ckpt
from minicnn.training import files
from minicnn.training.checkpoint import load_checkpoint

TINY = ["--model", "fc_baseline", "--limit", "120", "--epochs", "1", "--batch-size", "32", "--quiet",
        "--backend", "numpy"]


def run_main(argv, capsys):
    """main(argv) -> (status, stdout, stderr), with no traceback on stderr."""
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def refused(argv, capsys, *fragments, status=2):
    """The command fails with ``status`` and one line "minicnn COMMAND: ..." naming every fragment
    (after the lines that say where the data was read, when it got that far); returns the line."""
    code, out, err = run_main(argv, capsys)
    assert code == status, (code, err)
    lines = err.splitlines()
    assert [line for line in lines if line.startswith(f"minicnn {argv[0]}:")] == lines[-1:], err
    assert all(line.startswith("minicnn: ") for line in lines[:-1]), err        # "minicnn: mnist/train: 60000 ..."
    for fragment in fragments:
        assert fragment in lines[-1], err
    return lines[-1] + "\n"


def snapshot(folder):
    return {path.relative_to(folder): path.read_bytes() for path in sorted(Path(folder).rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run of one epoch: its folder, copied fresh for each test that changes it."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--out", str(out)] + TINY) == 0
    return out


@pytest.fixture
def run_copy(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def set_metadata(path, **changes):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    metadata = json.loads(arrays["metadata.json"].tobytes())
    metadata["extra"]["config"].update(changes)
    arrays["metadata.json"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


# ===== 1. a resumed run writes beside its checkpoint (3) ===========================================
def test_a_crafted_checkpoint_cannot_choose_where_a_resumed_run_writes(run_copy, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "checkpoint.npz").write_bytes(b"another run")
    (victim / "metrics.json").write_text("another run's results")
    set_metadata(run_copy / "checkpoint.npz", out=str(victim))
    status, out, _ = run_main(["train", "--resume", str(run_copy / "checkpoint.npz"), "--epochs", "2",
                               "--quiet", "--backend", "numpy"], capsys)
    assert status == 0 and f"wrote {run_copy}/metrics.json" in out
    assert (victim / "checkpoint.npz").read_bytes() == b"another run"
    assert (victim / "metrics.json").read_text() == "another run's results"
    assert load_checkpoint(run_copy / "checkpoint.npz").epoch == 2


def test_resuming_a_copied_run_leaves_the_original_alone(trained, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    before = snapshot(trained)
    status, _, _ = run_main(["train", "--resume", str(copy / "checkpoint.npz"), "--epochs", "2", "--quiet",
                             "--backend", "numpy"], capsys)
    assert status == 0 and snapshot(trained) == before
    assert [record["epoch"] for record in json.loads((copy / "metrics.json").read_text())["history"]] == [1, 2]


def test_resuming_an_older_copy_beside_a_newer_checkpoint_is_refused(run_copy, capsys):
    shutil.copy(run_copy / "checkpoint.npz", run_copy / "epoch1.npz")
    before = snapshot(run_copy)
    refused(["train", "--resume", str(run_copy / "epoch1.npz"), "--epochs", "2", "--quiet", "--backend", "numpy"],
            capsys, f"--out {run_copy} already holds a run (checkpoint.npz, metrics.json); nothing was changed",
            f"`minicnn train --resume {run_copy / 'checkpoint.npz'}`", "--overwrite")
    assert snapshot(run_copy) == before


# ===== 2. an --out that holds a run is never replaced silently (6) ===================================
def test_training_again_into_the_same_out_is_refused(run_copy, capsys):
    before = snapshot(run_copy)
    line = refused(["train", "--out", str(run_copy), "--seed", "5"] + TINY, capsys)
    assert line == (f"minicnn train: --out {run_copy} already holds a run (checkpoint.npz, metrics.json); nothing "
                    f"was changed. To keep it, continue it with `minicnn train --resume {run_copy / 'checkpoint.npz'}`, "
                    "or choose another --out; to replace it, add --overwrite\n")
    assert snapshot(run_copy) == before


def test_overwrite_replaces_the_run_and_leaves_none_of_its_files(run_copy, capsys):
    before = (run_copy / "checkpoint.npz").read_bytes()
    (run_copy / "snapshots.npz").write_bytes(b"the old run's Fig. 4 snapshots")
    status, _, _ = run_main(["train", "--out", str(run_copy), "--seed", "5", "--overwrite"] + TINY, capsys)
    assert status == 0
    assert (run_copy / "checkpoint.npz").read_bytes() != before and not (run_copy / "snapshots.npz").exists()
    assert json.loads((run_copy / "metrics.json").read_text())["config"]["seed"] == 5


def test_the_tour_refuses_a_folder_holding_a_run_before_training(run_copy, capsys, monkeypatch):
    monkeypatch.setattr("minicnn.cli.tour.run", lambda *a, **k: pytest.fail("the tour trained"))
    before = snapshot(run_copy)
    refused(["tour", "--fast", "--out", str(run_copy), "--quiet", "--backend", "numpy"], capsys,
            f"minicnn tour: --out {run_copy} already holds a run", "choose another --out", "add --overwrite")
    assert snapshot(run_copy) == before


def test_resuming_into_another_runs_folder_is_refused(trained, run_copy, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    before = snapshot(other)
    refused(["train", "--resume", str(run_copy / "checkpoint.npz"), "--out", str(other), "--epochs", "2",
             "--quiet", "--backend", "numpy"], capsys, f"--out {other} already holds a run", "--overwrite")
    assert snapshot(other) == before


def test_resuming_into_a_fresh_out_writes_only_there(trained, tmp_path, capsys):
    before = snapshot(trained)
    fresh = tmp_path / "continued"
    status, _, _ = run_main(["train", "--resume", str(trained / "checkpoint.npz"), "--out", str(fresh),
                             "--epochs", "2", "--quiet", "--backend", "numpy"], capsys)
    assert status == 0 and snapshot(trained) == before and load_checkpoint(fresh / "checkpoint.npz").epoch == 2


def test_visualize_will_not_write_its_report_into_a_runs_folder(run_copy, capsys):
    before = snapshot(run_copy)
    refused(["visualize", str(run_copy / "checkpoint.npz"), "--out", str(run_copy), "--backend", "numpy"], capsys,
            f"--out {run_copy} holds a training run (checkpoint.npz, metrics.json)",
            f"such as --out {run_copy / 'report'}")
    assert snapshot(run_copy) == before


# ===== 3. a diverging run, and resuming it with a smaller --lr (2) ===================================
def test_a_diverging_run_is_one_line_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    line = refused(["train", "--out", str(out), "--lr", "1e30", "--momentum", "0.99"] + TINY, capsys,
                   "minicnn train: training diverged in epoch 1, batch", "nothing was saved",
                   "try a smaller learning rate than 1e+30")
    assert "NaN or infinite" in line or "the loss became" in line
    assert not (out / "checkpoint.npz").exists()


def test_a_run_diverging_on_resume_keeps_its_checkpoint_and_a_smaller_lr_takes_effect(run_copy, capsys):
    checkpoint = run_copy / "checkpoint.npz"
    before = checkpoint.read_bytes()
    resume = ["train", "--resume", str(checkpoint), "--epochs", "2", "--quiet", "--backend", "numpy"]
    refused(resume + ["--lr", "1e30"], capsys, "training diverged in epoch 2",
            f"the checkpoint of epoch 1 in {checkpoint} is unchanged")
    assert checkpoint.read_bytes() == before
    status, _, _ = run_main(resume + ["--lr", "0.001"], capsys)
    assert status == 0
    history = json.loads((run_copy / "metrics.json").read_text())["history"]
    assert [record["lr"] for record in history] == [0.01, 0.001]


# ===== 4. output problems: a file in the way, a full disk, no permission (4) =========================
def test_an_out_that_is_a_file_inside_a_file_or_empty(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    refused(["train", "--out", str(notes)] + TINY, capsys, f"--out: {notes} is a file; give a folder")
    refused(["train", "--out", str(notes / "run")] + TINY, capsys,
            f"--out: {notes} is a file (it is part of --out {notes / 'run'})")
    refused(["tour", "--out", str(notes / "tour"), "--fast", "--backend", "numpy"], capsys, f"--out: {notes} is a file")
    refused(["train", "--out", ""] + TINY, capsys, "--out is empty")
    assert notes.read_text() == "keep me" and os.listdir(tmp_path) == ["notes.txt"]


def test_a_full_disk_keeps_the_previous_checkpoint(run_copy, capsys, monkeypatch):
    checkpoint = run_copy / "checkpoint.npz"
    before = snapshot(run_copy)

    def full(file, **arrays):
        file.write(b"PK\x03\x04 part of")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.numpy, "savez", full)
    refused(["train", "--resume", str(checkpoint), "--epochs", "2", "--quiet", "--backend", "numpy"], capsys,
            f"minicnn train: cannot write {checkpoint}: No space left on device; free some disk space",
            "(the previous checkpoint.npz is unchanged)")
    assert snapshot(run_copy) == before


def test_a_folder_that_refuses_writing(tmp_path, capsys, monkeypatch):
    """As root, chmod does not stop a write: the refusals the OS would give are simulated."""
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    refused(["train", "--out", str(tmp_path / "run")] + TINY, capsys,
            f"--out: cannot write in the folder {tmp_path / 'run'} (permission denied)")
    monkeypatch.undo()
    real_open = os.open

    def read_only(path, flags, mode=0o777, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(files.os, "open", read_only)
    refused(["train", "--out", str(tmp_path / "run")] + TINY, capsys,
            f"cannot write {tmp_path / 'run' / 'checkpoint.npz'}: Permission denied; choose an output folder")
    assert os.listdir(tmp_path) == []          # the folder the run made, empty, went with it


def test_a_folder_in_the_way_of_the_checkpoint(tmp_path, capsys):
    (tmp_path / "run" / "checkpoint.npz").mkdir(parents=True)
    refused(["train", "--out", str(tmp_path / "run")] + TINY, capsys, "already holds a run")
    refused(["train", "--out", str(tmp_path / "run"), "--overwrite"] + TINY, capsys,
            f"cannot write {tmp_path / 'run' / 'checkpoint.npz'}: Is a directory: a folder of that name is in the way")
    assert (tmp_path / "run" / "checkpoint.npz").is_dir()


# ===== 5. files that are not checkpoints, given as CKPT (12) ==========================================
def foreign(path, kind):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    elif kind == "json":
        path.write_text('{"test_accuracy": 0.9}')
    elif kind == "random":
        path.write_bytes(np.random.default_rng(1).bytes(1000))
    elif kind == "plain npz":
        np.savez(path.open("wb"), w=np.ones(3))
    return path


@pytest.mark.parametrize("command", ["eval", "visualize", "train --resume"])
@pytest.mark.parametrize("kind, why", [
    ("empty", "it is empty: 0 bytes"), ("png", "it is a PNG image"),
    ("json", "it is a JSON or text file, such as metrics.json"), ("random", "not a zip archive"),
])
def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, capsys, command, kind, why):
    path = foreign(tmp_path / "checkpoint.npz", kind)
    before = path.read_bytes()
    argv = command.split() + [str(path)] + (["--quiet"] if command.startswith("train") else [])
    refused(argv + ["--backend", "numpy"], capsys, f"{path}: not a minicnn checkpoint ({why}")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["checkpoint.npz"]


# ===== 6. what a checkpoint says never becomes markup in a page (2) ===================================
def test_visualize_escapes_the_checkpoint_path_and_the_data_source(trained, tmp_path):
    """Folder names are text a checkpoint's owner chooses: here they carry markup and a script."""
    from minicnn.cli.checkpoint_page import introduction

    folder = tmp_path / '<script>alert("ckpt")</script>'
    shutil.copytree(trained, folder)
    intro = introduction(load_checkpoint(folder / "checkpoint.npz"), "fashion-mnist<b>",
                         "/data/<img src=x onerror=alert(1)>")
    assert "<script>" not in intro and "<img" not in intro and "<b>" not in intro
    assert "&lt;script&gt;alert(&quot;ckpt&quot;)&lt;/script&gt;" in intro
    assert "&lt;img src=x onerror=alert(1)&gt;" in intro and "fashion-mnist&lt;b&gt;" in intro
    assert intro.startswith("<p>fc_baseline from <code>") and "(epoch 1)" in intro


def test_report_text_and_links_are_escaped_and_links_stay_relative(tmp_path):
    page = render('"><script>alert(1)</script>', "<p>trusted</p>", [
        Section("<b>title</b>", 'caption "quoted" <i>', image=tmp_path / "javascript:alert(1).png"),
        Section("x", "<script>", body="<table></table>")], tmp_path)
    assert "<script>" not in page and "<b>title" not in page and "<i>" not in page
    assert 'href="./javascript:alert(1).png"' in page and 'src="./javascript:alert(1).png"' in page
    assert "&lt;b&gt;title&lt;/b&gt;" in page and "caption &quot;quoted&quot; &lt;i&gt;" in page
    assert "<p>trusted</p>" in page and "<table></table>" in page       # the caller's own HTML


# ===== 7. flags that make no sense (13) =============================================================
@pytest.mark.parametrize("flag, value, needed, shown", [
    ("--lr", "inf", "a positive, finite learning rate", "inf"), ("--lr", "nan", "a positive, finite learning rate", "nan"),
    ("--lr", "-1", "a positive, finite learning rate", "-1.0"), ("--momentum", "nan", "in [0, 1)", "nan"),
    ("--momentum", "1", "in [0, 1)", "1.0"), ("--weight-decay", "inf", "a finite number, 0 or more", "inf"),
    ("--weight-decay", "-0.1", "a finite number, 0 or more", "-0.1"),
    ("--filter-radius", "nan", "a positive, finite RMS", "nan"), ("--gamma", "inf", "a positive, finite factor", "inf"),
    ("--limit", "0", "at least 1 image", "0"), ("--limit", "-5", "at least 1 image", "-5"),
    ("--val-fraction", "nan", "a fraction in [0, 1)", "nan"),
    ("--epochs", "-1", "a whole number of epochs, at least 1", "-1"),
])
def test_a_flag_out_of_range_is_refused_before_any_work(tmp_path, capsys, flag, value, needed, shown):
    line = refused(["train", "--out", str(tmp_path / "run")] + TINY + [flag, value], capsys)
    assert line == f"minicnn train: {flag} must be {needed}; got {shown}\n"
    assert os.listdir(tmp_path) == []


# ===== 8. Ctrl-C names the checkpoint to resume from (3) ===============================================
def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_names_the_real_checkpoint(run_copy, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run", interrupt)
    checkpoint = run_copy / "checkpoint.npz"
    status, _, err = run_main(["train", "--resume", str(checkpoint), "--epochs", "3", "--quiet", "--backend", "numpy"],
                              capsys)
    assert status == 130
    assert err.strip() == (f"minicnn train: interrupted; the checkpoint of the last complete epoch is intact: "
                           f"continue with `minicnn train --resume {checkpoint}`")
    spaced = tmp_path / "my runs" / "a"
    shutil.copytree(run_copy, spaced)
    _, _, err = run_main(["train", "--resume", str(spaced / "checkpoint.npz"), "--epochs", "3", "--quiet",
                          "--backend", "numpy"], capsys)
    assert f"`minicnn train --resume '{spaced / 'checkpoint.npz'}'`" in err        # quoted for the shell


def test_ctrl_c_before_the_first_epoch_says_there_is_nothing_to_resume(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run", interrupt)
    status, _, err = run_main(["train", "--out", str(tmp_path / "run")] + TINY, capsys)
    assert status == 130 and "no epoch was complete, so there is no checkpoint yet: start the run again" in err


def test_ctrl_c_resuming_into_a_new_out_points_at_the_checkpoint_given(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run", interrupt)
    _, _, err = run_main(["train", "--resume", str(trained / "checkpoint.npz"), "--out", str(tmp_path / "new"),
                          "--epochs", "3", "--quiet", "--backend", "numpy"], capsys)
    assert f"continue with `minicnn train --resume {trained / 'checkpoint.npz'}`" in err


# ===== 9. a tired learner's mistakes (5) ============================================================
def test_a_folder_given_as_the_checkpoint_names_the_file_in_it(trained, capsys):
    for argv in (["eval", str(trained)], ["train", "--resume", str(trained), "--quiet"]):
        refused(argv + ["--backend", "numpy"], capsys, f"{trained} is a folder; give the checkpoint in it: "
                f"{trained / 'checkpoint.npz'}")


def test_resuming_a_finished_run_asks_for_more_epochs(run_copy, capsys):
    before = snapshot(run_copy)
    refused(["train", "--resume", str(run_copy / "checkpoint.npz"), "--quiet", "--backend", "numpy"], capsys,
            "has already trained 1 epochs and epochs=1 is the total to reach", "ask for more than 1")
    assert snapshot(run_copy) == before


def test_changing_the_schedule_on_resume_is_refused(run_copy, capsys):
    refused(["train", "--resume", str(run_copy / "checkpoint.npz"), "--epochs", "2", "--gamma", "0.5", "--quiet",
             "--backend", "numpy"], capsys, "was trained with gamma=0.1", "gamma cannot change on resume")


def test_resuming_where_the_runs_data_folder_is_missing_names_the_checkpoints_folder(run_copy, tmp_path, capsys):
    gone = tmp_path / "data-on-the-other-machine"
    set_metadata(run_copy / "checkpoint.npz", data_path=str(gone))
    refused(["train", "--resume", str(run_copy / "checkpoint.npz"), "--epochs", "2", "--quiet", "--backend", "numpy"],
            capsys, f"--resume: {run_copy / 'checkpoint.npz'} was trained on the files in {gone}, which this "
            f"machine lacks ({gone} does not exist)", "put them there (a link to them will do)")


def test_an_empty_backend_variable_counts_as_unset(capsys, monkeypatch):
    monkeypatch.setenv("MINICNN_BACKEND", "")
    status, out, _ = run_main(["summary", "lenet5"], capsys)
    assert status == 0 and "Total params" in out
