"""Reading an .npz file anyone could have written: each array's shape and dtype checked before it is read.

    with NpzReader(path, max_bytes=64 * 2**20) as npz:
        npz.names                                              # the arrays it holds
        npz.read("layer/1/values", shape=(32, 9), kinds="f")   # BadFile if it is anything else

The files beside a checkpoint (the explorer's top-9 cache, snapshots.npz)
are input like an upload: a copy from another run, a file cut short, or one
made to harm. ``numpy.load(allow_pickle=False)`` already refuses pickles,
but reads whatever array a member declares: a few kilobytes of zip can
declare a gigabyte of zeros. So each member's .npy header (its shape and
dtype, a few bytes) is read first, compared with what the caller expects,
and only then is its data read, never more than ``max_bytes`` in all.
"""

import json
import math
import zipfile
from pathlib import Path

import numpy

MAX_ARRAYS = 100_000     # members of one file, at most
MAX_HEADER = 10_000      # bytes of one .npy header (numpy's own default limit)


class BadFile(ValueError):
    """A file that is not what it should be; the message names the file and what is wrong with it."""


class NpzReader:
    """The arrays of an .npz file, read one by one after their headers are checked.

    max_bytes: how many bytes of array data may be read in all.
    """

    def __init__(self, path, max_bytes):
        self.path, self.budget = Path(path), max_bytes
        try:
            self.archive = zipfile.ZipFile(self.path)
            infos = self.archive.infolist()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise BadFile(f"{self.path}: not a readable .npz file ({error})") from error
        if len(infos) > MAX_ARRAYS:
            self.archive.close()
            raise BadFile(f"{self.path}: holds {len(infos)} files, more than an .npz of this kind ever has")
        self.members = {info.filename[:-4]: info for info in infos if info.filename.endswith(".npy")}
        self.names = sorted(self.members)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.archive.close()

    def fail(self, message):
        raise BadFile(f"{self.path}: {message}")

    def header(self, name):
        """(shape, dtype) of array ``name``, from its .npy header alone."""
        if name not in self.members:
            self.fail(f"has no array {name!r}")
        try:
            with self.archive.open(self.members[name]) as file:
                version = numpy.lib.format.read_magic(file)
                if version == (1, 0):
                    shape, _, dtype = numpy.lib.format.read_array_header_1_0(file, max_header_size=MAX_HEADER)
                elif version == (2, 0):
                    shape, _, dtype = numpy.lib.format.read_array_header_2_0(file, max_header_size=MAX_HEADER)
                else:
                    self.fail(f"array {name!r} is in .npy format {version}, not 1.0 or 2.0")
        except BadFile:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            self.fail(f"array {name!r} has no readable header ({error})")
        return tuple(shape), dtype

    def read(self, name, shape, kinds):
        """Array ``name``, after checking its header: ``shape`` (None: any length on that axis), kind in ``kinds``.

        kinds: numpy dtype kinds, "f" float, "i" signed, "u" unsigned, "b" bool.
        """
        found, dtype = self.header(name)
        if len(found) != len(shape) or any(want is not None and want != got for want, got in zip(shape, found)):
            wanted = "(" + ", ".join("any" if want is None else str(want) for want in shape) + ")"
            self.fail(f"array {name!r} has shape {found}, expected {wanted}")
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds:
            self.fail(f"array {name!r} is of type {dtype}, expected one of the kinds {kinds!r}")
        size = math.prod(found) * dtype.itemsize
        if size > self.budget:
            self.fail(f"array {name!r} declares {size:,} bytes, more than this file may hold in all")
        self.budget -= size
        try:
            with self.archive.open(self.members[name]) as file:
                return numpy.lib.format.read_array(file, allow_pickle=False, max_header_size=MAX_HEADER)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            self.fail(f"array {name!r} could not be read ({error})")

    def json(self, name, max_bytes=1 << 20):
        """The JSON document stored as a uint8 array ``name`` (how minicnn stores metadata), at most max_bytes."""
        found, _ = self.header(name)
        if len(found) != 1 or found[0] > max_bytes:
            self.fail(f"{name!r} has shape {found}, not a JSON document of at most {max_bytes:,} bytes")
        data = self.read(name, (None,), "u")
        try:
            return json.loads(data.tobytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            self.fail(f"{name!r} is not JSON ({error})")
