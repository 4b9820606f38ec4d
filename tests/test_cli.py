"""The minicnn command, run in-process through main([...]) on tiny settings."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn import models
from minicnn.cli import main as cli
from minicnn.engine.nn import layers
from minicnn.training import plots
from minicnn.cli import tour as tour_module
from minicnn.cli.main import main
from minicnn.models import NAMES
from minicnn.training import load_checkpoint

TINY = ["--limit", "120", "--epochs", "1", "--batch-size", "32", "--quiet", "--backend", "numpy"]


@pytest.fixture
def no_downloaded_data(tmp_path, monkeypatch):
    """Only the embedded sample and the Debian package remain: no cache, no $MINICNN_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)


def run_main(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def test_summary_prints_the_table(capsys):
    status, out, _ = run_main(["summary", "keras_mnist_cnn"], capsys)
    assert status == 0
    assert "keras_mnist_cnn on input (1, 28, 28)" in out and "26x26" in out and "Total params: 93,322" in out


def test_summary_with_an_input_that_does_not_fit_names_the_layer(capsys):
    status, _, err = run_main(["summary", "keras_mnist_cnn", "--input", "1,7,7"], capsys)
    assert status == 2
    assert "Conv2d layer '3'" in err and "(2 - 3 + 2*0)/1 + 1" in err
    status, _, err = run_main(["summary", "lenet5", "--input", "3,28,28"], capsys)
    assert status == 2 and "needs 1" in err
    status, _, err = run_main(["summary", "lenet5", "--input", "28,28"], capsys)
    assert status == 2 and "C,H,W" in err


def test_unknown_model_and_dataset_list_the_valid_names(capsys, tmp_path):
    status, _, err = run_main(["summary", "resnet"], capsys)
    assert status == 2 and all(name in err for name in NAMES)
    status, _, err = run_main(["train", "--model", "resnet", "--out", str(tmp_path)] + TINY, capsys)
    assert status == 2 and "zfnet_small" in err
    status, _, err = run_main(["train", "--dataset", "cifar", "--out", str(tmp_path)] + TINY, capsys)
    assert status == 2 and "fashion-mnist" in err and "mnist" in err


def test_a_missing_dataset_says_where_it_looked_and_how_to_get_it(capsys, tmp_path, no_downloaded_data):
    status, _, err = run_main(["train", "--dataset", "mnist", "--out", str(tmp_path / "run")] + TINY, capsys)
    assert status == 2
    assert "mnist not found" in err and str(tmp_path / "cache") in err and "--fetch" in err
    status, out, _ = run_main(["data", "mnist"], capsys)
    assert status == 0 and "missing" in out and "--fetch" in out


def test_data_lists_the_places_in_order(capsys, no_downloaded_data):
    status, out, _ = run_main(["data", "fashion-mnist"], capsys)
    assert status == 0
    lines = [line for line in out.splitlines() if re.match(r"\s+\d\.", line)]
    assert [line.split(".")[0].strip() for line in lines] == [str(i + 1) for i in range(len(lines))]
    assert "embedded sample" in lines[-1] and sum("used" in line for line in lines) == 1
    status, _, err = run_main(["data", "cifar"], capsys)
    assert status == 2 and "fashion-mnist" in err


def test_data_fetch_failure_is_reported(capsys, monkeypatch, no_downloaded_data):
    def refuse(name):
        raise cli.FetchError("could not download http://example/: no network")
    monkeypatch.setattr(cli, "fetch", refuse)
    status, out, err = run_main(["data", "mnist", "--fetch"], capsys)
    assert status == 1 and "no network" in err and "missing" in out


def test_an_unavailable_backend_says_why_and_how(capsys, monkeypatch):
    monkeypatch.setattr(cli, "backends", lambda: {
        "numpy": (True, ""), "numba": (True, ""),
        "cupy": (False, "cupy is not importable; install it with `pip install minicnn[gpu]`")})
    status, _, err = run_main(["summary", "lenet5", "--backend", "cupy"], capsys)
    assert status == 2 and "not available" in err and "pip install" in err


def test_a_bad_flag_value_is_one_line_naming_the_flag_and_status_2(capsys, tmp_path):
    for argv, flag, value in (
        (["train", "--epochs", "0"], "--epochs", "0"),
        (["train", "--lr", "-0.1"], "--lr", "-0.1"),
        (["train", "--val-fraction", "1.5"], "--val-fraction", "1.5"),
        (["eval", "x.npz", "--batch-size", "0"], "--batch-size", "0"),
        (["visualize", "x.npz", "--count", "3"], "--count", "3"),
        (["summary", "lenet5", "--num-classes", "0"], "--num-classes", "0"),
    ):
        status, out, err = run_main(argv + ["--backend", "numpy"], capsys)
        assert status == 2 and out == "", argv
        assert err.count("\n") == 1 and flag in err and value in err and "must be" in err, err


def test_a_value_argparse_refuses_is_one_line_too(capsys):
    for argv in (["train", "--schedule", "bogus"], ["train", "--epochs", "five"], ["summary"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        _, err = capsys.readouterr()
        assert exit.value.code == 2 and err.count("\n") == 1 and "--help" in err, err
    with pytest.raises(SystemExit):
        main(["train", "--schedule", "bogus"])
    assert "'bogus'" in capsys.readouterr().err


def test_an_unknown_backend_in_the_environment_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("MINICNN_BACKEND", "tpu")
    status, _, err = run_main(["summary", "lenet5"], capsys)
    assert status == 2 and "$MINICNN_BACKEND" in err and "'tpu'" in err and "numpy" in err


def test_a_missing_or_broken_checkpoint_is_a_usage_error(capsys, tmp_path):
    missing = str(tmp_path / "nothing.npz")
    for argv in (["eval", missing], ["visualize", missing], ["train", "--resume", missing, "--quiet"]):
        status, _, err = run_main(argv + ["--backend", "numpy"], capsys)
        assert status == 2 and "no file at" in err and missing in err and err.count("\n") == 1, err
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip archive")
    status, _, err = run_main(["eval", str(broken), "--backend", "numpy"], capsys)
    assert status == 2 and "not a minicnn checkpoint (not a zip archive" in err and str(broken) in err


def test_a_data_path_without_the_files_is_a_usage_error(capsys, tmp_path):
    status, _, err = run_main(["train", "--data-path", str(tmp_path), "--out", str(tmp_path / "run")] + TINY, capsys)
    assert status == 2 and "--data-path" in err and str(tmp_path) in err and "train-images-idx3-ubyte" in err


def test_settings_that_cannot_work_together_are_a_usage_error(capsys, tmp_path):
    status, _, err = run_main(["train", "--schedule", "plateau", "--val-fraction", "0",
                               "--out", str(tmp_path)] + TINY, capsys)
    assert status == 2 and "plateau" in err and "validation" in err


def test_a_bug_inside_minicnn_keeps_its_traceback(capsys, tmp_path, monkeypatch):
    """A ValueError, KeyError or ShapeError from deep inside is not a usage error: it propagates."""
    def broken_model(**kwargs):
        raise ValueError("bug in a model constructor")

    monkeypatch.setitem(models.MODELS, "lenet5", (broken_model, (1, 28, 28), "broken"))
    with pytest.raises(ValueError, match="bug in a model constructor"):
        main(["summary", "lenet5", "--backend", "numpy"])
    monkeypatch.undo()

    for error in (ValueError("bug in conv2d"), KeyError("bug in conv2d"), mc.ShapeError("bug in conv2d")):
        def broken_conv2d(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(layers.F, "conv2d", broken_conv2d)  # as if a learner broke the op
        with pytest.raises(type(error), match="bug in conv2d"):
            main(["train", "--model", "lenet5", "--out", str(tmp_path / "run")] + TINY)
        monkeypatch.undo()


def test_a_bug_prints_the_traceback_and_exits_1():
    program = ("import sys; import minicnn.models as models; from minicnn.cli.main import main\n"
               "def broken(**kwargs): raise ValueError('bug')\n"
               "models.MODELS['lenet5'] = (broken, (1, 28, 28), 'broken')\n"
               "sys.exit(main(['summary', 'lenet5', '--backend', 'numpy']))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValueError: bug" in result.stderr


def test_train_eval_and_resume(capsys, tmp_path):
    out = tmp_path / "run"
    status, stdout, _ = run_main(["train", "--model", "lenet5", "--out", str(out), "--seed", "3"] + TINY, capsys)
    assert status == 0 and "test accuracy" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "history", "model", "dataset", "data_source", "backend",
                "seconds", "images_per_second", "device"):
        assert key in metrics, key
    assert metrics["model"] == "lenet5" and metrics["backend"] == "numpy"
    assert metrics["train_images"] + metrics["val_images"] == 120 and metrics["test_images"] == 120
    assert len(metrics["history"]) == 1 and (out / "curves.png").stat().st_size > 1000

    status, stdout, _ = run_main(["eval", str(out / "checkpoint.npz"), "--limit", "120", "--backend", "numpy"], capsys)
    assert status == 0
    accuracy = float(re.search(r"accuracy (\d\.\d+)", stdout).group(1))
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-4)

    status, _, _ = run_main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "2",
                             "--out", str(out), "--quiet", "--backend", "numpy"], capsys)
    assert status == 0
    resumed = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in resumed["history"]] == [1, 2] and resumed["model"] == "lenet5"
    assert resumed["history"][0] == metrics["history"][0]
    status, _, err = run_main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "3",
                               "--seed", "4", "--quiet", "--backend", "numpy"], capsys)
    assert status == 2 and "seed=3" in err


def test_float64_training_writes_float64_weights_and_resumes_bit_exactly(capsys, tmp_path):
    """--dtype float64: float64 images, weights and velocities; one epoch and a resume to two give
    the two-epoch run's weights bit for bit; a resume keeps the dtype; eval tests in float64."""
    tiny = ["--model", "lenet5", "--seed", "3", "--dtype", "float64", "--limit", "120", "--batch-size", "32",
            "--quiet", "--backend", "numpy"]
    status, stdout, _ = run_main(["train", *tiny, "--epochs", "2", "--out", str(tmp_path / "straight")], capsys)
    assert status == 0 and "numpy, float64)" in stdout
    checkpoint = tmp_path / "resumed" / "checkpoint.npz"
    status, _, _ = run_main(["train", *tiny, "--epochs", "1", "--out", str(checkpoint.parent)], capsys)
    assert status == 0
    saved = load_checkpoint(checkpoint)
    assert saved.extra["config"]["dtype"] == "float64"
    assert {array.dtype for array in saved.model_state.values()} == {np.dtype(np.float64)}
    assert {velocity.dtype for velocity in saved.velocities} == {np.dtype(np.float64)}

    status, _, _ = run_main(["train", "--resume", str(checkpoint), "--epochs", "2", "--quiet",
                             "--backend", "numpy"], capsys)          # no --dtype: the checkpoint's goes on
    assert status == 0
    straight, resumed = (load_checkpoint(tmp_path / name / "checkpoint.npz") for name in ("straight", "resumed"))
    for name, weights in straight.model_state.items():
        assert resumed.model_state[name].dtype == np.float64 and np.array_equal(resumed.model_state[name], weights), name
    metrics = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text())["test_loss"] == metrics["test_loss"]

    status, stdout, _ = run_main(["eval", str(checkpoint), "--limit", "120", "--backend", "numpy"], capsys)
    assert status == 0
    assert float(re.search(r"loss (\d+\.\d+)", stdout).group(1)) == pytest.approx(metrics["test_loss"], abs=1e-4)

    status, _, err = run_main(["train", "--resume", str(checkpoint), "--epochs", "3", "--dtype", "float32",
                               "--quiet", "--backend", "numpy"], capsys)
    assert status == 2 and "dtype='float64'" in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit:
        main(["train", "--dtype", "float16"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1, err
    assert "--dtype" in err and "'float16'" in err and "float32" in err and "float64" in err, err


def test_train_refuses_a_model_that_does_not_fit_the_images(capsys, tmp_path, monkeypatch):
    """Said from the model's designed input, before the data is read or its 62M weights are drawn."""
    monkeypatch.setattr(mc.rng, "normal_array", lambda *a, **k: pytest.fail("alexnet's weights were drawn"))
    status, _, err = run_main(["train", "--model", "alexnet", "--out", str(tmp_path / "run")] + TINY, capsys)
    assert status == 2 and err.count("\n") == 1 and not (tmp_path / "run").exists()
    assert ("minicnn train: alexnet takes (3, 224, 224) images (C, H, W) and fashion-mnist's are (1, 28, 28): "
            "nothing to train; the models for them are keras_mnist_cnn, fc_baseline, lenet5, zfnet_small") in err


def test_run_still_names_the_layer_of_a_model_that_does_not_fit(tmp_path, monkeypatch):
    """The designed input passes, the built model does not fit: check_fits names the layer."""
    from minicnn.training import experiment

    monkeypatch.setattr(experiment, "check_designed_for", lambda *a, **k: None)
    monkeypatch.setattr(mc.rng, "normal_array", lambda shape, scale, dtype: np.zeros(shape, dtype))  # 62M weights
    config = experiment.RunConfig(model="alexnet", out=str(tmp_path), epochs=1, train_limit=64, test_limit=32)
    with pytest.raises(experiment.RunConfigError, match="(?s)alexnet does not fit .*Conv2d layer '0'"):
        experiment.run(config, progress=False, verbose=False)


def test_tour_fast_writes_the_report(capsys, tmp_path, monkeypatch):
    def later_experiment(model, data, out_dir):
        """What a later issue's figure function looks like: (model, data, out_dir) -> triples."""
        assert data.test_x.shape[1:] == (1, 28, 28) and len(data.classes) == 10
        assert model.output_shape((1, 28, 28)) == (10,)
        path = plots.plot_examples(data.test_images[:2], ["a", "b"], Path(out_dir) / "extra.png")
        return [("A later experiment", path, "Its caption <escaped>.")]

    monkeypatch.setattr(tour_module, "experiment_sections", later_experiment)
    out = tmp_path / "tour"
    status, stdout, _ = run_main(["tour", "--fast", "--out", str(out), "--quiet"], capsys)
    assert status == 0 and "test accuracy" in stdout
    page = (out / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    names = {Path(image).name for image in images}
    assert {"curves.png", "filters.png", "confusion.png", "misclassified.png", "features_1.png"} <= names
    assert sum(name.startswith("features_") for name in names) == 5          # one per conv layer
    for image in images:
        assert (out / image).stat().st_size > 1000
    assert "metrics.json" in page and "Model summary" in page and "Test accuracy" in page
    assert "A later experiment" in page and "extra.png" in names and "Its caption &lt;escaped&gt;." in page
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "zfnet_small" and "embedded" in metrics["data_source"]


def test_python_dash_m_minicnn_runs():
    result = subprocess.run([sys.executable, "-m", "minicnn", "summary", "lenet5"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[1], timeout=120,
                            env={**os.environ, "MINICNN_BACKEND": "numpy"})
    assert result.returncode == 0 and "Total params: 61,750" in result.stdout


def test_visualize_writes_every_figure_of_a_checkpoint(capsys, tmp_path):
    out = tmp_path / "run"
    status, _, _ = run_main(["train", "--model", "zfnet_small", "--out", str(out)] + TINY, capsys)
    assert status == 0
    report = tmp_path / "figures"
    status, stdout, _ = run_main(["visualize", str(out / "checkpoint.npz"), "--out", str(report),
                                  "--count", "40", "--backend", "numpy"], capsys)
    assert status == 0 and "report:" in stdout
    page = (report / "index.html").read_text()
    for name in ("deconvnet_conv1.png", "occlusion_0.png", "invariance.png", "first_layer.png",
                 "gradcam.png", "patterns.png"):
        assert (report / name).stat().st_size > 1000, name
        assert name in page, name


def test_train_uses_the_models_own_defaults_unless_told_otherwise(capsys, tmp_path):
    # keras_mnist_cnn: 7 epochs, lr x0.1 after epoch 6 (README, "Reference results on full Fashion-MNIST")
    keras = {"epochs": 7, "schedule": "step", "step_size": 6, "gamma": 0.1}
    assert models.training_defaults("keras-mnist-cnn") == keras
    assert models.training_defaults("lenet5") == {}
    tiny = ["--limit", "40", "--batch-size", "32", "--quiet", "--backend", "numpy"]
    runs = {"keras": ["--model", "keras_mnist_cnn"],
            "keras-constant": ["--model", "keras_mnist_cnn", "--schedule", "none", "--epochs", "4"],
            "keras-lr": ["--model", "keras_mnist_cnn", "--lr", "0.02", "--step-size", "2", "--epochs", "4"],
            "lenet5": ["--model", "lenet5", "--epochs", "4"]}
    metrics = {}
    for name, options in runs.items():
        status, _, _ = run_main(["train", *options, "--out", str(tmp_path / name), *tiny], capsys)
        assert status == 0
        metrics[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    rates = {name: [epoch["lr"] for epoch in m["history"]] for name, m in metrics.items()}
    assert {key: metrics["keras"]["config"][key] for key in keras} == keras
    assert rates["keras"] == pytest.approx([0.01] * 6 + [0.001])
    assert rates["keras-constant"] == [0.01] * 4 and metrics["keras-constant"]["config"]["schedule"] == "none"
    assert rates["keras-lr"] == pytest.approx([0.02, 0.02, 0.002, 0.002])
    assert rates["lenet5"] == [0.01] * 4 and metrics["lenet5"]["config"]["schedule"] == "none"


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly():
    """`minicnn summary vgg16 | head -2`: the reader goes away before minicnn writes; no
    traceback, and the shell's status for a command ended by its pipe (or 0 if it finished)."""
    read, write = os.pipe()
    child = subprocess.Popen([sys.executable, "-m", "minicnn", "summary", "vgg16", "--backend", "numpy"],
                             stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    os.close(read)                                  # no reader from the start: every write fails
    _, err = child.communicate(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert child.returncode == 141
