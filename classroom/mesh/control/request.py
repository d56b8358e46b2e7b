"""What a note asks for, as a request does: a path, a method and headers.

A traffic line of a level gives its notes an operation (``path``, default
``/note``; ``method``, default ``POST``; ``headers``).  It travels in the
note's routing header, where every hand can read it, never in its sealed
text.  VirtualService ``match`` rules route on it and AuthorizationPolicy
``to.operation`` and ``when`` rules decide on it, with Istio's matching.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    uri: str = "/note"
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()  # sorted (name, value) pairs; names are case-insensitive

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def to_json(self) -> dict[str, object]:
        return {"uri": self.uri, "method": self.method, "headers": dict(self.headers)}

    @classmethod
    def from_headers(cls, uri: str, method: str, headers: dict[str, str]) -> Operation:
        return cls(uri, method, tuple(sorted((str(k), str(v)) for k, v in headers.items())))


DEFAULT_OPERATION = Operation()
