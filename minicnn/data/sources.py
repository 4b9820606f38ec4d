"""Where the MNIST-style datasets come from, and where minicnn looks for them.

Each dataset is four IDX files with standard names, gzipped (``.gz``) or not:

    train-images-idx3-ubyte   (60000, 28, 28) uint8
    train-labels-idx1-ubyte   (60000,)        uint8, values 0..9
    t10k-images-idx3-ubyte    (10000, 28, 28) uint8
    t10k-labels-idx1-ubyte    (10000,)        uint8, values 0..9

``load_dataset`` takes the first of these places that holds all four:

    1. the ``path`` argument, a directory (if given, it must hold them);
    2. ``$MINICNN_DATA/<name>/``;
    3. the Debian package ``dataset-fashion-mnist`` (fashion-mnist only),
       installed with ``apt-get install dataset-fashion-mnist``;
    4. the user cache ``$XDG_CACHE_HOME/minicnn/<name>/`` (default
       ``~/.cache/minicnn/<name>/``), which ``fetch(name)`` fills;
    5. the sample of 7000 real Fashion-MNIST images shipped inside minicnn
       (fashion-mnist only), see ``embedded/README.md``.

A set ``$MINICNN_DATA`` that does not hold the files is passed over with one
line on stderr saying why (``skipped_setting``): a typo there should not go
unnoticed while the data quietly comes from somewhere else.

The directories are module-level constants so that tests (and curious
readers) can point them elsewhere.
"""

import difflib
import os
from pathlib import Path

from .idx import DataError

FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

CLASSES = {
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "mnist": [str(digit) for digit in range(10)],
}
NAMES = tuple(CLASSES)
IMAGE_SHAPE = (28, 28)  # (rows, cols) of every image in both datasets

# Official download locations and the SHA-256 of each original .gz file
# (published by pytorch/vision, torchvision/prototype/datasets/_builtin/mnist.py;
# Fashion-MNIST's also match the MD5s in the project's README).
BASE_URLS = {
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
}
SHA256 = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}

# The size in bytes of each of those files: a server that sends more is
# stopped there, so a broken or hostile mirror cannot fill the disk.
SIZES = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": 26421880,
        "train-labels-idx1-ubyte.gz": 29515,
        "t10k-images-idx3-ubyte.gz": 4422102,
        "t10k-labels-idx1-ubyte.gz": 5148,
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": 9912422,
        "train-labels-idx1-ubyte.gz": 28881,
        "t10k-images-idx3-ubyte.gz": 1648877,
        "t10k-labels-idx1-ubyte.gz": 4542,
    },
}

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
EMBEDDED_DIRS = {"fashion-mnist": Path(__file__).resolve().parent / "embedded"}


def check_name(name):
    """Raise a DataError (a ValueError) listing the valid names unless ``name`` is one.

    The name becomes a directory name, so only the exact names pass:
    ``"../../etc"`` or ``"mnist/"`` are refused, never joined to a path.
    """
    if not isinstance(name, str) or name not in CLASSES:
        close = difflib.get_close_matches(str(name).lower().replace("_", "-"), NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}{hint}")
    return name


def cache_dir(name):
    """``$XDG_CACHE_HOME/minicnn/<name>``, by default ``~/.cache/minicnn/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minicnn" / check_name(name)


def find_file(directory, stem):
    """``directory/stem.gz`` or ``directory/stem``, whichever exists, else None."""
    for candidate in (Path(directory) / f"{stem}.gz", Path(directory) / stem):
        if candidate.is_file():
            return candidate
    return None


def has_all_files(directory):
    """True when ``directory`` holds all four IDX files (gzipped or not)."""
    stems = FILE_STEMS["train"] + FILE_STEMS["test"]
    return directory is not None and all(find_file(directory, stem) for stem in stems)


def what_is_at(path):
    """In words, what stands at ``path`` when it is not a regular file, else None."""
    if path.is_symlink() and not path.exists():
        return f"{path.name} is a broken symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        return f"{path.name} is a directory, not a file"
    if path.exists() and not path.is_file():
        return f"{path.name} is not a regular file (a pipe, socket or device)"
    return None


def why_not(directory):
    """Why ``directory`` does not hold the four files, in words (None when it does)."""
    directory = Path(directory)
    if not directory.exists():
        return f"{directory} does not exist"
    if not directory.is_dir():
        return f"{directory} is a file, not a directory (pass the directory that holds the files)"
    faults = []
    for stem in FILE_STEMS["train"] + FILE_STEMS["test"]:
        if find_file(directory, stem) is None:
            odd = [what_is_at(directory / name) for name in (f"{stem}.gz", stem)]
            faults.append(next((fault for fault in odd if fault), f"{stem} is missing"))
    if not faults:
        return None
    return f"in {directory}, " + "; ".join(faults) + " (each file may also end in .gz)"


def candidate_dirs(name, path=None):
    """Every place to look for ``name``, in order: a list of (kind, directory or None).

    ``None`` stands for a place that does not apply (``$MINICNN_DATA`` unset).
    """
    check_name(name)
    places = []
    if path is not None:
        if str(path) == "":
            raise DataError("path is an empty string; pass the directory that holds the "
                            "four IDX files, or None to search the usual places")
        places.append(("path argument", Path(path)))
    env = os.environ.get("MINICNN_DATA")
    places.append(("$MINICNN_DATA directory", Path(env) / name if env else None))
    if name in DEBIAN_DIRS:
        places.append((f"Debian package {DEBIAN_PACKAGE}", DEBIAN_DIRS[name]))
    places.append(("user cache", cache_dir(name)))
    if name in EMBEDDED_DIRS:
        places.append(("embedded sample", EMBEDDED_DIRS[name]))
    return places


def describe_sources(name, path=None):
    """Each place ``load_dataset(name, path=path)`` looks, in order.

    Returns a list of ``(kind, location, found)``: ``kind`` says what the
    place is, ``location`` is a directory (or why there is none) and
    ``found`` whether all four files are there.
    """
    rows = []
    for kind, directory in candidate_dirs(name, path):
        location = str(directory) if directory is not None else "(not set)"
        rows.append((kind, location, has_all_files(directory)))
    return rows


def locate(name, path=None):
    """The first ``(kind, directory)`` that holds all four files, or None.

    An explicit ``path`` that lacks them is an error, not a reason to look
    elsewhere: the caller asked for that directory.
    """
    places = candidate_dirs(name, path)
    if path is not None and not has_all_files(path):
        raise FileNotFoundError(f"{name} not found at path={str(path)!r}: {why_not(path)}")
    for kind, directory in places:
        if has_all_files(directory):
            return kind, directory
    return None


def skipped_setting(name, used_kind):
    """Why ``$MINICNN_DATA`` was passed over for ``name`` (None when it was not set or used).

    A set ``$MINICNN_DATA`` says where the user wants the data read from, so
    silently reading it from elsewhere would hide a typo.
    """
    env = os.environ.get("MINICNN_DATA")
    if not env or used_kind in ("path argument", "$MINICNN_DATA directory"):
        return None  # an explicit path= comes first by design
    reason = why_not(Path(env) / name)
    if reason is None:
        return None
    if has_all_files(Path(env)):
        reason += (f"; {env} itself holds the files: $MINICNN_DATA names the directory "
                   f"above them, so set MINICNN_DATA={Path(env).parent}")
    return f"$MINICNN_DATA={env} was not used: {reason}"
