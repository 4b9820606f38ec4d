"""Work longer than a click (occlusion): queued, run one at a time in a worker thread, polled by the page.

    job_id = jobs.start(lambda: explorer.occlusion(...), total=positions, what="occlusion", client="127.0.0.1")
    jobs.status(job_id)   # {"state": "running", "queued": True, "ahead": 1, "total": 441, ...},
                          # then "done" with "result" (or "failed" with "error", or "replaced")

Fairness, so that no one can make the explorer slow for everyone:

- one worker runs the jobs in the order they came; a job waiting for its
  turn is ``"running"`` with ``queued: true`` and ``ahead``, the jobs
  before it (the state says only whether the result is still to come);
- a client (the address a request came from) has at most one job
  waiting: a new request replaces its waiting one, which ends as
  ``"replaced"`` (a page that asks again no longer wants the older result),
  so clicking "Occlude" ten times costs two jobs, not ten;
- at most WAITING jobs wait in all; over it, ``start`` raises Busy (the
  server answers 429 with Retry-After);
- the job computes with the model's lock in background mode
  (minicnn/explore/priority.py): clicks go before it, between its batches.

A finished job's result stays until LIMIT newer jobs push it out (a job
still to run is never pushed out). An id is 16 random hex digits; a
RequestError (a bad request found late) becomes the job's error.
"""

import secrets
import threading
import time
import traceback
from collections import OrderedDict, deque

from .session import RequestError

LIMIT = 16         # jobs whose state is kept (finished ones are forgotten first)
WAITING = 8        # jobs waiting for their turn, from every client together
RETRY_AFTER = 2    # seconds the server tells a refused client to wait


class Busy(RequestError):
    """Too many jobs wait already: HTTP 429, with Retry-After."""

    def __init__(self, message):
        super().__init__(message, status=429)
        self.retry_after = RETRY_AFTER


class Jobs:
    def __init__(self, waiting=None):
        self.waiting_limit = WAITING if waiting is None else waiting
        self.condition = threading.Condition()
        self.jobs = OrderedDict()            # id -> job, oldest first
        self.queue = deque()                 # jobs waiting for the worker, oldest first
        self.worker = None
        self.current = None                  # the job computing now
        self.closed = False

    def start(self, work, total, what, client=""):
        """Queue ``work()``; returns the job's id. Replaces ``client``'s waiting job; Busy when full."""
        job = {"id": secrets.token_hex(8), "what": what, "client": client, "state": "running", "total": total,
               "created": time.perf_counter(), "started": None, "seconds": 0.0, "result": None, "error": None,
               "work": work}
        with self.condition:
            if self.closed:
                raise RequestError(f"{what}: the explorer is stopping; no new jobs", status=503)
            mine = [waiting for waiting in self.queue if waiting["client"] == client]
            others = len(self.queue) - len(mine)
            if others >= self.waiting_limit:
                raise Busy(f"{what}: {others} jobs are waiting already (at most {self.waiting_limit}); "
                           f"try again when one has finished")
            for old in mine:
                self.queue = deque(waiting for waiting in self.queue if waiting is not old)
                old.update(state="replaced", work=None,
                           error=f"replaced by a newer {what} request from the same client (job {job['id']})")
            self.jobs[job["id"]] = job
            self.queue.append(job)
            self._forget_old()
            if self.worker is None:
                self.worker = threading.Thread(target=self._work, name=f"minicnn-explore-{what}", daemon=True)
                self.worker.start()
            self.condition.notify_all()
        return job["id"]

    def _forget_old(self):
        finished = [key for key, job in self.jobs.items() if job["state"] != "running"]
        for key in finished[:max(0, len(self.jobs) - LIMIT)]:
            del self.jobs[key]

    def close(self):
        """No more jobs: the waiting ones end as failed ("the server stopped"), the worker after its current job."""
        with self.condition:
            self.closed = True
            for job in self.queue:
                job.update(state="failed", work=None, error="the explorer stopped before this job's turn")
            self.queue.clear()
            self.condition.notify_all()

    def _work(self):
        while True:
            with self.condition:
                while not self.queue and not self.closed:
                    self.condition.wait()
                if self.closed:
                    return
                job = self.queue.popleft()
                work, job["started"], self.current = job["work"], time.perf_counter(), job
            try:
                result = work()
                job.update(result=result, state="done")
            except RequestError as error:
                job.update(error=str(error), state="failed")
            except Exception as error:  # a bug: the traceback goes to the terminal, not to the page
                traceback.print_exc()
                job.update(error=f"{type(error).__name__} (see the explorer's terminal)", state="failed")
            finally:
                job.update(seconds=time.perf_counter() - job["started"], work=None)
                self.current = None

    def status(self, job_id):
        """The job's state, total, seconds computing so far, its place in the queue, and its result or error."""
        with self.condition:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            queued = job["state"] == "running" and job["started"] is None
            place = next((k for k, waiting in enumerate(self.queue) if waiting is job), 0)
            ahead = place + (self.current is not None) if queued else 0
        if job["state"] == "running" and job["started"] is not None:
            seconds = time.perf_counter() - job["started"]
        else:
            seconds = job["seconds"]
        return {"id": job["id"], "what": job["what"], "state": job["state"], "queued": queued, "ahead": ahead,
                "total": job["total"], "seconds": round(seconds, 3), "result": job["result"], "error": job["error"]}
