"""The ``minicnn`` command: train, eval, summary, data, tour, visualize, explore, bench, reproduce.

    minicnn tour --out tour                          # start here: open tour/index.html
    minicnn train --model keras_mnist_cnn --epochs 5 --out runs/keras
    mpiexec -n 2 python -m minicnn train --distributed ...   # data-parallel (minicnn/distributed/)
    minicnn eval runs/keras/checkpoint.npz
    minicnn summary zfnet --input 3,224,224
    minicnn data fashion-mnist [--fetch]
    minicnn reproduce zfnet --out zfnet-claims [--budget quick|full] [--claims 1,3,7]

Every command takes ``--backend {numpy,numba,cupy}``; without it minicnn
uses the engine's ``default_backend()``, as a script does: $MINICNN_BACKEND,
else numba where Numba imports, else numpy (the GPU only when asked for).
``summary`` shows, per layer, how it runs on that backend (its route).

Two kinds of failure, told apart. A mistake the user can fix without
reading minicnn's code (a flag value out of range, an unknown name, a
missing file, a checkpoint that cannot be used, a model that does not fit
the images, data not found, an unavailable backend, a failed download)
prints one explanation and exits with status 2, without a traceback: the
values the user typed are checked here, before any work starts, and the
few minicnn errors that mean "your settings" (USAGE_ERRORS) are caught.
Anything else, a ValueError from an op a learner is editing included, is a
bug: Python prints its traceback and exits with status 1.

Nothing is replaced without being asked: ``train`` and ``tour`` refuse an
--out that already holds a run (its checkpoint.npz or metrics.json) unless
--overwrite is given, which deletes that run's files first (RUN_FILES);
``train --resume CKPT`` continues in CKPT's own folder (or --out). One run
at a time in a folder: ``train`` and ``tour`` hold a lock on --out for the
whole run (training/files.py, hold_folder: the OS releases it when the
process ends, however it ends), and a second run into it is refused, naming
the process that holds it (status 2).

Signals. Ctrl-C (SIGINT), SIGTERM (``kill``, a job scheduler) and SIGHUP (a
closed terminal) all stop a command the same way: the file being written is
abandoned whole (files.atomic_write), ``train`` names the last complete
checkpoint and the command that resumes it, and the exit status is the
shell's 128 + the signal's number: 130, 143, 129. (A SIGHUP that nohup set
to be ignored stays ignored.) Under mpiexec, rank 0 says it for the job.

Paths. A folder name may hold bytes that are not UTF-8 (b"run\\xff"): every
path is printed with those bytes as \\xff, and shown to be pasted into a
shell as $'run\\xff' (``shown``, ``shell_quoted``: cli/terminal.py, with the
signal handling).
"""

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path

import numpy

from .. import models
from ..engine.backend import NAMES as BACKENDS
from ..engine.backend import backends, default_backend, get_backend, set_backend
from ..distributed import SingleProcess, abort_on_error, disagreement, launched_ranks, started_by_mpiexec, world
from ..engine.errors import NonFiniteError
from ..training.checkpoint import CheckpointError, OutputError, load_checkpoint, load_model, weights_dtype
from ..training.files import FolderInUse, hold_folder
from ..training.loop import QUIET_OVERFLOW, TrainingDiverged
from ..data import DataError, FetchError, describe_sources, fetch, load_dataset, sources
from ..data import mean_std, normalize, to_float
from ..data.sources import NAMES as DATASETS
from ..training.experiment import (
    AUGMENTATIONS, DTYPES, SCHEDULES, RunConfig, RunConfigError, check_designed_for, dataset_input_shape,
    print_result, resume_config, run, saved_standardisation, trained_dataset,
)
from ..engine.nn.summary import format_table
from ..engine.shapes import ShapeError
from ..training.loop import evaluate
from ..reproduce.cli import add_parser as add_reproduce_parser
from .terminal import printable_output, shell_quoted, shown, signals_as_interrupts



class UsageError(Exception):
    """A mistake in the command line: print the message, exit with status 2."""


# The errors that mean "change what you typed": main prints the message alone, no
# traceback, and returns 2. Builtin errors (ValueError, KeyError, ...) are not among
# them: raised anywhere inside minicnn they are bugs, and keep their traceback.
USAGE_ERRORS = (
    UsageError,        # a flag, name or file checked below, before any work starts
    RunConfigError,    # run settings that cannot work together (training/experiment.py)
    CheckpointError,   # a file that is not a usable minicnn checkpoint (training/checkpoint.py)
    DataError,         # data minicnn cannot use: an invalid IDX file, bad labels (data/idx.py)
    FetchError,        # a download that failed or did not match its checksum (data/download.py)
    OutputError,       # a file that could not be written: disk full, no permission (training/checkpoint.py)
    TrainingDiverged,  # the loss or the weights became NaN: a smaller --lr (training/loop.py)
)

# What `minicnn train` writes in --out: an earlier run's files, which --overwrite deletes first
# (so that none of them, snapshots.npz included, is mixed with the new run's).
RUN_FILES = ("checkpoint.npz", "metrics.json", "curves.png", "snapshots.npz")


# ----- checking what the user typed -------------------------------------------------
# (flag, what it needs, the test): checked for every command that has the flag, when given.
FLAG_RULES = (
    ("--epochs", "a whole number of epochs, at least 1", lambda value: value >= 1),
    ("--batch-size", "at least 1 image", lambda value: value >= 1),
    ("--batch", "at least 1 image", lambda value: value >= 1),
    ("--lr", "a positive, finite learning rate", lambda value: value > 0),
    ("--momentum", "in [0, 1)", lambda value: 0 <= value < 1),
    ("--weight-decay", "a finite number, 0 or more", lambda value: value >= 0),
    ("--filter-radius", "a positive, finite RMS", lambda value: value > 0),
    ("--step-size", "a whole number of epochs, at least 1", lambda value: value >= 1),
    ("--patience", "a whole number of epochs, 0 or more", lambda value: value >= 0),
    ("--gamma", "a positive, finite factor", lambda value: value > 0),
    ("--seed", "a whole number, 0 or more", lambda value: value >= 0),
    ("--limit", "at least 1 image", lambda value: value >= 1),
    ("--train-limit", "at least 1 image", lambda value: value >= 1),
    ("--test-limit", "at least 1 image", lambda value: value >= 1),
    ("--val-fraction", "a fraction in [0, 1)", lambda value: 0 <= value < 1),
    ("--count", "at least 9 images (the top-9 search needs nine)", lambda value: value >= 9),
    ("--num-classes", "at least 1", lambda value: value >= 1),
    ("--port", "0..65535 (0: any free port)", lambda value: 0 <= value <= 65535),
)


def check_flags(args):
    """A UsageError naming the first flag whose value is out of its range (FLAG_RULES).

    Every flag there is a number, and none may be NaN or infinite (``--lr inf``).
    """
    for flag, needed, fits in FLAG_RULES:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None and not (math.isfinite(value) and fits(value)):
            raise UsageError(f"{flag} must be {needed}; got {value}")


def check_name(flag, kind, value, names):
    """``value`` if it is one of ``names``; else a UsageError naming the flag and listing them."""
    if value not in names:
        raise UsageError(f"{flag}: unknown {kind} {value!r}; choose one of {', '.join(names)}")
    return value


def check_model_name(flag, value):
    """The canonical model name ("zfnet-small" -> "zfnet_small"), or a UsageError listing the models."""
    name = models.canonical_name(value)
    if name not in models.NAMES:
        raise UsageError(f"{flag}: unknown model {value!r}; choose one of {', '.join(models.NAMES)}")
    return name


def check_file(flag, path):
    """A UsageError unless ``path`` is an existing file (a folder holding checkpoint.npz: say so)."""
    if Path(path).is_dir():
        inside = Path(path) / "checkpoint.npz"
        hint = f"give the checkpoint in it: {inside}" if inside.is_file() else "give a checkpoint.npz file"
        raise UsageError(f"{flag}: {path} is a folder; {hint}")
    if not Path(path).is_file():
        raise UsageError(f"{flag}: no file at {path}; give the checkpoint.npz that `minicnn train` "
                         "wrote in its --out directory")
    return path


def check_out(path):
    """A UsageError when the output folder ``path`` is empty, a file, or inside a file."""
    if path is None:
        return
    if str(path).strip() == "":
        raise UsageError("--out is empty; give a folder for the results")
    for folder in (Path(path), *Path(path).parents):
        if folder.exists() and not folder.is_dir():
            inside = "" if folder == Path(path) else f" (it is part of --out {path})"
            raise UsageError(f"--out: {folder} is a file{inside}; give a folder for the results")


def earlier_run(out, resume=None):
    """The files of a run already in ``out`` that a new run would replace ([] if none).

    Resuming from ``out``'s own checkpoint.npz continues that run: nothing is replaced.
    """
    out = Path(out)
    found = [name for name in RUN_FILES[:2] if (out / name).exists()]
    continuing = resume is not None and (out / "checkpoint.npz").is_file() and \
        os.path.samefile(out / "checkpoint.npz", resume)
    return [] if continuing else found


def check_new_run(command, out, overwrite, resume=None):
    """Refuse, unless --overwrite, an --out that holds another run; say the three ways on."""
    found = earlier_run(out, resume)
    if found and not overwrite:
        checkpoint = Path(out) / "checkpoint.npz"
        continue_it = (f"continue it with `minicnn train --resume {shell_quoted(checkpoint)}`, "
                       if checkpoint.is_file() and command == "train" else "")
        raise UsageError(f"--out {out} already holds a run ({', '.join(found)}); nothing was changed. "
                         f"To keep it, {continue_it}or choose another --out; to replace it, add --overwrite")
    return found


def hold_out(held, out, command):
    """Create the folder ``out`` and hold it (files.hold_folder) until ``held`` (an ExitStack) closes;
    a UsageError naming the other run when one holds it, or why the folder cannot be made."""
    try:
        held.enter_context(hold_folder(out, command))
    except FolderInUse as error:
        raise UsageError(error.sentence(f"--out {out}", "choose another --out")) from None
    except OutputError as error:
        raise UsageError(f"--out: cannot create the folder {out} ({error.strerror or error})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out: cannot write in the folder {out} (permission denied); choose another --out")


def prepare_out(out, delete):
    """Delete ``delete``'s run files from the folder ``out`` (made and held by hold_out)."""
    for name in RUN_FILES if delete else ():
        path = Path(out) / name
        if path.is_file() or path.is_symlink():  # a folder of that name is left, and named when written to
            try:
                path.unlink()
            except OSError as error:
                raise UsageError(f"--overwrite: cannot delete {path} ({error.strerror or error})") from None


def check_data(dataset, data_path):
    """A UsageError, before any work, when ``dataset``'s files are not where minicnn looks.

    The message is minicnn.data's own: where it looked, in order, and how to get the files.
    """
    if data_path is not None and sources.why_not(data_path):
        raise UsageError(f"--data-path: {sources.why_not(data_path)}")
    try:
        if sources.locate(dataset, data_path) is None:
            load_dataset(dataset, path=data_path, verbose=False)  # raises, saying where it looked
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None


def checkpoint_dataset(checkpoint, dataset):
    """The dataset to test ``checkpoint`` on: ``--dataset`` if given, else the one it was trained on."""
    if dataset is not None:
        return check_name("--dataset", "dataset", dataset, DATASETS)
    return check_name(str(checkpoint.path), "dataset", trained_dataset(checkpoint), DATASETS)


# ----- backend ----------------------------------------------------------------------
def choose_backend(name):
    """Activate ``name`` (--backend), else the engine's default_backend(): $MINICNN_BACKEND,
    else numba where Numba imports, else numpy (the same choice as a script's)."""
    if name is None and os.environ.get("MINICNN_BACKEND"):
        name = check_name("$MINICNN_BACKEND", "backend", os.environ["MINICNN_BACKEND"], BACKENDS)
    if name is None:
        name = default_backend()
    available, reason = backends()[name]
    if not available:
        raise UsageError(f"backend {name!r} is not available on this machine: {reason}")
    set_backend(name)
    return name


# ----- the commands ---------------------------------------------------------------------
def command_train(args):
    communicator = make_communicator(args)
    with contextlib.ExitStack() as held:   # rank 0's hold on --out, released however the run ends
        try:
            config, replaced = prepare_train(args, communicator.rank == 0, held)
            problem = None
        except USAGE_ERRORS as error:
            if communicator.size == 1:
                raise
            config, replaced, problem = None, [], str(error)
        if communicator.size > 1:   # before any weight moves: every rank ready, with the same settings
            verdict = disagreement(communicator, None if problem else rank_settings(config, args), problem)
            if verdict is not None:
                if communicator.rank == 0:
                    raise UsageError(verdict)
                return 2             # rank 0 says why; every rank ends with status 2
        callbacks = []
        if args.snapshots and communicator.rank == 0:  # ZFNet Fig. 4, for `minicnn explore`; late import
            from ..explore import SaveSnapshots
            callbacks.append(SaveSnapshots(Path(config.out) / "snapshots.npz"))
        # with several ranks, a rank that fails ends them all; a usage error is one line from rank 0, and
        # Ctrl-C makes rank 0 name the checkpoint to resume from, as one process does: distributed/faults.py
        with abort_on_error(communicator, prefix="minicnn train", quiet=USAGE_ERRORS, cleanup=held.close,
                            interrupted=lambda error: interrupted_message(args, error, communicator.size)):
            if communicator.rank == 0:
                prepare_out(config.out, delete=replaced)
            result = run(config, resume=args.resume, progress=not args.quiet, callbacks=callbacks,
                         communicator=communicator)
        if communicator.rank == 0:
            print_result(result.metrics)
            print(f"wrote {shown(config.out)}/metrics.json, curves.png, checkpoint.npz"
                  + (", snapshots.npz" if args.snapshots else ""))
    return 0


def prepare_train(args, writer, held):
    """The RunConfig of ``minicnn train`` and the earlier run's files to replace, every check done:
    the flags, the checkpoint to resume, --out, the model against the data, the data itself; on the
    rank that writes (``writer``), --out made and held (hold_out) until ``held`` closes."""
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "momentum": args.momentum, "weight_decay": args.weight_decay,
             "filter_radius": args.filter_radius, "schedule": args.schedule,
             "step_size": args.step_size, "patience": args.patience, "gamma": args.gamma,
             "augment": args.augment, "seed": args.seed, "data_path": args.data_path,
             "train_limit": args.train_limit if args.train_limit is not None else args.limit,
             "test_limit": args.test_limit if args.test_limit is not None else args.limit,
             "val_fraction": args.val_fraction, "dtype": args.dtype, "out": args.out}
    if args.model is not None:
        given["model"] = check_model_name("--model", args.model)
    if args.dataset is not None:
        given["dataset"] = check_name("--dataset", "dataset", args.dataset, DATASETS)
    check_out(args.out)
    if args.resume:  # continues in the checkpoint's own folder unless --out says otherwise
        config = resume_config(check_file("--resume", args.resume), **given)
    else:
        chosen = {key: value for key, value in given.items() if value is not None}
        # the model's own defaults (models.TRAINING_DEFAULTS), then the options given
        config = RunConfig(**{**models.training_defaults(chosen.get("model", RunConfig.model)), **chosen})
        if args.out is None:
            config.out = os.path.join("runs", f"{config.model}-{config.dataset}")
    check_out(config.out)
    check_designed_for(config.model, config.dataset)   # before reading data or drawing 60M weights
    args.checkpoint_path = Path(config.out) / "checkpoint.npz"   # for the Ctrl-C message
    try:
        check_data(config.dataset, config.data_path)
    except UsageError as error:  # the folder came from the checkpoint, not from what was typed
        if not args.resume or args.data_path is not None or config.data_path is None:
            raise
        raise UsageError(f"--resume: {args.resume} was trained on the files in {config.data_path}, which "
                         f"this machine lacks ({sources.why_not(config.data_path) or error}); a resumed run "
                         "must read the same images, so put them there (a link to them will do)") from None
    replaced = []
    if writer:  # held first: a run writing there now is named as such, and cannot start meanwhile
        hold_out(held, config.out, args.command_line)
        replaced = check_new_run("train", config.out, args.overwrite, args.resume)
    return config, replaced


def rank_settings(config, args):
    """What every rank of ``train --distributed`` must agree on (agreement.py), by the flag that sets it.

    Every setting of the run but --out (only rank 0 writes) and --data-path (each
    machine may keep the images elsewhere); the backend; the checkpoint resumed
    from, by its epoch and its bytes' SHA-256 (its velocities are not broadcast).
    """
    import dataclasses
    import hashlib

    settings = {f"--{key.replace('_', '-')}": value for key, value in dataclasses.asdict(config).items()
                if key not in ("out", "data_path")}
    settings["--backend"] = get_backend()
    if args.resume:
        digest = hashlib.sha256(Path(args.resume).read_bytes()).hexdigest()[:12]
        settings["--resume"] = f"a checkpoint of epoch {load_checkpoint(args.resume).epoch} (sha256 {digest}...)"
    return settings


def make_communicator(args):
    """The ranks ``minicnn train`` runs on: MPI's with --distributed under mpiexec, else this process alone.

    --distributed without mpiexec trains as one process, and says so on stderr (one line): it is
    the same run, and a first try of the flag should not need MPI.
    """
    if not args.distributed:
        if launched_ranks() > 1:
            raise UsageError(f"started by mpiexec as one of {launched_ranks()} processes but without "
                             "--distributed: each would train alone and write the same files; add --distributed")
        return SingleProcess()
    if not started_by_mpiexec():
        print("minicnn train: --distributed, but not started by mpiexec: training as one process "
              "(for K ranks: mpiexec -n K python -m minicnn train --distributed ...)", file=sys.stderr)
        return SingleProcess()
    try:  # with the cupy backend and a GPU per rank, gradients are summed GPU to GPU by NCCL
        return world(distributed=True)
    except ImportError as error:
        raise UsageError(str(error)) from None


def interrupted_message(args, error, ranks=1):
    """What Ctrl-C (or SIGTERM) during ``train`` prints: what stopped it, and the checkpoint to resume."""
    return (str(error) or "interrupted") + resume_advice(getattr(args, "checkpoint_path", None), args.resume, ranks)


def command_eval(args):
    checkpoint = load_checkpoint(check_file("CKPT", args.checkpoint))
    dataset = checkpoint_dataset(checkpoint, args.dataset)
    check_designed_for_data(checkpoint, dataset, "evaluate")
    dtype = weights_dtype(checkpoint)      # a float64 run is tested in float64, as run() tested it
    model = load_model(checkpoint, dtype=dtype)
    check_data(dataset, args.data_path)
    test = load_dataset(dataset, "test", path=args.data_path)
    images, labels = test.images[:args.limit], test.labels[:args.limit]
    check_classes(checkpoint, model, dataset, labels, "evaluate")
    # the training images' statistics, as in training (measured again if the checkpoint lacks them)
    mean, std = saved_standardisation(checkpoint) or mean_std(
        load_dataset(dataset, "train", path=args.data_path, verbose=False).images)
    with overflow_is_a_usage_error(checkpoint, model):
        result = evaluate(model, normalize(to_float(images), mean, std).astype(dtype), labels, args.batch_size)
    if not math.isfinite(result.loss):
        raise UsageError(overflowed(checkpoint, model, f"its loss on {dataset} is {result.loss}"))
    print(f"{checkpoint.model_name} (epoch {checkpoint.epoch}) on {dataset} test ({len(labels)} images, "
          f"{shown(test.source)}): accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
    return 0


# ----- a checkpoint against the data it is given (eval, visualize) ------------------------------
def check_designed_for_data(checkpoint, dataset, what):
    """Before building the model: a UsageError when the checkpoint's model takes images of another
    shape than ``dataset``'s (an alexnet checkpoint on Fashion-MNIST), without drawing its weights."""
    if checkpoint.model_name in models.NAMES:
        try:
            check_designed_for(checkpoint.model_name, dataset, what)
        except RunConfigError as error:
            raise UsageError(f"{checkpoint.path}: {error}") from None


def check_classes(checkpoint, model, dataset, labels, what):
    """A UsageError when ``model`` does not take ``dataset``'s images, or scores fewer classes than
    its labels name (a 3-class checkpoint on 10-class data): cross-entropy would fail inside."""
    shape = dataset_input_shape(dataset)
    try:
        classes = model.output_shape(shape)[-1]
    except ShapeError as error:
        raise UsageError(f"{checkpoint.path}: its {checkpoint.model_name} does not take {dataset}'s {shape} "
                         f"images (C, H, W): {str(error).splitlines()[0]}; nothing to {what}") from None
    needed = int(numpy.max(labels)) + 1 if len(labels) else 0
    if needed > classes:
        raise UsageError(f"{checkpoint.path}: its {checkpoint.model_name} scores {classes} classes, but "
                         f"{dataset}'s labels go up to {needed - 1} ({needed} classes): nothing to {what}; "
                         f"give the --dataset it was trained on (it says {checkpoint.extra.get('dataset')!r})")


def overflowed(checkpoint, model, what):
    largest = max(float(numpy.abs(parameter.data).max(initial=0.0)) for parameter in model.parameters())
    return (f"{checkpoint.path}: {what}: the class scores of its {checkpoint.model_name} overflow (its weights "
            f"are as large as {largest:.3g}); the run that saved it had diverged: train it again with a "
            "smaller --lr")


@contextlib.contextmanager
def overflow_is_a_usage_error(checkpoint, model):
    """For the block: NumPy's overflow warnings silenced, and an op's NonFiniteError (finite weights,
    finite images, class scores beyond float) a UsageError naming the checkpoint."""
    try:
        with numpy.errstate(**QUIET_OVERFLOW):
            yield
    except NonFiniteError as error:
        raise UsageError(overflowed(checkpoint, model, str(error).split(":")[0] + " met NaN or infinite "
                                    "values")) from None


def parse_input(text):
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input must be three positive integers C,H,W such as 1,28,28; got {text!r}")
    return shape


def command_summary(args):
    model_name = check_model_name("MODEL", args.model)
    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    shape = parse_input(args.input) if args.input else models.input_shape(model_name)
    model = models.get_model(model_name, **kwargs)
    try:
        rows = model.summary(shape, print_table=False, batch=args.batch)
    except ShapeError as error:
        raise UsageError(f"{model_name} does not fit an input of shape {shape} (C, H, W):\n{error}") from error
    print(format_table(model_name, shape, rows, get_backend(), args.batch))
    return 0


def command_data(args):
    names = [check_name("NAME", "dataset", args.name, DATASETS)] if args.name else list(DATASETS)
    status = 0
    for name in names:
        if args.fetch:
            try:
                print(f"{name}: downloaded to {fetch(name)}")
            except FetchError as error:
                print(f"{name}: {error}", file=sys.stderr)
                status = 1
        rows = describe_sources(name, args.data_path)
        used = next((index for index, row in enumerate(rows) if row[2]), None)
        print(f"{name}: looked for in this order")
        for index, (kind, location, found) in enumerate(rows):
            mark = "used" if index == used else ("found" if found else "missing")
            print(f"  {index + 1}. [{mark:>7}] {kind}: {location}")
        if used is None:
            print(f"  not found; get it with `minicnn data {name} --fetch`"
                  + (" or `apt-get install dataset-fashion-mnist`" if name == "fashion-mnist" else ""))
    return status


def command_bench(args):
    # The harness checks its own options: a mistake stops it with SystemExit("minicnn bench: ...")
    # (one line, status 1), as ``python -m minicnn.bench`` does.
    from ..bench import main as bench_main  # late import: only this command needs the harness
    return bench_main(args)


def command_visualize(args):
    from .checkpoint_page import visualize_checkpoint  # late import: matplotlib-heavy
    from ..visualize.probe import conv_outputs
    check_out(args.out)
    if earlier_run(args.out):  # its index.html would replace a tour's, its figures mix with the run's
        raise UsageError(f"--out {args.out} holds a training run ({', '.join(earlier_run(args.out))}); "
                         f"write the report in a folder of its own, such as --out {Path(args.out) / 'report'}")
    checkpoint = load_checkpoint(check_file("CKPT", args.checkpoint))
    dataset = checkpoint_dataset(checkpoint, args.dataset)
    check_designed_for_data(checkpoint, dataset, "visualize")
    model = load_model(checkpoint)
    check_data(dataset, args.data_path)
    check_classes(checkpoint, model, dataset, load_dataset(dataset, "test", path=args.data_path,
                                                           verbose=False).labels, "visualize")
    if not conv_outputs(model):
        raise UsageError(f"{checkpoint.path}: {checkpoint.model_name} has no convolutional layer: nothing to "
                         "visualize (the deconvnet, occlusion, filters and Grad-CAM all read conv layers); "
                         f"`minicnn eval {shell_quoted(checkpoint.path)}` tests it")
    with overflow_is_a_usage_error(checkpoint, model):
        page = visualize_checkpoint(checkpoint, args.out, dataset=dataset,
                                    data_path=args.data_path, count=args.count, seed=args.seed)
    print(f"report: {shown(page)}")
    return 0


def command_explore(args):
    try:  # late import: the server needs the extra "explore"
        from ..explore.server import serve
        from ..explore.session import Explorer
    except ImportError as error:
        raise UsageError(f"minicnn explore needs Werkzeug and Pillow ({error}); "
                         "install them with `pip install minicnn[explore]`") from None
    from ..bench.machine import limit_threads
    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1; got {args.threads}")
    checkpoint = load_checkpoint(check_file("CKPT", args.checkpoint))
    dataset = checkpoint_dataset(checkpoint, args.dataset)
    check_data(dataset, args.data_path)
    # minicnn's pool and NumPy's BLAS for this process (the explorer sets Numba's, and minicnn's
    # again, where it computes); thread counts only: nothing else about the process is changed
    limit_threads(args.threads)
    try:
        explorer = Explorer(checkpoint, dataset=dataset, data_path=args.data_path, threads=args.threads).start()
    except KeyboardInterrupt:
        print("minicnn explore: stopped", file=sys.stderr)
        return 130
    # returns at Ctrl-C; where it cannot listen, serve prints one line naming --host or --port and exits with status 2
    serve(explorer, args.host, args.port, open_browser=args.open)
    return 0


def command_tour(args):
    from .tour import tour
    check_out(args.out)
    if args.data_path is not None:
        check_data("fashion-mnist", args.data_path)
    with contextlib.ExitStack() as held:   # the tour's --out is held for the whole tour (hold_out)
        hold_out(held, args.out, args.command_line)
        prepare_out(args.out, delete=check_new_run("tour", args.out, args.overwrite))
        tour(args.out, epochs=args.epochs, fast=args.fast, seed=args.seed, data_path=args.data_path,
             progress=not args.quiet)
    return 0


# ----- the parser -------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse's parser, reporting a mistake like every other usage error: one line, status 2.

    (argparse prints the whole usage text first; ``--help`` still shows it.)
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser():
    common = Parser(add_help=False)
    common.add_argument("--backend", choices=BACKENDS, default=None,
                        help="numpy, numba or cupy (default: $MINICNN_BACKEND, else the fastest available)")
    parser = Parser(prog="minicnn",
                                     description="A convolutional-network engine built to be read.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tour = commands.add_parser("tour", parents=[common],
                               help="train a small ZFNet and write an HTML report (start here)")
    tour.add_argument("--out", default="tour", help="output directory (default: tour)")
    tour.add_argument("--epochs", type=int, default=None, help="epochs (default 8; 1 with --fast)")
    tour.add_argument("--fast", action="store_true", help="400 training images, 1 epoch: a quick check")
    tour.add_argument("--seed", type=int, default=0)
    tour.add_argument("--data-path", default=None,
                      help="Fashion-MNIST IDX directory (default: the embedded sample)")
    tour.add_argument("--quiet", action="store_true", help="no progress bars")
    tour.add_argument("--overwrite", action="store_true",
                      help="replace an earlier tour or run in --out (default: refuse, and change nothing)")
    tour.set_defaults(run=command_tour)

    train = commands.add_parser("train", parents=[common],
                                help="train a model, test it, save metrics and a checkpoint")
    train.add_argument("--model", default=None, help=f"one of {', '.join(models.NAMES)} (default zfnet_small); "
                       "some models bring their own defaults, which the options given here override: "
                       + "; ".join(f"{name}: " + " ".join(f"--{key.replace('_', '-')} {value}"
                                                          for key, value in settings.items())
                                   for name, settings in models.TRAINING_DEFAULTS.items()))
    train.add_argument("--dataset", default=None, help=f"one of {', '.join(DATASETS)} (default fashion-mnist)")
    train.add_argument("--epochs", type=int, default=None, help="total epochs (default 5, or the model's: see --model)")
    train.add_argument("--batch-size", type=int, default=None, help="default 64")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default 0.01, ZFNet's)")
    train.add_argument("--momentum", type=float, default=None, help="default 0.9")
    train.add_argument("--weight-decay", type=float, default=None, help="L2 penalty (default 0)")
    train.add_argument("--filter-radius", type=float, default=None,
                       help="ZFNet's filter renormalization: cap each conv filter's RMS (ZFNet used 0.1)")
    train.add_argument("--schedule", choices=SCHEDULES, default=None,
                       help="learning-rate schedule: step (x gamma every --step-size epochs), "
                            "plateau (x gamma when val loss stalls --patience epochs); "
                            "default none, or the model's (see --model)")
    train.add_argument("--step-size", type=int, default=None, help="default 5, or the model's (see --model)")
    train.add_argument("--patience", type=int, default=None)
    train.add_argument("--gamma", type=float, default=None, help="schedule factor (default 0.1)")
    train.add_argument("--augment", choices=AUGMENTATIONS, default=None,
                       help="shift: up to 10%%; crop: pad 2 and crop; "
                            "keras: the notes' rotate/shift/shear/zoom/flip")
    train.add_argument("--seed", type=int, default=None,
                       help="data order, augmentation, dropout, initial weights (default 0)")
    train.add_argument("--out", default=None, help="output directory (default runs/MODEL-DATASET)")
    train.add_argument("--resume", default=None, metavar="CKPT",
                       help="continue from a checkpoint.npz up to --epochs (its lr, schedule, data)")
    train.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    train.add_argument("--train-limit", type=int, default=None, help="first N training images")
    train.add_argument("--test-limit", type=int, default=None, help="first N test images")
    train.add_argument("--val-fraction", type=float, default=None,
                       help="training images held out for validation (default 0.1)")
    train.add_argument("--data-path", default=None,
                       help="directory of the IDX files (default: the usual lookup, see `minicnn data`)")
    train.add_argument("--snapshots", action="store_true",
                       help="after every epoch, save the strongest projection of each conv layer's first maps "
                            "(ZFNet Fig. 4) to snapshots.npz, for minicnn explore")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an earlier run in --out: its files are deleted first (default: refuse, "
                            "and change nothing; --resume continues a run instead)")
    train.add_argument("--dtype", choices=DTYPES, default=None,
                       help="of the images, weights and gradients (default float32); float64 to compare runs "
                            "exactly, e.g. 1 process against mpiexec -n 2 ... --distributed (a resume keeps it)")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel over the processes of an MPI job: mpiexec -n K python -m minicnn "
                            "train --distributed ...; --batch-size stays the global batch (needs minicnn[mpi])")
    train.set_defaults(run=command_train)

    evaluate_ = commands.add_parser("eval", parents=[common], help="test a checkpoint")
    evaluate_.add_argument("checkpoint", metavar="CKPT")
    evaluate_.add_argument("--dataset", default=None, help="default: the one it was trained on")
    evaluate_.add_argument("--data-path", default=None)
    evaluate_.add_argument("--limit", type=int, default=None, help="first N test images")
    evaluate_.add_argument("--batch-size", type=int, default=500)
    evaluate_.set_defaults(run=command_eval)

    summary = commands.add_parser("summary", parents=[common], help="layer table of a model")
    summary.add_argument("model", metavar="MODEL", help=", ".join(models.NAMES))
    summary.add_argument("--input", default=None, metavar="C,H,W",
                         help="input shape (default: the model's own)")
    summary.add_argument("--num-classes", type=int, default=None)
    summary.add_argument("--batch", type=int, default=32, metavar="N",
                         help="the batch size the 'runs as' column is for (routes depend on it; default 32)")
    summary.set_defaults(run=command_summary)

    data = commands.add_parser("data", parents=[common],
                               help="where datasets are looked for; --fetch downloads")
    data.add_argument("name", metavar="NAME", nargs="?", default=None, help=", ".join(DATASETS) + " (default: all)")
    data.add_argument("--fetch", action="store_true", help="download into the user cache")
    data.add_argument("--data-path", default=None, help="also look in this directory first")
    data.set_defaults(run=command_data)

    from ..bench import add_arguments as add_bench_arguments
    visualize = commands.add_parser("visualize", parents=[common],
                                    help="deconvnet, occlusion, invariance, filters and Grad-CAM of a checkpoint")
    visualize.add_argument("checkpoint", help="a checkpoint.npz written by minicnn train")
    visualize.add_argument("--out", default="visualize", help="output directory (default: visualize)")
    visualize.add_argument("--dataset", default=None, help="default: the one the checkpoint was trained on")
    visualize.add_argument("--data-path", default=None)
    visualize.add_argument("--count", type=int, default=300, help="test images searched for the top-9 (default 300)")
    visualize.add_argument("--seed", type=int, default=0)
    visualize.set_defaults(run=command_visualize)

    explore = commands.add_parser("explore", parents=[common],
                                  help="a live deconvnet toolbox for a checkpoint, in the browser")
    explore.add_argument("checkpoint", metavar="CKPT", help="a checkpoint.npz written by minicnn train")
    explore.add_argument("--dataset", default=None, help="default: the one the checkpoint was trained on")
    explore.add_argument("--data-path", default=None)
    explore.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (default 127.0.0.1: this machine only)")
    explore.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    explore.add_argument("--open", action="store_true", help="open the page in the default browser")
    explore.add_argument("--threads", type=int, default=1,
                         help="CPU threads of the model's computations (default 1: a click is one to ten images, "
                              "too little to share; see benchmarks/results/explore-latency.md)")
    explore.set_defaults(run=command_explore)

    bench = commands.add_parser("bench", help="time the backends against each other and PyTorch "
                                              "(benchmarks/README.md)")
    add_bench_arguments(bench)
    bench.set_defaults(run=command_bench, backend=None)
    add_reproduce_parser(commands, [common])                 # minicnn reproduce zfnet ...
    return parser


def resume_advice(checkpoint, resumed_from=None, ranks=1):
    """What Ctrl-C during ``train`` says about the checkpoint: its real path, or that there is none yet."""
    latest = next((Path(path) for path in (checkpoint, resumed_from) if path and Path(path).is_file()), None)
    if latest is None:
        return "; no epoch was complete, so there is no checkpoint yet: start the run again"
    command = f"minicnn train --resume {shell_quoted(latest)}"
    if ranks > 1:
        command = f"mpiexec -n {ranks} python -m minicnn train --distributed --resume {shell_quoted(latest)}"
    return f"; the checkpoint of the last complete epoch is intact: continue with `{command}`"


def reader_gone():
    """Stdout's reader closed the pipe: point stdout at /dev/null, so that Python's flush at exit
    does not raise BrokenPipeError again (the idiom of Python's signal documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())


def main(argv=None):
    """Run the command line ``argv`` (default sys.argv[1:]); returns the exit status.

    A USAGE_ERRORS error prints one line and returns 2; any other exception
    propagates, so that Python prints its traceback (exit status 1). Ctrl-C,
    SIGTERM and SIGHUP print what was interrupted (and, for ``train``, the
    checkpoint to resume from) and return 128 + the signal's number.
    """
    args = build_parser().parse_args(argv)
    words = sys.argv[1:] if argv is None else list(argv)
    args.command_line = " ".join(["minicnn"] + [shell_quoted(word) for word in words])
    with printable_output(), signals_as_interrupts():
        try:
            check_flags(args)
            choose_backend(args.backend)
            status = args.run(args)
            sys.stdout.flush()    # here, where a closed pipe can be told apart (below)
            return status
        except USAGE_ERRORS as error:
            print(f"minicnn {args.command}: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as interrupt:  # Ctrl-C, SIGTERM, SIGHUP; a FetchInterrupted names its download
            message = str(interrupt) or "interrupted"
            if args.command == "train":
                message = interrupted_message(args, interrupt)
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                print(f"\nminicnn {args.command}: {message}", file=sys.stderr, flush=True)
            return getattr(interrupt, "exit_status", 130)
        except BrokenPipeError:   # `minicnn summary ... | head`: the reader has all it wanted
            reader_gone()
            return 141            # the shell's 128 + SIGPIPE, as a command killed by the pipe
