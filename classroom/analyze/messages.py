"""The analyzer's messages: Istio's codes where one fits, the class's own (CLS) for the class's own rules.

Theory of operation
-------------------
A :class:`MessageType` is a code, a name, a level and a template, as in
istio/istio's ``pkg/config/analysis/msg/messages.yaml`` (the IST types below
copy its codes, names, levels and templates); a :class:`Message` is one of
them about one resource, at one file and line.  ``str(message)`` is
istioctl's text form::

    Error [IST0101] (VirtualService first-note/dana levels/x.yaml:12) Referenced host not found: "danna"

and :meth:`Message.to_json` its ``-o json`` form (``code``, ``level``,
``origin``, ``reference``, ``message``, ``documentationUrl``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

INFO, WARNING, ERROR = "Info", "Warning", "Error"
LEVELS = (INFO, WARNING, ERROR)  # in order: a threshold counts its level and the ones after it
_ISTIO_DOCS = "https://istio.io/latest/docs/reference/config/analysis/"


@dataclass(frozen=True)
class MessageType:
    code: str
    name: str
    level: str
    template: str


def _type(code: str, name: str, level: str, template: str) -> MessageType:
    return MessageType(code, name, level, template)


# Istio's own (istio/istio pkg/config/analysis/msg/messages.yaml).
REFERENCED_RESOURCE_NOT_FOUND = _type("IST0101", "ReferencedResourceNotFound", ERROR, "Referenced {} not found: {}")
SCHEMA_VALIDATION_ERROR = _type("IST0106", "SchemaValidationError", ERROR, "Schema validation error: {}")
CONFLICTING_VIRTUAL_SERVICE_HOSTS = _type(
    "IST0109", "ConflictingMeshGatewayVirtualServiceHosts", ERROR,
    "The VirtualServices {} associated with mesh gateway define the same host {} which can lead to undefined "
    "behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
)
NO_MATCHING_WORKLOADS = _type(
    "IST0127", "NoMatchingWorkloadsFound", WARNING,
    "No matching workloads for this resource with the following labels: {}",
)
UNREACHABLE_RULE = _type("IST0130", "VirtualServiceUnreachableRule", WARNING, "VirtualService rule {} not used ({}).")
INEFFECTIVE_MATCH = _type(
    "IST0131", "VirtualServiceIneffectiveMatch", INFO,
    "VirtualService rule {} match {} is not used (duplicate/overlapping match in rule {}).",
)
INEFFECTIVE_POLICY = _type("IST0167", "IneffectivePolicy", WARNING, "The policy has no impact: {}.")
SUBSET_SELECTS_NOBODY = _type(
    "IST0173", "DestinationRuleSubsetNotSelectPods", ERROR,
    "The Subset {} defined in the DestinationRule does not select any pods. Which may lead to 503 UH "
    "(NoHealthyUpstream).",
)
UNKNOWN_DESTINATION_RULE_HOST = _type(
    "IST0174", "UnknownDestinationRuleHost", WARNING,
    "The host {} defined in the DestinationRule does not match any services in the mesh.",
)

# The class's own, in a range of its own.
RETRIES_MULTIPLY = _type("CLS0001", "RetriesMultiplyHopByHop", WARNING, "{}")
FORGER_ACCEPTED = _type("CLS0002", "PlaintextFromTheForgerAccepted", WARNING, "{}")
TEACHER_READS_PLAINTEXT = _type("CLS0003", "TeacherReadsPlaintext", WARNING, "{}")
STRICT_CUTS_OFF_UNMESHED = _type("CLS0004", "StrictCutsOffUnmeshed", WARNING, "{}")
PER_TRY_LEAVES_NO_RETRY = _type("CLS0005", "PerTryTimeoutLeavesNoRetry", WARNING, "{}")
TIMEOUT_SHORTER_THAN_THE_WAY = _type("CLS0006", "TimeoutShorterThanTheWay", WARNING, "{}")
WEIGHTS_ARE_SHARES = _type("CLS0007", "WeightsAreSharesOfTheirTotal", INFO, "{}")
PRINCIPAL_NAMES_NOBODY = _type("CLS0008", "PrincipalNamesNobody", WARNING, "{}")
NOT_THE_CLASS_NAMESPACE = _type("CLS0009", "NotTheClassNamespace", ERROR, "{}")
TWO_CLASS_WIDE_PEER_AUTHENTICATIONS = _type("CLS0010", "TwoClassWidePeerAuthentications", WARNING, "{}")
METHOD_NEVER_MATCHES = _type("CLS0011", "MethodNeverMatches", WARNING, "{}")
NOT_EDITABLE = _type("CLS0012", "KindNotEditableInThisLevel", ERROR, "{}")
HANDS_READ_UNSEALED = _type("CLS0013", "NosyHandsReadUnsealedNotes", WARNING, "{}")

CODES: tuple[MessageType, ...] = (
    REFERENCED_RESOURCE_NOT_FOUND, SCHEMA_VALIDATION_ERROR, CONFLICTING_VIRTUAL_SERVICE_HOSTS,
    NO_MATCHING_WORKLOADS, UNREACHABLE_RULE, INEFFECTIVE_MATCH, INEFFECTIVE_POLICY, SUBSET_SELECTS_NOBODY,
    UNKNOWN_DESTINATION_RULE_HOST, RETRIES_MULTIPLY, FORGER_ACCEPTED, TEACHER_READS_PLAINTEXT,
    STRICT_CUTS_OFF_UNMESHED, PER_TRY_LEAVES_NO_RETRY, TIMEOUT_SHORTER_THAN_THE_WAY, WEIGHTS_ARE_SHARES,
    PRINCIPAL_NAMES_NOBODY, NOT_THE_CLASS_NAMESPACE, TWO_CLASS_WIDE_PEER_AUTHENTICATIONS, METHOD_NEVER_MATCHES,
    NOT_EDITABLE, HANDS_READ_UNSEALED,
)


@dataclass(frozen=True)
class Message:
    """One finding about one resource: its type, the words, and where (``origin``, file and line)."""

    type: MessageType
    text: str
    origin: str  # "VirtualService first-note/dana", as istioctl names a resource
    path: str | None = None
    line: int = 0

    @property
    def code(self) -> str:
        return self.type.code

    @property
    def level(self) -> str:
        return self.type.level

    @property
    def reference(self) -> str | None:
        """``FILE:LINE`` (or ``FILE``) of what the message is about."""
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else self.path

    def at_least(self, threshold: str) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(threshold)

    def __str__(self) -> str:
        where = f" {self.reference}" if self.reference else ""
        return f"{self.level} [{self.code}] ({self.origin}{where}) {self.text}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "level": self.level, "origin": self.origin}
        if self.reference is not None:
            out["reference"] = self.reference
        out["message"] = self.text
        if self.code.startswith("IST"):
            out["documentationUrl"] = f"{_ISTIO_DOCS}{self.code.lower()}/"
        return out


def render(kind: MessageType, *args: Any) -> str:
    """The type's template filled in; text for a ``%q`` of Istio's is quoted as Go quotes it (:func:`quote`)."""
    return kind.template.format(*args)


def quote(text: str) -> str:
    """Go's ``%q`` for plain text: double quotes, backslash escapes."""
    return json.dumps(text, ensure_ascii=False)
