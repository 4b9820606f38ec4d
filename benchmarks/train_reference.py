"""Reference training results on the full Fashion-MNIST (opt-in; not part of the tests).

    python benchmarks/train_reference.py                     # full data (times: benchmarks/results/train_reference.md)
    python benchmarks/train_reference.py --limit 600         # a quick check that it works
    python benchmarks/train_reference.py --backend cupy      # on a GPU machine

Trains, one after the other, with SGD (lr 0.01, momentum 0.9, batch 64, seed 0):

    fc_baseline       5 epochs   784-512-10, the network the convnet must beat
    keras_mnist_cnn   7 epochs   the lecture notes' convnet, lr x0.1 after epoch 6 (minicnn train's defaults for it)
    zfnet_small      10 epochs   ZFNet's layout at 28x28, lr x0.1 after epoch 6 (ZFNet annealed by hand)

on Fashion-MNIST as ``load_dataset`` finds it (the Debian package
``dataset-fashion-mnist``, $MINICNN_DATA, or the cache filled by
``minicnn data --fetch fashion-mnist``; 10% of the 60000 training images are
held out for validation), and writes

    benchmarks/results/train_reference.json   every number, the machine and library versions
    benchmarks/results/train_reference.md     a table

(with ``--limit N`` the files are named train_reference-limitN.*, so a quick
check never overwrites the real results; ``--models keras_mnist_cnn`` reruns one
model and keeps the other models' rows from the previous file, each with its
date and machine). For comparison (docs/sources.md section
2): on MNIST, not Fashion-MNIST, the fully connected network reached 97.8%.

Benchmark rules (docs/style.md rule 10): seeds are fixed; before timing, each
model's forward pass on the chosen backend is checked against the NumPy
backend and one warm-up step runs (compiling Numba kernels, starting the
GPU); every batch reads its loss back to the host (``loss.item()``), which
synchronises the GPU before the clock is read.
"""

import argparse
import ctypes
import glob
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import minicnn as mc  # noqa: E402  (before NumPy: minicnn/engine/process.py)
import numpy  # noqa: E402
from minicnn.engine.backend import to_numpy, using_backend  # noqa: E402
from minicnn.training.checkpoint import atomic_write, write_json  # noqa: E402
from minicnn.cli.main import UsageError, choose_backend  # noqa: E402
from minicnn.training.experiment import RunConfig, load_data, machine_info, run  # noqa: E402
from minicnn.models import get_model, training_defaults  # noqa: E402
from minicnn.training.loop import fit  # noqa: E402

# (model, epochs, step size of the learning-rate schedule: lr x0.1 after that many epochs,
# as ZFNet annealed by hand; None for a constant rate). keras_mnist_cnn: what `minicnn train` uses for it.
KERAS = training_defaults("keras_mnist_cnn")
PLAN = (("fc_baseline", 5, None), ("keras_mnist_cnn", KERAS["epochs"], KERAS["step_size"]), ("zfnet_small", 10, 6))
RESULTS = Path(__file__).resolve().parent / "results"


def check_against_numpy(name, x):
    """The active backend's logits for ``x`` must match the NumPy backend's."""
    mc.manual_seed(0)
    model = get_model(name).eval()
    with mc.no_grad():
        logits = to_numpy(model(mc.tensor(x)).data)
    state = model.state_dict()
    with using_backend("numpy"):
        reference = get_model(name).eval()
        reference.load_state_dict(state)
        with mc.no_grad():
            expected = reference(mc.tensor(x, device="cpu")).numpy()
    if not numpy.allclose(logits, expected, rtol=1e-4, atol=1e-4):
        raise AssertionError(f"{name}: the {mc.get_backend()} backend's logits differ from NumPy's "
                             f"by up to {numpy.abs(logits - expected).max():.3g}")


def warm_up(name, data):
    """One short epoch, untimed: compiles kernels and fills caches."""
    mc.manual_seed(0)
    fit(get_model(name), (data.train_x[:128], data.train_y[:128]), epochs=1, batch_size=64,
        progress=False)


def markdown(report):
    machine = report["machine"]
    lines = [
        "# Reference training results: Fashion-MNIST",
        "",
        f"{report['date']}; backend `{machine['backend']}` on {machine['device']}; "
        f"Python {machine['python']}, NumPy {machine['numpy']}, minicnn {machine['minicnn']}; "
        f"OPENBLAS_CORETYPE={machine['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_NUM_THREADS={machine['OPENBLAS_NUM_THREADS']}, "
        f"NUMBA_NUM_THREADS={machine['NUMBA_NUM_THREADS']}; BLAS kernel: {report.get('blas_kernel')}.",
        f"Data: {report['data_source']}; {report['train_images']} training, "
        f"{report['val_images']} validation, {report['test_images']} test images.",
        f"Command: `{report['command']}`",
        "",
        "| model | parameters | epochs | test accuracy | test loss | training time (s) | images/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['epochs']} | {r['test_accuracy']:.4f} | "
                     f"{r['test_loss']:.4f} | {r['train_seconds']:.1f} | {r['images_per_second']:.0f} |")
    for r in report["results"]:
        if "kept_from" in r:
            kept = r["kept_from"]
            lines += ["", f"{r['model']}: kept from the run of {kept['date']} (`{kept['command']}`, "
                          f"{kept['device']}, OPENBLAS_CORETYPE={kept['OPENBLAS_CORETYPE']})."]
    steps = "; ".join(f"{name}: lr x0.1 after epoch {step}" for name, _, step in PLAN if step)
    lines += ["", f"SGD, lr 0.01, momentum 0.9, batch 64, seed 0, no augmentation; {steps}. "
              "Training time excludes validation. For comparison (docs/sources.md section 2), a fully "
              "connected network reached 97.8% on MNIST (digits, an easier task)."]
    return "\n".join(lines) + "\n"


def blas_kernel():
    """NumPy's OpenBLAS and the kernel it chose for this CPU (or OPENBLAS_CORETYPE's), or None."""
    for library in glob.glob(str(Path(numpy.__file__).parent.parent / "numpy.libs" / "*openblas*")):
        for symbol in ("scipy_openblas_get_config64_", "openblas_get_config64_", "openblas_get_config"):
            function = getattr(ctypes.CDLL(library), symbol, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                return function().decode()
    return None


def keep_other_rows(path, results):
    """``results`` in PLAN's order, with the rows of the models not rerun kept from ``path``'s report."""
    rerun = {r["model"] for r in results}
    kept = []
    if path.exists():
        previous = json.loads(path.read_text())
        for r in previous["results"]:
            if r["model"] not in rerun:
                r.setdefault("kept_from", {"date": previous["date"], "command": previous["command"],
                                           "device": previous["machine"]["device"],
                                           "OPENBLAS_CORETYPE": previous["machine"]["OPENBLAS_CORETYPE"]})
                kept.append(r)
    order = [name for name, _, _ in PLAN]
    return sorted(results + kept, key=lambda r: order.index(r["model"]) if r["model"] in order else len(order))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("numpy", "numba", "cupy"), default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N images of each split (a quick check)")
    parser.add_argument("--data-path", default=None)
    parser.add_argument("--models", nargs="*", default=[name for name, _, _ in PLAN])
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    parser.add_argument("--runs-dir", default=None, help="keep each run's checkpoint, curves and metrics here")
    parser.add_argument("--allow-sample", action="store_true",
                        help="accept the embedded 6000-image sample when the full data is missing")
    args = parser.parse_args(argv)
    try:
        choose_backend(args.backend)
    except UsageError as error:
        sys.exit(f"train_reference: {error}")
    data = load_data("fashion-mnist", args.data_path, args.limit, args.limit, val_fraction=0.1, seed=0)
    if args.limit is None and "embedded" in data.source and not args.allow_sample:
        sys.exit("train_reference: only the embedded sample was found, not the full Fashion-MNIST; "
                 "apt-get install dataset-fashion-mnist, or run `minicnn data --fetch fashion-mnist`")
    runs_dir = Path(args.runs_dir or tempfile.mkdtemp(prefix="minicnn-reference-"))
    results = []
    for name, epochs, step_size in PLAN:
        if name not in args.models:
            continue
        check_against_numpy(name, data.test_x[:8])
        warm_up(name, data)
        config = RunConfig(model=name, dataset="fashion-mnist", out=str(runs_dir / name),
                           epochs=args.epochs or epochs, batch_size=64, lr=0.01, momentum=0.9, seed=0,
                           data_path=args.data_path, train_limit=args.limit, test_limit=args.limit,
                           val_fraction=0.1, schedule="step" if step_size else "none",
                           step_size=step_size or 5, gamma=0.1)
        metrics = run(config, progress=sys.stderr.isatty()).metrics
        results.append({key: metrics[key] for key in (
            "model", "parameters", "epochs", "test_accuracy", "test_loss", "train_seconds", "seconds",
            "images_per_second", "backend", "device", "history")})
        print(f"{name}: test accuracy {metrics['test_accuracy']:.4f}, "
              f"{metrics['images_per_second']:.0f} images/s", flush=True)
    machine = machine_info()
    report = {"date": machine["date"], "machine": machine, "command": " ".join(["python"] + sys.argv),
              "data_source": data.source, "train_images": len(data.train_y), "val_images": len(data.val_y),
              "test_images": len(data.test_y), "limit": args.limit, "runs_dir": str(runs_dir),
              "blas_kernel": blas_kernel(), "results": results}
    stem = "train_reference" if args.limit is None else f"train_reference-limit{args.limit}"
    report["results"] = keep_other_rows(RESULTS / f"{stem}.json", report["results"])
    write_json(RESULTS / f"{stem}.json", report)
    text = markdown(report)
    atomic_write(RESULTS / f"{stem}.md", lambda file: file.write(text), mode="w")
    print(f"wrote {RESULTS / stem}.json and .md")


if __name__ == "__main__":
    main()
