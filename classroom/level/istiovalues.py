"""Istio's value types, read as Istio's API server reads them, with a sentence that teaches when they are not.

Theory of operation
-------------------
Istio's resources are protobuf messages stored as Kubernetes objects, so each
field has one JSON type and the API server (the CRD's OpenAPI schema, then
istiod's validating webhook) refuses any other.  A student who learns a shape
here takes it to a real cluster, so every reader below accepts what Istio
accepts and refuses what it refuses, in words:

* **Duration** (``google.protobuf.Duration``): text with its unit, as Go's
  ``time.ParseDuration`` reads it (``10s``, ``100ms``, ``1m30s``); a bare
  number is refused (``timeout: 10`` is no duration to Istio); at least 1ms
  (the CRD's ``duration(self) >= duration('1ms')``) and in whole milliseconds
  (the webhook's "only durations to ms precision are supported").
* **Percent** (``istio.networking.v1alpha3.Percent``): a mapping
  ``{value: 10}``, the value 0 or 0.0001-100; and, apart from it, the plain
  numbers 0-100 some newer fields take (``retryBudget.percent: 10``).
* **int32 / uint32**: whole numbers in range (YAML ``3.0`` and ``"3"`` are not).
* **StringMatch**: exactly one of ``exact``, ``prefix``, ``regex``; a regex is
  RE2, which has no lookaround and no backreferences.
* **labels**: Kubernetes label keys and values, no wildcards.
* **retryOn**: Envoy's retry conditions, comma-separated without spaces (Istio
  splits on ``,`` and reads `` reset`` as an unknown condition).

Each reader has the checker kit's signature ``(ck, value, at)`` and fails at the
value's line through ``ck`` (:mod:`classroom.level.checks`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from http import HTTPStatus
from typing import Any

from classroom.durations import parse_duration
from classroom.level.checks import (
    _At,
    _bool,
    _Check,
    _choices,
    _describe,
    _int,
    _mapping,
    _number,
    _Reader,
    _show,
    _text,
    _type_error,
)

INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
_UNITS_ONLY = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# Kubernetes label syntax (k8s.io/apimachinery validation): [prefix/]name, each part of a name
# at most 63 characters of alphanumerics, '-', '_', '.', starting and ending alphanumeric.
_LABEL_NAME = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)")
_LABEL_PREFIX = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
# An HTTP header name is an RFC 9110 token; Istio asks for it in lowercase.
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")
_HTTP_STATUSES = frozenset(int(s) for s in HTTPStatus)

# Envoy's retry conditions the classroom's notes can fail by (docs/reference.md's failure table).
RETRY_ON = ("5xx", "gateway-error", "reset", "connect-failure", "refused-stream", "unavailable", "cancelled")
# The ones Istio knows and no note can fail by, each with why.
RETRY_ON_REFUSED: Mapping[str, str] = {
    "envoy-ratelimited": "nothing rate-limits notes in class, so no note is ever refused for a rate limit",
    "retriable-headers": "a note's answer carries no response headers in class, so no header can ask for a retry",
    "retriable-status-codes": "a note's answer carries no headers that list retriable codes: "
    "write the status itself (503)",
    "retriable-4xx": "it retries a 409 only, and no note is ever answered 409",
    "deadline-exceeded": "notes are not gRPC calls, so none fails with gRPC's DEADLINE_EXCEEDED "
    "(a per-try timeout is gateway-error or 5xx)",
    "internal": "notes are not gRPC calls, so none fails with gRPC's INTERNAL",
    "resource-exhausted": "notes are not gRPC calls, so none fails with gRPC's RESOURCE_EXHAUSTED",
    "http3-post-connect-failure": "the class has no HTTP/3: notes travel over the class's own TLS links",
    "reset-before-request": "the class does not tell a link cut before a note was handed over from one "
    "cut after: write reset",
}


# --------------------------------------------------------------------------- numbers


def int32(minimum: int = 0, maximum: int = INT32_MAX) -> _Reader:
    """A protobuf int32 (or a uint32 with ``maximum=UINT32_MAX``) within Istio's range for the field."""

    def read(ck: _Check, value: Any, at: _At) -> int:
        return _int(ck, value, at, minimum=minimum, maximum=maximum)

    return read


UINT32 = int32(0, UINT32_MAX)
COUNT = int32(0)  # Istio's webhook: "... must be non-negative"
WHOLE_PERCENT = int32(0, 100)  # maxEjectionPercent, minHealthPercent: "percentage ... is not in range 0..100"


def http_status(ck: _Check, value: Any, at: _At) -> int:
    """An abort's status: Istio's webhook takes 200-599."""
    return _int(ck, value, at, minimum=200, maximum=599)


def percent_message(ck: _Check, value: Any, at: _At) -> float:
    """Istio's ``Percent`` message, ``{value: 10}``: 0, or 0.0001 to 100."""
    leaf = at.name.rsplit(".", 1)[-1]
    if isinstance(value, int | float) and not isinstance(value, bool):
        ck.fail(
            at.line,
            f"{at.name} is Istio's Percent, a mapping with a value: write `{leaf}: {{value: {_show(value)}}}` "
            "(Istio refuses a bare number here)",
        )
    body = _mapping(ck, value, at, ("value",))
    value_at = at.key(body, "value")
    number = _number(ck, body.get("value", 0.0), value_at, minimum=0, maximum=100)
    if 0 < number < 0.0001:
        ck.fail(value_at.line, f"{value_at.name} must be 0, or from 0.0001 to 100, got {_show(body['value'])}")
    return number


def plain_percent(ck: _Check, value: Any, at: _At) -> float:
    """A plain double from 0 to 100 (``retryBudget.percent``), never the ``{value: ...}`` wrapper."""
    leaf = at.name.rsplit(".", 1)[-1]
    if isinstance(value, dict):
        inner = value.get("value", "10")
        shown = _show(inner) if isinstance(inner, int | float) and not isinstance(inner, bool) else "10"
        ck.fail(
            at.line,
            f"{at.name} is a number from 0 to 100, written `{leaf}: {shown}`: Istio's {leaf} here is a plain "
            "number, not {value: ...}",
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        ck.fail(at.line, f"{at.name} is a number from 0 to 100, written `{leaf}: 10`, got {_describe(value)}")
    return _number(ck, value, at, minimum=0, maximum=100)


# --------------------------------------------------------------------------- durations


def duration(*, minimum_ms: int = 1) -> _Reader:
    """Istio's Duration: text with a unit, at least ``minimum_ms``, in whole milliseconds."""

    def read(ck: _Check, value: Any, at: _At) -> float:
        leaf = at.name.rsplit(".", 1)[-1]
        if isinstance(value, bool) or not isinstance(value, str):
            if isinstance(value, int | float) and not isinstance(value, bool):
                ck.fail(
                    at.line,
                    f"{at.name} is a duration with its unit, written `{leaf}: {_show(value)}s` (or 100ms, 1m): "
                    "Istio refuses a bare number",
                )
            _type_error(ck, value, at, f"a duration with its unit, like `{leaf}: 10s`")
        if value.startswith("-"):
            ck.fail(at.line, f"{at.name} must be at least {minimum_ms}ms, got {value}")
        if _UNITS_ONLY.fullmatch(value) and float(value) != 0:
            ck.fail(
                at.line,
                f"{at.name} is a duration with its unit, written `{leaf}: {value}s` (or 100ms, 1m): "
                f"Istio reads {value!r} without a unit as no duration",
            )
        try:
            if value.strip() != value:
                raise ValueError(value)
            seconds = parse_duration(value)
        except ValueError:
            ck.fail(at.line, f"{at.name}: {value!r} is not a duration: write it as Istio does, like 10s, 100ms "
                    "or 1m30s")
        millis = seconds * 1000
        if minimum_ms and millis < minimum_ms:
            ck.fail(at.line, f"{at.name} must be at least {minimum_ms}ms, got {value} (Istio refuses a shorter one)")
        if abs(millis - round(millis)) > 1e-6:
            ck.fail(
                at.line,
                f"{at.name} is {value}: Istio counts these durations in whole milliseconds (write 1ms, not 500us)",
            )
        return seconds

    return read


DURATION = duration()  # the CRD: "must be a valid duration greater than 1ms"
DURATION_OR_ZERO = duration(minimum_ms=0)  # retryBudget.budgetInterval: 0ms is its default


# --------------------------------------------------------------------------- text


def text(ck: _Check, value: Any, at: _At) -> str:
    return _text(ck, value, at)


def nonempty_text(ck: _Check, value: Any, at: _At) -> str:
    """Istio's AuthorizationPolicy refuses empty strings in its lists ("empty value is not allowed")."""
    written = _text(ck, value, at)
    if not written:
        ck.fail(at.line, f"{at.name} is empty: Istio refuses an empty value here")
    return written


def boolean(ck: _Check, value: Any, at: _At) -> bool:
    return _bool(ck, value, at)


def enum(*choices: str, refused: Mapping[str, str] | None = None) -> _Reader:
    """One of ``choices``; a value Istio has and the class refuses is refused with its reason."""

    def read(ck: _Check, value: Any, at: _At) -> str:
        if refused and isinstance(value, str) and value in refused:
            ck.fail(at.line, f"{at.name} {value} is not supported here: {refused[value]}")
        if not isinstance(value, str) or value not in choices:
            more = f" (Istio also has {_choices(refused)}, which the class refuses)" if refused else ""
            ck.fail(at.line, f"{at.name} must be one of {_choices(choices)}{more}, got {_describe(value)}")
        return value

    return read


def dns_label(ck: _Check, value: Any, at: _At) -> str:
    """A DNS-1123 label, as Istio's subset names must be."""
    written = _text(ck, value, at)
    if not _DNS_LABEL.fullmatch(written):
        ck.fail(
            at.line,
            f"{at.name} {written!r} is not a valid name: Istio wants a DNS label (lowercase letters, digits "
            "and '-', starting and ending with a letter or digit, at most 63 characters)",
        )
    return written


def label_key(ck: _Check, value: Any, at: _At) -> str:
    written = _text(ck, value, at)
    prefix, _, name = written.rpartition("/")
    if "*" in written:
        ck.fail(at.line, f"{at.name}: a label key has no wildcards in Istio ('*' matches nothing here)")
    if not written or not _LABEL_NAME.fullmatch(name) or (prefix and not _LABEL_PREFIX.fullmatch(prefix)):
        ck.fail(
            at.line,
            f"{at.name}: {written!r} is not a label key: letters, digits, '-', '_' and '.', at most 63, "
            "starting and ending with a letter or digit (like app or version)",
        )
    return written


def label_value(ck: _Check, value: Any, at: _At) -> str:
    written = _text(ck, value, at)
    if "*" in written:
        ck.fail(at.line, f"{at.name}: a label value has no wildcards in Istio ('*' matches nothing here)")
    if written and not _LABEL_NAME.fullmatch(written):
        ck.fail(
            at.line,
            f"{at.name}: {written!r} is not a label value: letters, digits, '-', '_' and '.', at most 63, "
            "starting and ending with a letter or digit",
        )
    return written


def header_name(ck: _Check, value: Any, at: _At) -> str:
    """A header name as Istio's matches write it: an HTTP token, in lowercase."""
    written = _text(ck, value, at)
    if written and written.lower() != written and _HEADER_NAME.fullmatch(written.lower()):
        ck.fail(at.line, f"{at.name}: header names are written in lowercase, as Istio asks: write "
                f"{written.lower()!r}")
    if written.startswith(":") or written in ("uri", "scheme", "method", "authority"):
        ck.fail(at.line, f"{at.name}: Istio does not match {written!r} as a header: match the note's path "
                "with uri and its method with method")
    if not _HEADER_NAME.fullmatch(written):
        ck.fail(at.line, f"{at.name}: {written!r} is not a header name (letters, digits and '-', like x-class)")
    return written


# --------------------------------------------------------------------------- regex and StringMatch

_RE2_LACKS = (
    (re.compile(r"\(\?<?[=!]"), "lookaround ((?=...), (?!...), (?<=...), (?<!...))"),
    (re.compile(r"\\[1-9]|\(\?P="), "backreferences (\\1, (?P=name))"),
    (re.compile(r"\(\?>"), "atomic groups ((?>...))"),
    (re.compile(r"\(\?\("), "conditionals ((?(1)...))"),
    (re.compile(r"(?<!\\)[*+?}][+]"), "possessive repeats (a*+)"),
)


def regex(ck: _Check, value: Any, at: _At) -> str:
    """An RE2 regular expression (Istio's and Envoy's), matched against the whole value."""
    written = _text(ck, value, at)
    if not written:
        ck.fail(at.line, f"{at.name} is empty: Istio refuses an empty regex (write prefix or exact instead)")
    if len(written) > 1024:
        ck.fail(at.line, f"{at.name} is {len(written)} characters long: Istio allows a regex of at most 1024")
    for pattern, what in _RE2_LACKS:
        if pattern.search(written):
            ck.fail(at.line, f"{at.name}: {written!r} uses {what}, which Istio's regular expressions (RE2) "
                    "do not have")
    try:
        re.compile(written)
    except re.error as exc:
        ck.fail(at.line, f"{at.name}: {written!r} is not a regular expression ({exc})")
    return written


def string_match(*, empty_prefix: bool = False, presence_hint: bool = False) -> _Reader:
    """Istio's StringMatch: exactly one of exact, prefix (not empty, except a uri's) and regex."""
    kinds = ("exact", "prefix", "regex")

    def read(ck: _Check, value: Any, at: _At) -> dict[str, str]:
        body = _mapping(ck, value, at, kinds)
        given = [k for k in kinds if k in body]
        if not given:
            hint = " (to match any value of a header the note carries, write `regex: '.*'`)" if presence_hint else ""
            ck.fail(at.line, f"{at.name} needs one of exact, prefix or regex, like {{exact: /note}}{hint}")
        if len(given) > 1:
            ck.fail(
                at.line,
                f"{at.name} has both {given[0]} and {given[1]}: a match is exact, prefix or regex, one of them "
                "(Istio's StringMatch is a oneof)",
            )
        kind = given[0]
        kind_at = at.key(body, kind)
        if kind == "regex":
            regex(ck, body[kind], kind_at)
        else:
            written = _text(ck, body[kind], kind_at)
            if kind == "prefix" and not written and not empty_prefix:
                ck.fail(kind_at.line, f"{kind_at.name} is empty: Istio refuses an empty prefix here")
        return body

    return read


# --------------------------------------------------------------------------- retryOn


def retry_on(ck: _Check, value: Any, at: _At) -> tuple[str, ...]:
    """Envoy's retry conditions, comma-separated without spaces: the ones a note can fail by, or a status."""
    written = _text(ck, value, at)
    tokens = written.split(",")
    for token in tokens:
        if token != token.strip():
            ck.fail(
                at.line,
                f"{at.name}: write the conditions without spaces ({','.join(t.strip() for t in tokens)!r}): "
                f"Istio reads {token!r} as an unknown condition",
            )
        if not token:
            ck.fail(at.line, f"{at.name} {written!r} has an empty condition: write them separated by single commas")
        if token in RETRY_ON_REFUSED:
            ck.fail(at.line, f"{at.name}: {token} is not supported here: {RETRY_ON_REFUSED[token]}")
        if token not in RETRY_ON and not (token.isdigit() and int(token) in _HTTP_STATUSES):
            ck.fail(
                at.line,
                f"{at.name}: {token!r} is not a retry condition; the class knows {_choices(RETRY_ON)} "
                "and HTTP status codes like 503",
            )
    return tuple(tokens)


def no_wildcard_host(ck: _Check, value: Any, at: _At, what: str) -> str:
    written = nonempty_text(ck, value, at)
    if written == "*":
        ck.fail(at.line, f"{at.name}: Istio refuses '*' as {what}: name the student or the service")
    return written


def one_of(ck: _Check, body: Mapping[str, Any], at: _At, keys: Collection[str]) -> None:
    """At most one of ``keys`` (a protobuf oneof)."""
    given = [k for k in keys if k in body]
    if len(given) > 1:
        ck.fail(at.line, f"{at.name} has both {given[0]} and {given[1]}: Istio takes one of them")
