"""Before the ranks train together: is every rank ready, and do they all mean the same run?

    problem = disagreement(communicator, settings, problem=None)   # None: start

The ranks of one job are started from one command line, but nothing makes
them so: a script that builds its command per rank, a hand-written
mpiexec with two argument sets (``mpiexec -n 1 ... --lr 0.01 : -n 1 ... --lr 1000``),
a machine whose data folder is missing. Ranks with different settings do
not fail by themselves: different learning rates train "together" while
their weights drift apart, and a different model or batch size ends deep
inside MPI ("Message truncated" in MPI_Bcast). So before any weight moves,
every rank sends its settings (a small dict) and its own reason not to
start, if any, to every other (one allgather), and every rank reaches the
same verdict from the same list: start, or the one sentence that says why
not, naming each setting that differs and the ranks with their values.
"""

MISSING = "(not given)"


def _ranks(ranks):
    return f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(map(str, ranks))


def disagreement(communicator, settings, problem=None):
    """None when no rank has a problem and every rank has the same ``settings``; else the sentence.

    settings: this rank's run settings {name: value} (small, picklable; None when
    ``problem`` is given); problem: this rank's own reason not to start, or None.
    Collective: every rank must call it, and every rank gets the same answer.
    """
    everyone = communicator.allgather((problem, settings))
    size = communicator.size
    problems = [(rank, text) for rank, (text, _) in enumerate(everyone) if text is not None]
    if problems:
        if len(problems) == size and len({text for _, text in problems}) == 1:
            return problems[0][1]                      # the same on every rank: say it once
        rank, text = problems[0]
        return f"rank {rank} of {size}: {text}"
    names = []
    for _, rank_settings in everyone:
        names += [name for name in rank_settings if name not in names]
    differing = []
    for name in names:
        values = [rank_settings.get(name, MISSING) for _, rank_settings in everyone]
        if all(value == values[0] for value in values):
            continue
        groups = {}                                    # value as shown -> the ranks that have it
        for rank, value in enumerate(values):
            groups.setdefault(str(value), []).append(rank)
        differing.append(f"{name} is " + ", ".join(f"{value} on {_ranks(ranks)}" for value, ranks in groups.items()))
    if differing:
        return (f"the {size} ranks were started with different settings: " + "; ".join(differing)
                + "; nothing was trained: start every rank with the same command line")
    return None
