"""What the ``minicnn`` command needs of the terminal: paths it can print, signals it can handle.

Paths. A folder name may hold bytes that are not UTF-8 (b"run\\xff"): ``shown``
prints those bytes as \\xff, ``shell_quoted`` gives the name as a shell reads
it back ($'run\\xff'), and ``printable_output`` makes stdout and stderr escape
what they cannot encode for the length of a command.

Signals. SIGTERM (``kill``, a job scheduler) and SIGHUP (a closed terminal)
raise ``Terminated``, a KeyboardInterrupt, where the program is, so that they
stop a command exactly as Ctrl-C does (``signals_as_interrupts``); its
exit_status is the shell's 128 + the signal's number.
"""

import contextlib
import os
import shlex
import signal
import sys
import threading


# ----- paths, as a terminal and a shell take them ------------------------------------
def shown(path):
    """``path`` as text any terminal prints: a byte that is not UTF-8 shown as \\xff."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def shell_quoted(path):
    """``path`` as a shell reads it back: shlex.quote's form, or bash's $'...' (bytes as \\xNN)
    when the name holds bytes that are not UTF-8."""
    text = os.fsdecode(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pieces = []
        for char in text:   # os.fsdecode turned each byte that is not UTF-8 into U+DC80..U+DCFF
            if "\udc80" <= char <= "\udcff":
                pieces.append(f"\\x{ord(char) - 0xdc00:02x}")
            elif char in "\\'":
                pieces.append("\\" + char)
            elif not char.isprintable():
                pieces.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else char)
            else:
                pieces.append(char)
        return "$'" + "".join(pieces) + "'"
    return shlex.quote(text)


@contextlib.contextmanager
def printable_output():
    """For the block: stdout and stderr write what they cannot encode (a path's stray byte)
    as a backslash escape instead of raising UnicodeEncodeError; restored after."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="backslashreplace")
                changed.append(stream)
    try:
        yield
    finally:
        for stream in changed:
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="strict")


# ----- signals ----------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, as Ctrl-C's KeyboardInterrupt is.

    exit_status: the shell's 128 + the signal's number (143 for SIGTERM, 129 for SIGHUP).
    """

    def __init__(self, number):
        self.exit_status = 128 + int(number)
        super().__init__(f"terminated ({signal.Signals(number).name})")


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _raise_terminated(number, frame):
    raise Terminated(number)


@contextlib.contextmanager
def signals_as_interrupts():
    """For the block: SIGTERM and SIGHUP raise Terminated, handled as Ctrl-C is. A signal set to
    be ignored (nohup ignores SIGHUP) stays ignored; the previous handlers come back after."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for number in STOP_SIGNALS:
            if signal.getsignal(number) == signal.SIG_DFL:
                previous[number] = signal.signal(number, _raise_terminated)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
