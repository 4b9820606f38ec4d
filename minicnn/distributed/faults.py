"""When one rank fails, the whole job stops, saying which rank and why.

The danger of collectives: if rank 1 raises an exception and exits, rank 0
waits in its next all-reduce for a partner that will never come, forever.
(mpiexec does end the job when a rank is killed by a signal, kill -9
included; it does not when a rank ends with a Python exception, because
Python's exit runs MPI_Finalize, which waits for the others.) So a failing
rank must end the job itself: it prints its rank and the reason, then calls
MPI_Abort, which makes mpiexec kill every rank at once.

Two ways to arrange it, one for a block of code and one for a whole script:

    with abort_on_error(communicator):      # minicnn train --distributed uses this
        run(config, communicator=communicator)

    abort_on_uncaught_exception(communicator)   # in a script: sets sys.excepthook

On one rank both do nothing: the exception goes on as usual.

The checkpoint survives: rank 0 writes it atomically (training/checkpoint.py),
so a job killed at any moment leaves the last complete one.
"""

import contextlib
import sys
import traceback

INTERRUPTED = 130   # the shell's status for a job ended by Ctrl-C (128 + SIGINT)


def describe_failure(communicator, error, show_traceback=True):
    """The text a failing rank prints: 'rank r of K: ...' then, for a bug, the traceback."""
    where = f"rank {communicator.rank} of {communicator.size}"
    if isinstance(error, KeyboardInterrupt):
        return f"{where}: interrupted; stopping every rank"
    reason = f"{type(error).__name__}: {error}"
    text = f"{where} failed, stopping every rank: {reason}"
    if show_traceback:
        text += "\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text


def exit_status(error, default=1):
    """The job's exit status for ``error``: SystemExit's code, 130 for Ctrl-C, else ``default``."""
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else 1
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    return default


@contextlib.contextmanager
def abort_on_error(communicator, prefix="minicnn", quiet=(), quiet_status=2):
    """Run the block; if it raises on a rank of a multi-rank job, report it and abort every rank.

    quiet: exception classes that are the user's mistake (minicnn's usage
    errors): printed as one line, ending the job with ``quiet_status``.
    Anything else is printed with its traceback and ends it with status 1.
    SystemExit(0) passes through: it is a normal end.
    """
    try:
        yield
    except BaseException as error:
        if communicator.size == 1 or (isinstance(error, SystemExit) and error.code in (0, None)):
            raise
        is_quiet = isinstance(error, quiet)
        print(f"{prefix}: {describe_failure(communicator, error, show_traceback=not is_quiet)}",
              file=sys.stderr, flush=True)
        communicator.abort(quiet_status if is_quiet else exit_status(error))


def abort_on_uncaught_exception(communicator, prefix="minicnn"):
    """Make an exception that nobody catches end every rank (sets sys.excepthook, process-wide).

    Call it once, after making the communicator, in a script that trains
    with several ranks. Returns the previous hook. One rank: nothing changes.
    """
    previous = sys.excepthook
    if communicator.size == 1:
        return previous

    def hook(kind, error, trace):
        print(f"{prefix}: {describe_failure(communicator, error)}", file=sys.stderr, flush=True)
        communicator.abort(exit_status(error))

    sys.excepthook = hook
    return previous
