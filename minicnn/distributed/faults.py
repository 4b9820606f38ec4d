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

Rank 0 speaks for the job. mpiexec passes Ctrl-C (SIGINT) on to every
rank, and every rank sees it at once (the communicator waits in Python:
communicator.py); a usage error (a divergence, settings that cannot work)
most often strikes every rank at the same step. So for these two, rank 0
prints one message (with ``interrupted=``, minicnn train's: the checkpoint
to resume from) and exits with the job's status, which makes mpiexec end
the other ranks, as when a rank is killed, without MPI_Abort's own line.
The other ranks print nothing and wait GRACE seconds for that; still
running after them, rank 0 did not meet it, and they end the job
themselves, saying which rank and why.
"""

import contextlib
import os
import sys
import time
import traceback

INTERRUPTED = 130   # the shell's status for a job ended by Ctrl-C (128 + SIGINT)
GRACE = 5            # seconds a rank other than 0 waits for rank 0 to end a job interrupted or refused


def describe_failure(communicator, error, show_traceback=True):
    """The text a failing rank prints: 'rank r of K: ...' then, for a bug, the traceback."""
    where = f"rank {communicator.rank} of {communicator.size}"
    if isinstance(error, KeyboardInterrupt):
        return f"{where}: {str(error) or 'interrupted'}; stopping every rank"
    reason = f"{type(error).__name__}: {error}"
    text = f"{where} failed, stopping every rank: {reason}"
    if show_traceback:
        text += "\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text


def exit_status(error, default=1):
    """The job's exit status for ``error``: SystemExit's code, 130 for Ctrl-C, else ``default``."""
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else 1
    if isinstance(error, KeyboardInterrupt):  # a SIGTERM raised as an interrupt carries its own (143)
        return getattr(error, "exit_status", INTERRUPTED)
    return default


@contextlib.contextmanager
def abort_on_error(communicator, prefix="minicnn", quiet=(), quiet_status=2, interrupted=None, cleanup=None):
    """Run the block; if it raises on a rank of a multi-rank job, report it and end every rank.

    quiet: exception classes that are the user's mistake (minicnn's usage
    errors): one line, from rank 0 when it meets it too (module docstring),
    ending the job with ``quiet_status``. Anything else is printed with its
    traceback by the rank that met it, and aborts the job with status 1.
    SystemExit(0) passes through: it is a normal end.
    interrupted: None, or a function of the KeyboardInterrupt that returns
    what rank 0 prints when the job is interrupted (module docstring).
    cleanup: None, or what rank 0 calls before it ends the job that way
    (minicnn train: let go of its --out folder).
    """
    try:
        yield
    except BaseException as error:
        if communicator.size == 1 or (isinstance(error, SystemExit) and error.code in (0, None)):
            raise
        if isinstance(error, KeyboardInterrupt) and interrupted is not None:
            _end_job(communicator, error, prefix, f"\n{prefix}: {interrupted(error)}", exit_status(error), cleanup)
        if isinstance(error, quiet):
            _end_job(communicator, error, prefix, f"{prefix}: {describe_failure(communicator, error, False)}",
                     quiet_status, cleanup)
        print(f"{prefix}: {describe_failure(communicator, error)}", file=sys.stderr, flush=True)
        communicator.abort(exit_status(error))


def _end_job(communicator, error, prefix, message, status, cleanup):
    """Rank 0: ``cleanup()``, print ``message``, exit with ``status``: mpiexec then ends the other
    ranks, as when a rank is killed, with no MPI_Abort line of its own. Other ranks print nothing
    and give rank 0 GRACE seconds for that (it most often met the same signal or error); still
    running after them, rank 0 did not, and they end the job themselves, saying why."""
    if communicator.rank == 0:
        if cleanup is not None:
            with contextlib.suppress(Exception):
                cleanup()
        print(message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(status)                # not MPI_Finalize, which would wait for the other ranks
    try:
        time.sleep(GRACE)               # rank 0's exit ends this process meanwhile
    except KeyboardInterrupt:           # a second Ctrl-C: end it now
        pass
    print(f"{prefix}: {describe_failure(communicator, error, show_traceback=False)}", file=sys.stderr, flush=True)
    communicator.abort(status)


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
