"""Which student a note written to a host goes to: weighted routes, subsets, labels.

A note is written to a *host*: a student's name, or a service that several
students answer for (their ``app`` label, as a canary pair dana-v1 and
dana-v2 both answer for ``dana``).  The VirtualService's weighted routes
pick a subset for the note (a keyed draw on its id, so a seed sends the same
notes to the canary every time); the DestinationRule says which labels that
subset means; one of the students who carry them takes the note, a present
one if any is.  Pure: no I/O, unit-tested on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from classroom.mesh.control.policy import MeshPolicy, RouteRule
from classroom.mesh.runtime.dice import Dice


@dataclass(frozen=True)
class Pick:
    student: str | None  # None: nobody answers for it
    subset: str | None
    why: str  # when nobody does: in words


def pick(policy: MeshPolicy, rule: RouteRule | None, host: str, note_id: str, roll: Collection[str],
         labels: Mapping[str, Mapping[str, str]], present: Collection[str], dice: Dice) -> Pick:
    """The student who gets a note written to ``host``, taken by ``rule`` (see the module docstring)."""
    route = rule.route if rule is not None else ()
    subset = None
    if len(route) == 1:  # "if there is only one destination in a rule, it will receive all traffic"
        host, subset = route[0].host, route[0].subset
    elif route:
        total = sum(d.weight for d in route) or 1
        point = dice.chance("split", note_id) * total
        for destination in route:
            point -= destination.weight
            if point < 0:
                host, subset = destination.host, destination.subset
                break
    wanted: Mapping[str, str] = {}
    if subset is not None:
        subsets = policy.destination(host).subsets
        if subset not in subsets:
            return Pick(None, subset, f"subset {subset} of {host} is not in any DestinationRule")
        wanted = subsets[subset].labels
    candidates = sorted(
        name for name in roll
        if (name == host or labels.get(name, {}).get("app") == host)
        and all(labels.get(name, {}).get(k) == v for k, v in wanted.items())
    )
    if not candidates:
        what = f"subset {subset} of {host}" if subset else host
        return Pick(None, subset, f"no student answers for {what}")
    here = [c for c in candidates if c in present]
    return Pick(dice.pick(here or candidates, "pick", note_id), subset, "")
