"""The class's own analyzers: rules read against the room, its seats, its passing time and its teacher.

A note crosses hands (``hops`` passes from its sender to the nearest student
who answers for its host, over the seating graph); every hand on the way
retries as the note's VirtualService says; the teacher listens, forges or
impersonates where she patrols; a student without a sidecar speaks
plaintext.  These analyzers say what that means for a configuration before a
round is played (the CLS codes; see docs/reference.md):

* CLS0001: retries multiply hop by hop unless a retry budget bounds them;
* CLS0002: a teacher who forges is believed where plaintext is accepted;
* CLS0003: a teacher who eavesdrops reads every note under DISABLE;
* CLS0004: STRICT cuts a student without a sidecar off;
* CLS0005: a per-try timeout as long as the note's timeout leaves no retry;
* CLS0006: a timeout shorter than the quickest way never lets a note (or a try) arrive;
* CLS0013: nosy classmates read the notes they carry unless the senders seal them;
* IST0167: a retry budget where no route retries has no impact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from classroom.analyze.context import Context, Item
from classroom.analyze.messages import (
    FORGER_ACCEPTED,
    HANDS_READ_UNSEALED,
    INEFFECTIVE_POLICY,
    PER_TRY_LEAVES_NO_RETRY,
    RETRIES_MULTIPLY,
    STRICT_CUTS_OFF_UNMESHED,
    TEACHER_READS_PLAINTEXT,
    TIMEOUT_SHORTER_THAN_THE_WAY,
    Message,
    MessageType,
    render,
)
from classroom.durations import format_duration, parse_duration
from classroom.mesh.control import authz, linkerd
from classroom.mesh.control.policy import PROFILE_DEFAULT_ATTEMPTS
from classroom.mesh.control.profiles import PROFILES

PERMISSIVE = "PERMISSIVE"


def _default_mode(ctx: Context) -> str:
    """The mode with no PeerAuthentication: the level's mesh's own (Istio's PERMISSIVE, Traefik's none)."""
    known = PROFILES.get(ctx.level.profile) if ctx.level is not None else None
    return known.mtls_mode if known is not None else PERMISSIVE


def _what_refuses(ctx: Context) -> str:
    """What would refuse a plaintext forger under the level's mesh."""
    known = PROFILES.get(ctx.level.profile) if ctx.level is not None else None
    if known is None or known.peer_authentication is None:
        return "STRICT refuses her"
    return (f"{known.name} has no PeerAuthentication to make STRICT "
            f"({known.name} does that with {known.peer_authentication})")


def _class_wide(ctx: Context) -> tuple[str, Item | None]:
    """The class-wide mTLS mode and the PeerAuthentication that sets it (Istio: the oldest, here the first)."""
    for item in ctx.of_kind("PeerAuthentication"):
        if not (item.spec.get("selector") or {}).get("matchLabels"):
            mode = (item.spec.get("mtls") or {}).get("mode", "UNSET")
            return (_default_mode(ctx) if mode == "UNSET" else mode), item
    return _default_mode(ctx), None


def _mode_of(ctx: Context, student: str) -> tuple[str, Item | None]:
    """The mode at one student's hand: a PeerAuthentication selecting her beats the class-wide one."""
    assert ctx.level is not None
    labels = {"app": student, **dict(ctx.level.student(student).labels)}
    for item in ctx.of_kind("PeerAuthentication"):
        selector = (item.spec.get("selector") or {}).get("matchLabels") or {}
        mode = (item.spec.get("mtls") or {}).get("mode", "UNSET")
        if selector and mode != "UNSET" and all(labels.get(k) == v for k, v in selector.items()):
            return mode, item
    return _class_wide(ctx)


def _seals(ctx: Context, student: str) -> bool:
    """Whether a student's notes travel sealed: an EnvelopePolicy selecting her, else the class-wide one."""
    assert ctx.level is not None
    labels = {"app": student, **dict(ctx.level.student(student).labels)}
    class_wide = False
    for item in ctx.of_kind("EnvelopePolicy"):
        selector = (item.spec.get("selector") or {}).get("matchLabels") or {}
        if not selector:
            class_wide = bool(item.spec.get("seal"))
        elif all(labels.get(k) == v for k, v in selector.items()):
            return bool(item.spec.get("seal"))
    return class_wide


def _lets_plaintext_in(ctx: Context, student: str) -> bool:
    """Whether a Linkerd class's policy (a Server, the default inbound policy) lets a hand with no card in."""
    assert ctx.level is not None
    if ctx.level.profile != "linkerd":
        return True
    policies = linkerd.policies([item.resource for item in ctx.items], ctx.level.name)
    labels = dict(ctx.level.student(student).labels)
    return authz.decide(policies, student, None, student, labels).allowed


def _about_the_level(ctx: Context, kind: MessageType, text: str) -> None:
    assert ctx.level is not None
    ctx.messages.append(Message(kind, text, f"Level {ctx.level.name}", ctx.level.path))


def teacher(ctx: Context) -> None:
    """CLS0002 and CLS0003: what the teacher gets where plaintext is allowed."""
    if ctx.level is None or ctx.level.teacher is None:
        return
    mode, item = _class_wide(ctx)
    sealed = {s.name for s in ctx.level.students if _seals(ctx, s.name)}
    everyone_seals = len(sealed) == len(ctx.level.students)
    if ctx.level.teacher.forges and not everyone_seals:  # a recipient refuses an unsealed note from a sealer
        lax = sorted({s.name for s in ctx.level.students
                      if _mode_of(ctx, s.name)[0] != "STRICT" and _lets_plaintext_in(ctx, s.name)})
        if lax:
            how = mode if item is not None else f"no PeerAuthentication: {ctx.level.profile}'s default, {mode}"
            text = (f"the teacher forges notes: she connects in plaintext and claims to be a student, and "
                    f"{_names(lax)} accept{'s' if len(lax) == 1 else ''} plaintext ({how}), where a plaintext peer "
                    f"shows no ID card to check; {_what_refuses(ctx)}")
            if item is not None:
                ctx.report(FORGER_ACCEPTED, item, text, "mtls", "mode")
            else:
                _about_the_level(ctx, FORGER_ACCEPTED, text)
    if ctx.level.teacher.eavesdrops and mode == "DISABLE" and not everyone_seals:
        if item is not None:
            ctx.report(TEACHER_READS_PLAINTEXT, item, "the teacher eavesdrops, and DISABLE sends every note in "
                       "plaintext: she reads every unsealed note on the links she watches (PERMISSIVE or STRICT "
                       "lock the passes between meshed classmates with mTLS)", "mtls", "mode")
        else:
            _about_the_level(ctx, TEACHER_READS_PLAINTEXT, f"the teacher eavesdrops, and {ctx.level.profile} "
                             "sends every note in plaintext by default: she reads every unsealed note on the links "
                             "she watches")


def nosy_hands(ctx: Context) -> None:
    """CLS0013: a nosy classmate who carries notes reads them unless their senders seal them (mTLS does not)."""
    if ctx.level is None:
        return
    nosy = {s.name for s in ctx.level.students if s.behaviour.nosy}
    if not nosy:
        return
    graph = ctx.level.graph()
    readers: set[str] = set()
    senders: set[str] = set()
    for line in ctx.level.traffic:
        if _seals(ctx, line.sender) or line.sender not in graph or line.to not in graph:
            continue
        try:
            way = nx.shortest_path(graph, line.sender, line.to)
        except nx.NetworkXNoPath:
            continue
        on_the_way = nosy & set(way[1:-1])
        if on_the_way:
            readers |= on_the_way
            senders.add(line.sender)
    if readers:
        text = (f"{_names(sorted(readers))} {'is' if len(readers) == 1 else 'are'} nosy and carr"
                f"{'ies' if len(readers) == 1 else 'y'} notes from {_names(sorted(senders))}, which are not "
                "sealed: mTLS locks each pass, but a hand unlocks it to pass the note on and reads it; an "
                "EnvelopePolicy with seal: true seals the notes to their recipients")
        envelopes = list(ctx.of_kind("EnvelopePolicy"))
        if envelopes:
            ctx.report(HANDS_READ_UNSEALED, envelopes[0], text, "seal")
        else:
            _about_the_level(ctx, HANDS_READ_UNSEALED, text)


def unmeshed(ctx: Context) -> None:
    """CLS0004: STRICT at the hands next to a student without a sidecar refuses her plaintext."""
    if ctx.level is None:
        return
    graph = ctx.level.graph()
    for student in ctx.level.students:
        if student.meshed:
            continue
        strict = sorted(n for n in graph.neighbors(student.name) if _mode_of(ctx, n)[0] == "STRICT")
        if not strict:
            continue
        _, item = _mode_of(ctx, strict[0])
        text = (f"{student.name} has no sidecar (meshed: false) and speaks plaintext only: STRICT at "
                f"{_names(strict)} refuses her, so her notes fail and so does every note that would pass through "
                "her (PERMISSIVE accepts her until she is meshed)")
        if item is not None:
            ctx.report(STRICT_CUTS_OFF_UNMESHED, item, text, "mtls", "mode")


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _seconds(value: Any) -> float | None:
    try:
        return None if value is None else parse_duration(value)
    except ValueError:
        return None


def timeouts(ctx: Context) -> None:
    """CLS0005: a per-try timeout that uses the whole timeout; CLS0006: a timeout shorter than the way."""
    for item in ctx.of_kind("VirtualService"):
        for r, rule in enumerate(item.spec.get("http") or []):
            retries = rule.get("retries") or {}
            timeout, per_try = _seconds(rule.get("timeout")), _seconds(retries.get("perTryTimeout"))
            if timeout is not None and per_try is not None and retries.get("attempts", 0) > 0 and per_try >= timeout:
                ctx.report(PER_TRY_LEAVES_NO_RETRY, item, (
                    f"perTryTimeout {retries['perTryTimeout']} is as long as the note's timeout {rule['timeout']}: "
                    f"a try that times out uses all of it, so the {retries['attempts']} retries never start"),
                    "http", r, "retries", "perTryTimeout")
            if ctx.level is None:
                continue
            for sender, host, hops in _ways(ctx, item.spec.get("hosts") or []):
                way = hops * ctx.level.room.passing_time
                quickest = (f"the quickest way from {sender} to {host} ({hops} pass{'es' if hops > 1 else ''} of "
                            f"{format_duration(ctx.level.room.passing_time)} = {format_duration(way)})")
                if timeout is not None and timeout < way:
                    ctx.report(TIMEOUT_SHORTER_THAN_THE_WAY, item, (
                        f"timeout {rule['timeout']} is shorter than {quickest}: every note runs out of time on "
                        "the way"),
                        "http", r, "timeout")
                    break
                if per_try is not None and retries.get("attempts", 0) > 0 and per_try < way:
                    ctx.report(TIMEOUT_SHORTER_THAN_THE_WAY, item, (
                        f"perTryTimeout {retries['perTryTimeout']} is shorter than {quickest}: every try {sender} "
                        "makes times out before an answer can come back"), "http", r, "retries", "perTryTimeout")
                    break


def _ways(ctx: Context, hosts: list[str]) -> list[tuple[str, str, int]]:
    """(sender, host, passes to the nearest student who answers for it) for the level's notes to ``hosts``."""
    assert ctx.level is not None
    graph = ctx.level.graph()
    ways = []
    for line in ctx.level.traffic:
        if line.to not in hosts:
            continue
        targets = ctx.students_of(line.to)
        lengths = [nx.shortest_path_length(graph, line.sender, t) for t in targets if t != line.sender]
        if lengths:
            ways.append((line.sender, line.to, min(lengths)))
    return sorted(ways, key=lambda w: -w[2])


def retry_storms(ctx: Context) -> None:
    """CLS0001: every hand retries, so a note's tries multiply hop by hop unless a retry budget bounds them."""
    if ctx.level is None:
        return
    budgets = _budgeted(ctx)
    for item in ctx.of_kind("VirtualService"):
        hosts = [str(h) for h in item.spec.get("hosts") or []]
        attempts = max((int((r.get("retries") or {}).get("attempts", 0)) for r in item.spec.get("http") or []
                        if _retries_apply(r)), default=0)
        if attempts < 1 or any(h in budgets or "*" in budgets for h in hosts):
            continue
        ways = [w for w in _ways(ctx, hosts) if w[2] >= 2]
        if not ways:
            continue
        sender, host, hops = ways[0]
        r = next(i for i, rule in enumerate(item.spec["http"])
                 if _retries_apply(rule) and (rule.get("retries") or {}).get("attempts", 0))
        ctx.report(RETRIES_MULTIPLY, item, (
            f"retries multiply hop by hop: a note from {sender} to {host} is passed on by {hops} hands ({sender} "
            f"and {hops - 1} classmate{'s' if hops > 2 else ''}) that each retry "
            f"{'once' if attempts == 1 else f'{attempts} times'}, so one note can reach the last hand up to "
            f"{1 + attempts}^{hops} = {(1 + attempts) ** hops} times; a retryBudget in a DestinationRule for {host} "
            "bounds them"), "http", r, "retries", "attempts")


def _retries_apply(rule: Mapping[str, Any]) -> bool:
    """Whether a rule's retries are used: Istio turns them off on a rule that injects a fault."""
    return not rule.get("fault")


def _budgeted(ctx: Context) -> dict[str, Item]:
    out = {}
    for item in ctx.of_kind("DestinationRule"):
        policies = [item.spec.get("trafficPolicy") or {}] + [
            s.get("trafficPolicy") or {} for s in item.spec.get("subsets") or []]
        if any("retryBudget" in p for p in policies):
            out[str(item.spec["host"])] = item
    return out


def budgets_without_retries(ctx: Context) -> None:
    """IST0167: a retry budget for a host no route retries notes to."""
    profile = ctx.level.profile if ctx.level is not None else "istio"
    default = PROFILE_DEFAULT_ATTEMPTS.get(profile, 0)
    routes: dict[str, int] = {}
    for item in ctx.of_kind("VirtualService"):
        for host in item.spec.get("hosts") or []:
            rules: list[Mapping[str, Any]] = item.spec.get("http") or []
            routes[str(host)] = max(
                (int((r["retries"]).get("attempts", 0)) if r.get("retries") is not None else default for r in rules),
                default=default)
    for host, item in _budgeted(ctx).items():
        attempts = routes.get(host, routes.get("*", default))
        if attempts == 0:
            why = ("its VirtualService sets attempts 0" if host in routes
                   else f"no VirtualService sets retries, and the {profile} profile does not retry by default")
            ctx.report(INEFFECTIVE_POLICY, item, render(
                INEFFECTIVE_POLICY, f"the retryBudget bounds retries to {host}, and no hand retries notes to {host}: "
                f"{why}"), "trafficPolicy", "retryBudget")
