"""Reproduce ZFNet's claims: train what they need, measure each, write claims.json and index.html.

    reproduce("repro", budget="quick")                    # every claim, the quick budget
    reproduce("repro", budget="full", claims=[1, 3, 7])   # some claims, at convergence

Four steps, each resumable:

1. the runs: the union of what the chosen claims need (each measure_*.py's
   ``plan``), trained by runs.train: a finished run is skipped, a killed one
   continues from its checkpoint;
2. the measurements: measure_*.py's ``measure`` for each claim, kept in
   DIR/claimN/result.json with the runs it read and a fingerprint of the
   code that measured it; a claim whose runs and code are unchanged is not
   measured again;
3. DIR/claims.json: per claim, its statement, verdict, reason, checks, the
   numbers, seeds, runs and budget; claims measured in an earlier call into
   the same DIR (with --claims) are kept;
4. DIR/index.html (page.py).
"""

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy

from ..training.experiment import machine_info
from ..training.files import write_json
from . import (measure_ablation, measure_architecture, measure_discriminability, measure_evolution,
               measure_invariance, measure_occlusion, measure_top9, measure_transfer, networks, page, runs, verdicts)
from .budgets import get_budget
from .claims import BY_ID, CLAIMS
from .context import Context
from .runs import ReproduceError
from .verdicts import VERDICTS

MEASURES = {
    1: measure_top9, 2: measure_evolution, 3: measure_invariance, 4: measure_architecture,
    5: measure_occlusion, 6: measure_ablation, 7: measure_discriminability, 8: measure_transfer,
}
PAPER = "Zeiler and Fergus (2014), Visualizing and Understanding Convolutional Networks, arXiv:1311.2901v3"
CONVERGENCE = (f"the learning rate was lowered at least once (ReduceLROnPlateau on the validation loss) and the "
               f"validation accuracy of the last {runs.CONVERGED_WINDOW} epochs spans less than "
               f"{runs.CONVERGED_RANGE * 100:g} points; or the budget's max_epochs")


def parse_claims(text):
    """"1,3,7" -> [1, 3, 7]; None or "all" -> every claim. A ReproduceError names a claim that does not exist."""
    if text is None or str(text).strip().lower() == "all":
        return sorted(BY_ID)
    chosen = []
    for part in str(text).split(","):
        part = part.strip()
        if not part.isdigit() or int(part) not in BY_ID:
            raise ReproduceError(f"--claims: {part!r} is not a claim; give numbers from 1 to {len(CLAIMS)} "
                                 "separated by commas, e.g. 1,3,7")
        if int(part) not in chosen:
            chosen.append(int(part))
    return sorted(chosen)


def reproduce(out, budget="quick", claims=None, seeds=None, data_path=None, progress=True, stop_after_epochs=None):
    """Steps 1-4 of the module docstring; returns the claims.json document (a dict).

    claims: ids (a list, or "1,3,7"), None for all; seeds: how many (seeds 0..n-1),
    None for the budget's; stop_after_epochs: the test hook, raise runs.Interrupted
    after that many epochs trained in this call.
    """
    chosen = parse_claims(claims if claims is None or isinstance(claims, str) else ",".join(map(str, claims)))
    budget = get_budget(budget, data_path)
    count = budget.seeds if seeds is None else seeds
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ReproduceError(f"--seeds must be a whole number of seeds, at least 1; got {count!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReproduceError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    document = previous_document(out, budget)
    context = Context(out, budget, list(range(count)), progress,
                      None if stop_after_epochs is None else {"left": int(stop_after_epochs)})
    # the measuring code's fingerprints now, before hours of training: a file edited meanwhile
    # must not label results of the code this process loaded (code_fingerprint)
    fingerprints = {claim: code_fingerprint(MEASURES[claim]) for claim in chosen}
    specs = []
    for claim in chosen:
        specs += [spec for spec in MEASURES[claim].plan(context) if spec not in specs]
    records = {}
    for spec in context.bar(specs, "runs", total=len(specs)):
        records[spec.name] = context.train(spec)
    reused = [name for name, record in records.items() if not record["trained"]]
    if reused and progress:
        print(f"reproduce: {len(reused)} of {len(records)} runs were already finished in {out / 'runs'} "
              f"and were reused, not trained again", file=sys.stderr)
    for claim in chosen:
        document["claims"][str(claim)] = measure_claim(context, claim, records, fingerprints[claim])
    document.update(budget=budget.to_dict(), machine=machine_info())
    document["claims"] = dict(sorted(document["claims"].items(), key=lambda item: int(item[0])))
    write_json(out / "claims.json", clean(document))
    page.write(out, clean(document))
    return clean(document)


def previous_document(out, budget):
    """claims.json of an earlier call into ``out`` (its claims kept), or a new document."""
    path = out / "claims.json"
    if path.is_file():
        with open(path) as file:
            document = json.load(file)
        if document.get("budget", {}).get("name") != budget.name:
            raise ReproduceError(f"{out} holds a reproduction with the {document.get('budget', {}).get('name')} "
                                 f"budget; give another --out for the {budget.name} budget")
        return document
    return {"paper": PAPER, "convergence": CONVERGENCE, "claims": {}}


def measure_claim(context, claim_id, records, fingerprint=None):
    """Claim ``claim_id``'s entry of claims.json, measured now or read from DIR/claimN/result.json.

    fingerprint: code_fingerprint of the claim's module taken when this process started
    the reproduction (default: now)."""
    module = MEASURES[claim_id]
    fingerprint = code_fingerprint(module) if fingerprint is None else fingerprint
    inputs = [[spec.name, records[spec.name]["finished_at"], records[spec.name]["epochs"]]
              for spec in module.plan(context)] + [["code", fingerprint]]
    cached = context.claim_folder(claim_id) / "result.json"
    if cached.is_file():
        with open(cached) as file:
            saved = json.load(file)
        if saved.get("inputs") == inputs and saved.get("seeds") == context.seeds:
            return saved
    started = time.perf_counter()
    result = module.measure(context)
    claim = BY_ID[claim_id]
    verdict = result["verdict"]
    assert verdict["verdict"] in VERDICTS, verdict
    entry = {
        **dataclasses.asdict(claim), "verdict_function": claim.verdict,
        "verdict": verdict["verdict"], "reason": verdict["reason"], "checks": verdict["checks"],
        "evidence": [] if verdict["verdict"] == "holds" else
        [f"{check['name']}: {check['detail']}" for check in verdict["checks"] if not check["passed"]],
        "why": result.get("why", []),
        "numbers": result["numbers"], "figures": result["figures"], "runs": result["runs"],
        "seeds": context.seeds, "budget": context.budget.name,
        "epochs": {spec.name: records[spec.name]["epochs"] for spec in module.plan(context)},
        "measure_seconds": time.perf_counter() - started, "inputs": inputs,
    }
    entry = clean(entry)
    write_json(cached, entry)
    return entry


def code_fingerprint(module):
    """SHA-256 of the measuring code of a claim: its module, the verdicts, the networks, the runs.

    A result kept in DIR/claimN/result.json is used again only if this is unchanged: a new
    threshold or a fixed measurement is measured again, not read from an old file.
    ``reproduce`` takes it before training, from the files as this process loaded them: taken
    after hours of training it could name code edited meanwhile, which this process is not
    running, and a later run would then reuse a result of the old code.
    """
    digest = hashlib.sha256()
    for source in (module, verdicts, networks, runs):
        digest.update(Path(source.__file__).read_bytes())
    return digest.hexdigest()[:16]


def clean(value):
    """JSON-ready: numpy numbers as Python ones, NaN and infinities as None, tuples as lists, keys as strings."""
    if isinstance(value, dict):
        return {str(key): clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    if isinstance(value, numpy.ndarray):
        return clean(value.tolist())
    if isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, float) and not numpy.isfinite(value):
        return None
    return value
