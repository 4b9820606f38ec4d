"""Writing files atomically: a file is either the old one or the new one, never half of either.

    atomic_write(path, lambda file: numpy.savez(file, **arrays))   # a checkpoint
    write_json(path, metrics)                                      # metrics.json

Every file minicnn writes (checkpoints, metrics.json, PNG figures, HTML
pages, the explorer's caches) goes through ``atomic_write``: a temporary
file in the same folder -> write -> flush -> fsync -> ``os.replace`` over
the target (atomic on POSIX and Windows) -> fsync the folder. So a Ctrl-C,
a kill -9 or a full disk at any moment leaves the previous file whole.

The temporary file is created as open() creates a file (0666 less the
umask: what a user's other files get, not mkstemp's 0600), with O_EXCL, so
never over a file or a link someone placed there. A failed write raises an
OutputError naming the file, the reason and what to do. Temporaries left
by a process that was killed are removed by the next write of the same file.
"""

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import time
from pathlib import Path


class OutputError(OSError):
    """A file minicnn could not write: a full disk, a read-only folder, a path through a file.

    The message names the file and the reason; whatever was at that path
    before is unchanged. ``errno``, ``strerror`` and ``filename`` are the
    operating system's, as in any OSError.
    """

    def __str__(self):
        return self.args[0]  # the whole sentence, not OSError's "[Errno 28] ..."


# ----- writing files atomically -------------------------------------------------
# The temporary file of ``atomic_write`` is named .<name>.<16 hex digits>.tmp beside its
# target (minicnn before this used tempfile.mkstemp: .<name>.<8 of [a-z0-9_]>.tmp). A process
# killed mid-write (kill -9 gives it no chance to clean up) leaves one behind; the next write
# of the same file removes it, if it is older than this process. "This process" starts when
# minicnn.training is imported: a temporary file another running process is writing now is
# newer than that only if that process started after this one, and then it is not touched.
_STARTED = time.time()


def _temporary_pattern(name):
    return re.compile(rf"\.{re.escape(name)}\.([0-9a-f]{{16}}|[a-z0-9_]{{8}})\.tmp")


def remove_stale_temporaries(path):
    """Delete what interrupted writes of ``path`` left behind; returns the names removed.

    Only regular files named as atomic_write names its temporaries for this
    ``path`` and last modified before this process started; never anything
    else (not a link, not a folder, not a file of another name).
    """
    path, removed = Path(path), []
    pattern = _temporary_pattern(path.name)
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            if not pattern.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < _STARTED:
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def atomic_write(path, write, mode="wb"):
    """Create or replace ``path`` with what ``write(file)`` writes, atomically.

    Temporary file in the same directory -> write -> flush -> fsync ->
    os.replace -> fsync the directory. On any exception (KeyboardInterrupt
    included) the temporary file is removed and ``path`` is left untouched;
    an OSError (disk full, no permission, a folder that is a file) becomes an
    OutputError that names ``path``. The file gets the permissions open()
    gives a new file (0666 less the umask), or those of the file it replaces.
    Returns ``path`` as a Path.
    """
    path = Path(path)
    existing = _regular_file_status(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _output_error(path, error, existing) from error
    remove_stale_temporaries(path)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        # O_EXCL: a new file, never one someone placed there (nor a link); 0o666: what open() asks for
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise _output_error(path, error, existing) from error
    try:
        if existing is not None:
            with contextlib.suppress(OSError, AttributeError):  # keep the replaced file's permissions
                os.fchmod(handle, stat.S_IMODE(existing.st_mode))
        with os.fdopen(handle, mode) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and not isinstance(error, OutputError):
            raise _output_error(path, error, existing) from error
        raise
    _fsync_directory(path.parent)
    return path


def _regular_file_status(path):
    """os.stat of ``path`` if it is a regular file now (links followed), else None."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status if stat.S_ISREG(status.st_mode) else None


def _output_error(path, error, existing):
    """An OutputError naming ``path``, the reason, what to do, and that nothing was lost."""
    reason = error.strerror or str(error)
    blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        problem = f"{blocking} is a file, not a folder; choose another output folder"
    elif path.is_dir():
        problem = f"{reason}: a folder of that name is in the way"
    elif error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        problem = f"{reason}; free some disk space, or choose an output folder on another disk"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        problem = f"{reason}; choose an output folder you can write to"
    else:
        problem = reason
    kept = f"the previous {path.name} is unchanged" if existing is not None else "nothing was written there"
    output_error = OutputError(f"cannot write {path}: {problem} ({kept})")
    output_error.errno, output_error.strerror, output_error.filename = error.errno, reason, str(path)
    return output_error


def _fsync_directory(directory):
    """Make the rename itself durable (not possible, nor needed, on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_json(path, data):
    """Write ``data`` as indented JSON to ``path``, atomically."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda file: file.write(text), mode="w")
