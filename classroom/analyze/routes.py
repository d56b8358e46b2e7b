"""IST0130 and IST0131: VirtualService rules no note can reach, and matches an earlier one already covers.

As istiod's ``analyzeUnreachableHTTPRules`` does (pkg/config/validation): a
rule with no ``match`` matches every note, so only the last rule may have none
and every rule after it is unreachable; a match written twice is ineffective
the second time, and a rule whose matches are all duplicates is unreachable;
a match whose conditions an earlier prefix match already implies is
ineffective.  The class adds one case Istio leaves to its overlap check: a
match with no condition but ``uri: {prefix: /}`` also matches every note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from classroom.analyze.context import Context, Item
from classroom.analyze.messages import INEFFECTIVE_MATCH, UNREACHABLE_RULE, render


def _rule_name(rule: Mapping[str, Any], index: int) -> str:
    return json.dumps(rule["name"]) if rule.get("name") else f"#{index}"


def _matches_every_note(match: Mapping[str, Any]) -> bool:
    conditions = {k: v for k, v in match.items() if k != "ignoreUriCase"}
    return not conditions or conditions == {"uri": {"prefix": "/"}}


def _covers(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    """Whether every note ``later`` matches is matched by ``earlier`` (a prefix and the same other conditions)."""
    first, second = earlier.get("uri") or {}, later.get("uri") or {}
    if "prefix" not in first:
        return False
    target = second.get("prefix", second.get("exact"))
    if target is None or not str(target).startswith(first["prefix"]):
        return False
    rest = {k: v for k, v in earlier.items() if k != "uri"}
    return rest == {k: v for k, v in later.items() if k != "uri"}


def unreachable_rules(ctx: Context) -> None:
    for item in ctx.of_kind("VirtualService"):
        _one(ctx, item, item.spec.get("http") or [])


def _one(ctx: Context, item: Item, rules: Sequence[Mapping[str, Any]]) -> None:
    seen: dict[str, int] = {}
    catch_all = -1  # the first rule that matches every note
    prefixes: list[tuple[int, int, Mapping[str, Any]]] = []
    for r, rule in enumerate(rules):
        name = _rule_name(rule, r)
        matches = rule.get("match") or []
        if catch_all >= 0:
            why = ("only the last rule can have no matches" if not matches and not (rules[catch_all].get("match"))
                   else f"rule {_rule_name(rules[catch_all], catch_all)} before it matches every note")
            ctx.report(UNREACHABLE_RULE, item, render(UNREACHABLE_RULE, name, why), "http", r)
            continue
        if not matches or any(_matches_every_note(m) for m in matches):
            catch_all = r
        duplicates = 0
        for m, match in enumerate(matches):
            key = json.dumps(match, sort_keys=True)
            if key in seen:
                dup = seen[key]
                words = render(INEFFECTIVE_MATCH, name, f"#{m}", _rule_name(rules[dup], dup))
                ctx.report(INEFFECTIVE_MATCH, item, words, "http", r, "match", m)
                duplicates += 1
                continue
            seen[key] = r
            for earlier_rule, earlier_match, earlier in prefixes:
                if _covers(earlier, match):
                    ctx.report(INEFFECTIVE_MATCH, item, render(
                        INEFFECTIVE_MATCH, name, f"#{m} of prefix {(match.get('uri') or {}).get('prefix', '')}",
                        f"{_rule_name(rules[earlier_rule], earlier_rule)} match #{earlier_match}"),
                        "http", r, "match", m)
                    break
            prefixes.append((r, m, match))
        if matches and duplicates == len(matches):
            ctx.report(UNREACHABLE_RULE, item, render(UNREACHABLE_RULE, name, "all matches used by prior rules"),
                       "http", r)
