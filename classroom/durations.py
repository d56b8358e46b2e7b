"""Durations as levels and Istio resources write them: ``400ms``, ``1.5s``, ``1m30s``.

A duration is one or more ``<number><unit>`` parts (units ``h``, ``m``, ``s``,
``ms``, ``us``/``µs``, ``ns``), as Go and Istio write them, or a bare number
of seconds.  Durations are never negative.  :func:`parse_duration` returns
seconds as a float; :func:`format_duration` writes seconds back in the
shortest of these forms, so that ``parse_duration(format_duration(x))``
gives ``x`` back (to the microsecond).
"""

from __future__ import annotations

import math
import re

UNITS: dict[str, float] = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_EXAMPLES = "like 400ms, 1.5s, 2m, 1h30m or a number of seconds"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; ValueError naming the text when it is not a duration."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration ({_EXAMPLES})")
    if isinstance(text, int | float):
        value = float(text)
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{text!r} is not a duration ({_EXAMPLES})")
        if value < 0:
            raise ValueError(f"duration {text!r} is negative (durations are 0 or more)")
        return value
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration ({_EXAMPLES})")
    body = text.strip()
    if body.startswith("-"):
        raise ValueError(f"duration {text!r} is negative (durations are 0 or more)")
    if body.startswith("+"):
        body = body[1:]
    if _NUMBER.fullmatch(body):
        return float(body)
    total = 0.0
    pos = 0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(body):
        raise ValueError(f"{text!r} is not a duration ({_EXAMPLES})")
    return total


def _trim(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def format_duration(seconds: float) -> str:
    """``seconds`` the way a level would write it: ``400ms``, ``1.5s``, ``1m30s``, ``250us``."""
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{seconds!r} is not a duration")
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{sign}{_trim(seconds * 1e6)}us"
    if seconds < 1:
        return f"{sign}{_trim(seconds * 1e3)}ms"
    if seconds < 60:
        return f"{sign}{_trim(seconds)}s"
    rounded = round(seconds, 3)
    hours, rest = divmod(rounded, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{int(hours)}h")
    if minutes:
        parts.append(f"{int(minutes)}m")
    if secs >= 0.0005:
        parts.append(f"{_trim(secs)}s")
    return sign + "".join(parts)
