"""Work longer than a click (occlusion): run in a thread, polled by the page with its id.

    job_id = jobs.start(lambda: explorer.occlusion(...), total=positions, what="occlusion")
    jobs.status(job_id)   # {"state": "running", "total": 441, "seconds": 0.4, ...}, then "done" with "result"

A job's result stays until LIMIT newer jobs push it out. An id is 16 random
hex digits; a RequestError (a bad request found late) becomes the job's error.
"""

import secrets
import threading
import time
import traceback
from collections import OrderedDict

from .session import RequestError

LIMIT = 16


class Jobs:
    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = OrderedDict()

    def start(self, work, total, what):
        """Run ``work()`` in a daemon thread; returns the job's id."""
        job_id = secrets.token_hex(8)
        job = {"id": job_id, "what": what, "state": "running", "total": total, "started": time.perf_counter(),
               "seconds": 0.0, "result": None, "error": None}
        with self.lock:
            self.jobs[job_id] = job
            while len(self.jobs) > LIMIT:
                self.jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job, work), name=f"minicnn-explore-{what}", daemon=True).start()
        return job_id

    def _run(self, job, work):
        try:
            result = work()
            job.update(result=result, state="done")
        except RequestError as error:
            job.update(error=str(error), state="failed")
        except Exception as error:  # a bug: the traceback goes to the terminal, not to the page
            traceback.print_exc()
            job.update(error=f"{type(error).__name__} (see the explorer's terminal)", state="failed")
        finally:
            job["seconds"] = time.perf_counter() - job["started"]

    def status(self, job_id):
        """The job's state, total, seconds so far, and its result or error once finished; None if unknown."""
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            return None
        seconds = job["seconds"] if job["state"] != "running" else time.perf_counter() - job["started"]
        return {"id": job["id"], "what": job["what"], "state": job["state"], "total": job["total"],
                "seconds": round(seconds, 3), "result": job["result"], "error": job["error"]}
