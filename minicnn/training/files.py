"""Writing files atomically: a file is either the old one or the new one, never half of either.

    atomic_write(path, lambda file: numpy.savez(file, **arrays))   # a checkpoint
    write_json(path, metrics)                                      # metrics.json
    with hold_folder(out, "minicnn train"):                        # one run writes into a folder at a time
        ...

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
Text is written as UTF-8 (what the HTML pages declare), a path's byte that
is not UTF-8 as a backslash escape: a folder named b"run\\xff" is a folder a
user can make, and a page that names it must still be written.

One run per folder (``hold_folder``): a run holds an exclusive lock on the
file .minicnn.lock in its output folder for as long as it writes there, so
that a second run into the same folder is refused (FolderInUse, naming the
process that holds it) instead of mixing or replacing its files. The lock is
fcntl.flock's (msvcrt.locking's on Windows): the operating system releases
it when the process ends, however it ends (kill -9 included), so a lock is
never stale; the file itself is deleted when the run ends, and one left by a
killed run is simply taken by the next. It holds the holder's pid, host,
start time and command line, for the message. A file system without locks
(some network mounts) gets no lock, and the run goes on unprotected.
"""

import contextlib
import datetime
import errno
import json
import os
import re
import secrets
import shlex
import socket
import stat
import sys
import time
from pathlib import Path

try:  # the lock of hold_folder: flock on POSIX, msvcrt.locking on Windows
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt


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
        text = {} if "b" in mode else {"encoding": "utf-8", "errors": "backslashreplace"}
        with os.fdopen(handle, mode, **text) as file:
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


# ----- one run per folder ---------------------------------------------------------
LOCK_NAME = ".minicnn.lock"


class FolderInUse(RuntimeError):
    """Another process holds the lock of an output folder: a run is writing there now.

    ``folder`` is the folder; ``holder`` what the other process wrote in the lock
    file ({"pid", "host", "started", "command"}; {} if it had not written it yet).
    """

    def __init__(self, folder, holder):
        self.folder, self.holder = Path(folder), holder
        super().__init__(self.sentence())

    def sentence(self, name=None, elsewhere="choose another folder"):
        """The message: ``name`` (default: the folder) is in use by whom; what to do."""
        pid, host = self.holder.get("pid"), self.holder.get("host")
        who = f"pid {pid}" if pid is not None else "a process that has not yet written its pid"
        if host and host != socket.gethostname():
            who += f" on {host}"
        if self.holder.get("started"):
            who += f", started {self.holder['started']}"
        if self.holder.get("command"):
            who += f": `{self.holder['command']}`"
        stop = f"stop it (`kill {pid}`)" if pid is not None else "stop it"
        return (f"{name or self.folder} is in use by another run ({who}); nothing was changed. "
                f"Wait for it to end, {stop}, or {elsewhere}")


_held = {}   # os.path.realpath(folder) -> [lock file descriptor, times taken], in this process


def _try_lock(descriptor):
    """Take the lock of the open lock file without waiting: True, or False if another process has it."""
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return True  # a file system without locks: go on unprotected (module docstring)
        raise
    return True


def _holder(lock):
    """What the process holding ``lock`` wrote in it ({} if nothing readable yet)."""
    try:
        data = json.loads(Path(lock).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _acquire(folder, command):
    """Open and lock ``folder``/.minicnn.lock, write who holds it; returns the descriptor."""
    lock = Path(folder) / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        try:
            descriptor = os.open(lock, flags, 0o666)
        except FileNotFoundError as error:  # the last holder removed the folder it had made: again
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError:
                raise _output_error(lock, error, None) from error
            continue
        except OSError as error:
            raise _output_error(lock, error, None) from error
        if not _try_lock(descriptor):
            holder = _holder(lock)
            os.close(descriptor)
            raise FolderInUse(folder, holder)
        # The previous holder deletes the file as it ends: if it did so between our open and our
        # lock, we hold the lock of a deleted file, which protects nothing; open the new one.
        try:
            current = os.stat(lock, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(current, os.fstat(descriptor)):
            break
        os.close(descriptor)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or shlex.join(sys.argv),
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with contextlib.suppress(OSError):
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(holder).encode("utf-8"))
    return descriptor


@contextlib.contextmanager
def hold_folder(folder, command=None):
    """Hold the output folder ``folder`` for the block: no other process can hold it meanwhile.

    Creates the folder if needed (an OutputError if it cannot be), takes its
    lock (FolderInUse if another process holds it), and on leaving the block,
    however it is left, deletes the lock file and releases the lock; a folder
    this call created and nothing was written to is removed again. Within one
    process the same folder may be held again (``run`` inside ``minicnn train``).
    command: the command line shown to a second run (default: this process's).
    """
    folder = Path(folder)
    key = os.path.realpath(folder)
    if key in _held:
        _held[key][1] += 1
        try:
            yield folder
        finally:
            _held[key][1] -= 1
        return
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _output_error(folder / LOCK_NAME, error, None) from error
    descriptor = _acquire(folder, command)
    _held[key] = [descriptor, 1]
    try:
        yield folder
    finally:
        del _held[key]
        with contextlib.suppress(OSError):  # deleted while the lock is held: the next run opens a new file
            os.unlink(folder / LOCK_NAME)
        os.close(descriptor)                # releases the lock
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()              # only if empty: nothing was written
