"""DIR/index.html: the verdicts at a glance, then one section per claim.

Each section gives the paper's statement and where it is, what minicnn
measured, the verdict and its reason, every check with its numbers, the
figures (PNG files beside the page), and for "partly" and "differs" the
evidence: the checks that failed, and the controlled comparisons a
measurement made to show why (the entry's "why": the same network or the
same images with one thing changed). The page is plain HTML with no script
and nothing from outside, written atomically like every file minicnn writes.
"""

import html
import json

from ..training.files import atomic_write

COLOURS = {"holds": "#1a7f37", "partly": "#9a6700", "differs": "#cf222e"}
STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
.verdict { color: white; padding: 0.1em 0.5em; border-radius: 0.3em; font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
section { border-top: 2px solid #ddd; margin-top: 2em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.8em; max-height: 30em; }
"""


def badge(verdict):
    return f'<span class="verdict" style="background:{COLOURS.get(verdict, "#555")}">{html.escape(verdict)}</span>'


def summary_table(claims):
    rows = "".join(
        f'<tr><td><a href="#claim{c["id"]}">{c["id"]}. {html.escape(c["title"])}</a></td>'
        f'<td>{html.escape(c["section"])}</td><td>{badge(c["verdict"])}</td></tr>'
        for c in claims)
    return f"<table><tr><th>claim</th><th>in the paper</th><th>at this budget</th></tr>{rows}</table>"


def section(claim):
    checks = "".join(
        f'<tr><td>{"yes" if check["passed"] else "no"}</td><td>{html.escape(check["name"])}</td>'
        f'<td>{html.escape(check["detail"])}</td></tr>' for check in claim["checks"])
    evidence = ""
    if claim["verdict"] != "holds":
        items = "".join(f"<li>{html.escape(line)}</li>" for line in claim["evidence"])
        evidence = f"<h3>Evidence for \u201c{html.escape(claim['verdict'])}\u201d</h3><ul>{items}</ul>"
    if claim.get("why"):
        items = "".join(f"<li>{html.escape(line)}</li>" for line in claim["why"])
        evidence += f"<h3>Why: controlled comparisons</h3><ul>{items}</ul>"
    figures = "".join(f'<p><img src="{html.escape(path)}" alt="{html.escape(path)}"></p>' for path in claim["figures"])
    run_list = ", ".join(f"<code>{html.escape(run)}</code>" for run in claim["runs"])
    numbers = html.escape(json.dumps(claim["numbers"], indent=1)[:20000])
    return f"""
<section id="claim{claim['id']}">
<h2>{claim['id']}. {html.escape(claim['title'])} {badge(claim['verdict'])}</h2>
<p><b>The paper</b> ({html.escape(claim['section'])}): {html.escape(claim['statement'])}</p>
<p><b>Measured</b>: {html.escape(claim['measured'])}</p>
<p><b>Verdict</b>: {badge(claim['verdict'])} {html.escape(claim['reason'])}</p>
<table><tr><th>passed</th><th>check</th><th>the numbers</th></tr>{checks}</table>
{evidence}
{figures}
<p>Seeds {html.escape(", ".join(map(str, claim['seeds'])))}; budget <b>{html.escape(claim['budget'])}</b>;
runs: {run_list}. At a small budget: <code>{html.escape(claim['tutorial'])}</code>.</p>
<details><summary>All the numbers (claims.json)</summary><pre>{numbers}</pre></details>
</section>"""


def render(document):
    claims = list(document["claims"].values())
    budget, machine = document["budget"], document.get("machine", {})
    converged = ("until converged: " + html.escape(document["convergence"]) if budget["converge"]
                 else "(not at convergence: the verdicts mean little)")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ZFNet's claims, reproduced by minicnn</title>
<style>{STYLE}</style></head><body>
<h1>ZFNet's claims, tested on Fashion-MNIST</h1>
<p>{html.escape(document['paper'])}. Each claim of sections 4 and 5 that a small network on Fashion-MNIST can
test, with minicnn's zfnet_small (width {budget['width']}); a verdict needs a difference larger than the spread
over the seeds (minicnn/reproduce/verdicts.py).</p>
<p>Budget <b>{html.escape(budget['name'])}</b>: at most {budget['max_epochs']} epochs
{converged}.
Machine: {html.escape(str(machine.get('device')))}, backend {html.escape(str(machine.get('backend')))},
minicnn {html.escape(str(machine.get('minicnn')))}, {html.escape(str(machine.get('date')))}.</p>
{summary_table(claims)}
{"".join(section(claim) for claim in claims)}
</body></html>
"""


def write(out, document):
    """Write DIR/index.html for the claims.json ``document``; returns its path."""
    text = render(document)
    return atomic_write(out / "index.html", lambda file: file.write(text), mode="w")
