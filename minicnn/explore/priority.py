"""Who runs the model next: a click first, background work (the top-9 pass, occlusion) in slices.

    lock = ModelLock()
    with lock.interactive():        # a click: waits at most for the slice running now
        ...
    with lock.background():         # a chunk of the top-9 pass, or a whole occlusion job
        ...                         # the Pausing model calls lock.pause() between its batches

Why one lock at all: the layers of one model keep what their last forward
pass saw for backward (and the deconvnet reads it), so two threads must not
run the same model at once. (The gradient switch, ``no_grad``, is each
thread's own and needs no lock.)

Why priorities: a plain lock serves its waiters in no promised order. With
dozens of occlusion jobs waiting for it, a click on a map (the page waits
for it; the goal is 200 ms) could wait for all of them. Here

- ``interactive()`` waits only while the model is in use: no background
  work starts while a click waits;
- ``background()`` waits until no click waits, and background work takes
  turns one task at a time (``turn``), kept across its pauses, so two
  background tasks never interleave on the same model copy;
- ``pause()``, called by the background holder between two slices of its
  work, hands the model to the waiting clicks and takes it back after them.

So a click waits for at most one slice of background work: one batch of
an occlusion job (``OCCLUSION_BATCH`` positions), one chunk of the top-9
pass (topcache.CHUNK images), never for the queue behind them.

Where the slices come from: minicnn.visualize's occlusion and top-k search
walk the model's layers once per batch (``forward_collect``: ``list(model)``).
Background work runs on its own copy of the model, a ``Pausing`` Sequential:
the same layers, whose walk calls ``pause()`` first.
"""

import contextlib
import threading

from ..engine.nn import Sequential


class ModelLock:
    """One computation at a time; clicks (interactive) before background work."""

    def __init__(self):
        self.condition = threading.Condition()
        self.holder = None                 # the thread computing now, or None
        self.holder_is_background = False
        self.clicks_waiting = 0
        self.turn = threading.Lock()       # background tasks, one at a time, across their pauses

    @contextlib.contextmanager
    def interactive(self):
        """Hold the model for a click; waits only for the computation running now."""
        with self.condition:
            self.clicks_waiting += 1
            try:
                while self.holder is not None:
                    self.condition.wait()
            finally:
                self.clicks_waiting -= 1
            self._take(background=False)
        try:
            yield
        finally:
            self._give()

    @contextlib.contextmanager
    def background(self):
        """Hold the model for background work: after every waiting click, one task at a time."""
        with self.turn:
            self._take_when_no_click_waits()
            try:
                yield
            finally:
                self._give()

    def pause(self):
        """Between two slices of background work: let every waiting click run first.

        Does nothing unless the calling thread holds the model for background work.
        """
        if not self.clicks_waiting or self.holder is not threading.current_thread():
            return
        if not self.holder_is_background:
            return
        self._give()
        self._take_when_no_click_waits()

    def _take_when_no_click_waits(self):
        with self.condition:
            while self.holder is not None or self.clicks_waiting:
                self.condition.wait()
            self._take(background=True)

    def _take(self, background):
        self.holder, self.holder_is_background = threading.current_thread(), background

    def _give(self):
        with self.condition:
            self.holder, self.holder_is_background = None, False
            self.condition.notify_all()


class Pausing(Sequential):
    """The layers of ``model`` (the same objects) as a Sequential whose every walk first calls ``pause()``.

    minicnn.visualize's functions walk the layers once per batch, so
    background work on this model lets waiting clicks go first between its
    batches (see the module docstring). Only background work uses it.
    """

    def __init__(self, model, pause):
        super().__init__(*model, fuse=model.fuse)
        object.__setattr__(self, "pause", pause)

    def __iter__(self):
        self.pause()
        return super().__iter__()
