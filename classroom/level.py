"""Level files and mesh configurations: loading and validation, errors at FILE:LINE.

Theory of operation
-------------------
1. **Read.**  A level file (or a ``--config`` file) is parsed by ``_Loader``, a
   ``yaml.SafeLoader`` whose mappings are :class:`LineDict` and whose
   sequences are :class:`LineList`: plain ``dict`` and ``list`` subclasses that
   also remember the 1-based line of the node itself (``.line``) and of each
   key or item (``.lines``).  The line maps travel with the data (the
   resources the mesh receives are still ``LineDict``), so anything that
   finds a fault later can still point at its line with :func:`line_of`.
   Broken YAML, an empty file and a key given twice are reported here.
2. **Check.**  The document is walked top-down.  Each value is read by a
   small reader that knows where it sits (an ``_At``: its dotted name, such
   as ``students[2].seat``, and its line) and raises :class:`LevelError` on
   the first fault: an unknown key (naming the allowed ones), a wrong type, a
   value out of range, a name that does not exist.  Mesh resources are
   checked against a declarative schema of the Istio fields the class knows
   (``_SPECS``), then against the level (hosts and selectors name students).
3. **Build.**  What passes becomes frozen dataclasses (:class:`Level` and
   its parts), with durations in seconds and links resolved to sorted pairs.
   The seating graph must be connected: every student must be reachable.

There is exactly one error per failure, and ``str(error)`` is
``FILE:LINE: message`` (``FILE: message`` when no line applies, such as an
unknown level name or a missing file).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import networkx as nx
import yaml

from classroom.durations import format_duration, parse_duration

API_VERSION = "classroom.mesh/v1"
KIND = "Level"
PROFILES = ("istio", "linkerd", "cilium", "traefik", "consul", "appmesh", "nginx")
OPS = (">=", "<=", "==", ">", "<", "!=")
METRICS = (
    "delivered_ratio",
    "delivered",
    "failed",
    "sent",
    "duplicates",
    "in_flight",
    "retries",
    "retries_ratio",
    "delivery_p50",
    "delivery_p99",
    "teacher_read",
    "teacher_caught",
    "impersonations",
    "impersonations_accepted",
    "intermediaries_read",
    "policy_denied",
    "ledger_ok",
    "failed_timeout",
    "failed_refused",
    "failed_denied",
    "failed_reset",
    "failed_absent",
    "split_v2_ratio",
    "max_hop_load",
    "tls_rejected",
    "links_mtls_ratio",
    "ejections",
    "cert_rotations",
)
MTLS_MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
ACTIONS = ("ALLOW", "DENY")
LOAD_BALANCERS = ("UNSPECIFIED", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN")
RETRY_ON = (
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
)
RESOURCE_KINDS: dict[str, tuple[str, ...]] = {
    "PeerAuthentication": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "AuthorizationPolicy": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "VirtualService": (
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    ),
    "DestinationRule": (
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    ),
    # The class's own: how the office hands out ID cards (Istio keeps these in MeshConfig and
    # istio-agent settings: SECRET_TTL, SECRET_GRACE_PERIOD_RATIO, plugged-in CA rotation).
    "IdentityPolicy": ("classroom.mesh/v1",),
}
# The workload label that names a student, as Istio's samples label pods: app: <name>.
STUDENT_LABEL = "app"
NEIGHBOURS = "neighbours"

DEFAULT_SEED = 1
DEFAULT_PASSING_TIME = 0.3
DEFAULT_PROFILE = "istio"
DEFAULT_EVERY = 1.0
LEVELS_ENV = "CLASSROOM_LEVELS_DIR"

_SLUG = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_TOP_KEYS = (
    "apiVersion",
    "kind",
    "metadata",
    "lesson",
    "seed",
    "room",
    "students",
    "teacher",
    "traffic",
    "mesh",
    "objectives",
    "solution",
    "aisles",
)
AISLE_FAULT_KINDS = ("latency", "reset", "blackhole", "partition")


class LevelError(Exception):
    """Bad input in a level or config file. ``str(err) == f"{path}:{line}: {message}"``.

    ``line`` is 1-based; 0 means the error is about the file as a whole (it does
    not exist, or a level name is unknown), and then ``str(err)`` is
    ``f"{path}: {message}"``.
    """

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}: {self.message}"
        return f"{self.path}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.message))


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Behaviour:
    drops: float = 0.0
    refuses: bool = False
    absent: bool = False
    absent_after: float | None = None
    back_after: float | None = None
    slow: float = 0.0
    nosy: bool = False
    fails: float = 0.0  # chance she cannot take a note addressed to her (503): a broken new seat


@dataclass(frozen=True)
class Student:
    name: str
    seat: tuple[int, int]
    behaviour: Behaviour = field(default_factory=Behaviour)
    labels: tuple[tuple[str, str], ...] = ()  # e.g. (("app", "dana"), ("version", "v2"))
    meshed: bool = True  # false: no sidecar of the mesh yet, she speaks plaintext only

    @property
    def app(self) -> str:
        """The service she answers for (label ``app``), her own name by default."""
        return dict(self.labels).get(STUDENT_LABEL, self.name)


@dataclass(frozen=True)
class Room:
    rows: int
    cols: int
    passing_time: float
    links: tuple[tuple[str, str], ...]  # resolved undirected edges, each pair sorted


@dataclass(frozen=True)
class Teacher:
    patrol: tuple[tuple[int, int], ...]
    speed: float = 1.0
    eavesdrops: bool = False
    catches: float = 0.0
    impersonates: bool = False


@dataclass(frozen=True)
class Traffic:
    sender: str
    to: str
    count: int
    every: float
    text: str
    reply: bool = False
    hold: bool = False  # hold notes for an absent recipient until it comes back, within the note's timeout


@dataclass(frozen=True)
class AisleFault:
    """A fault the aisles (the room network) injects on some links, times in seconds at speed 1."""

    kind: str  # one of AISLE_FAULT_KINDS
    links: tuple[tuple[str, str], ...]  # unordered pairs, each sorted: a pair covers both directions
    at: float
    until: float | None = None  # None: to the end of the round
    latency: float | None = None  # only (and always) for kind latency


@dataclass(frozen=True)
class Objective:
    metric: str
    op: str
    value: float


@dataclass(frozen=True)
class Level:
    path: str
    name: str
    title: str
    concepts: tuple[str, ...]
    lesson: str
    seed: int
    room: Room
    students: tuple[Student, ...]
    teacher: Teacher | None
    traffic: tuple[Traffic, ...]
    profile: str
    resources: tuple[dict[str, Any], ...]
    editable: tuple[str, ...]
    objectives: tuple[Objective, ...]
    solution: tuple[dict[str, Any], ...] | None
    aisles: tuple[AisleFault, ...] = ()

    def student(self, name: str) -> Student:
        for student in self.students:
            if student.name == name:
                return student
        raise KeyError(f"no student named {name!r} in level {self.name}")

    def graph(self) -> nx.Graph:
        """The seating graph: a node per student, an edge per link."""
        graph = nx.Graph()
        graph.add_nodes_from(s.name for s in self.students)
        graph.add_edges_from(self.room.links)
        return graph


# --------------------------------------------------------------------------- reading YAML


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers its own line (``line``) and each key's (``lines``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.lines: dict[Any, int] = {}


class LineList(list[Any]):
    """A YAML sequence that remembers its own line (``line``) and each item's (``lines``)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 0
        self.lines: list[int] = []


def line_of(node: Any, key: Any = None, default: int = 0) -> int:
    """The line of ``node[key]`` (a key of a mapping, an index of a list), or of ``node``."""
    if key is None:
        return getattr(node, "line", default) or default
    lines = getattr(node, "lines", None)
    if isinstance(lines, dict):
        return lines.get(key, default)
    if isinstance(lines, list) and isinstance(key, int) and 0 <= key < len(lines):
        return lines[key]
    return default


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str, path: str) -> None:
        super().__init__(stream)
        self.path = path

    def _construct_map(self, node: yaml.MappingNode) -> Iterator[LineDict]:
        data = LineDict()
        data.line = node.start_mark.line + 1
        yield data
        own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)
        merged = len(node.value) - own  # pairs merged in from `<<: *anchor` come first
        merged_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=False)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise LevelError(
                    self.path, line, "a mapping key must be a plain word or number, not a list or a mapping"
                ) from None
            if key in data and key not in merged_keys:
                raise LevelError(
                    self.path,
                    line,
                    f"key {key!r} appears twice in one mapping (first on line {data.lines[key]})",
                )
            if index < merged:
                merged_keys.add(key)
            else:
                merged_keys.discard(key)
            data[key] = self.construct_object(value_node, deep=False)
            data.lines[key] = line

    def _construct_seq(self, node: yaml.SequenceNode) -> Iterator[LineList]:
        data = LineList()
        data.line = node.start_mark.line + 1
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=False))
            data.lines.append(child.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader._construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader._construct_seq)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LevelError(path, 0, "no such file") from None
    except IsADirectoryError:
        raise LevelError(path, 0, "is a folder, not a file") from None
    except UnicodeDecodeError:
        raise LevelError(path, 0, "is not UTF-8 text") from None
    except OSError as exc:
        raise LevelError(path, 0, exc.strerror or str(exc)) from None


def _yaml_error(path: str, exc: yaml.YAMLError) -> LevelError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "broken YAML"
        if exc.context:
            problem = f"{problem} ({exc.context}"
            if exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
                problem += f" on line {exc.context_mark.line + 1}"
            problem += ")"
        return LevelError(path, mark.line + 1 if mark else 0, f"not valid YAML: {problem}")
    return LevelError(path, 0, f"not valid YAML: {exc}")


def _parse_documents(path: str, text: str) -> list[tuple[Any, int, int]]:
    """Every YAML document in ``text``: its data, its first line, the line of its ``---``."""
    loader = _Loader(text, path)
    documents: list[tuple[Any, int, int]] = []
    try:
        while loader.check_node():
            start = loader.peek_event().start_mark.line + 1
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            documents.append((loader.construct_document(node), node.start_mark.line + 1, start))
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    finally:
        loader.dispose()
    return documents


# --------------------------------------------------------------------------- checking values


@dataclass(frozen=True)
class _At:
    """Where a value sits: its dotted name (``students[2].seat``) and its line."""

    name: str
    line: int

    def key(self, mapping: Any, key: str) -> _At:
        name = f"{self.name}.{key}" if self.name else key
        return _At(name, line_of(mapping, key, self.line))

    def item(self, sequence: Any, index: int) -> _At:
        return _At(f"{self.name}[{index}]", line_of(sequence, index, self.line))


class _Check:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> NoReturn:
        raise LevelError(self.path, line, message)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value!r})"


def _show(value: Any) -> str:
    """A value as YAML would write it inline, for messages."""
    if isinstance(value, list):
        return "[" + ", ".join(v if isinstance(v, str) else _show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else repr(value)


def _choices(values: Collection[str]) -> str:
    return ", ".join(values)


def _type_error(ck: _Check, value: Any, at: _At, wanted: str) -> NoReturn:
    ck.fail(at.line, f"{at.name} must be {wanted}, got {_describe(value)}")


def _mapping(
    ck: _Check, value: Any, at: _At, allowed: Collection[str], required: Collection[str] = ()
) -> dict[Any, Any]:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping (key: value)")
    for key in value:
        if key not in allowed:
            where = at.name or "the level"
            hint = (
                " (YAML reads a bare on/off/yes/no as true/false: quote it)" if isinstance(key, bool) else ""
            )
            ck.fail(
                line_of(value, key, at.line),
                f"{where} has an unknown key {_show(key)}{hint}; allowed: {_choices(allowed)}",
            )
    for key in required:
        if key not in value:
            where = at.name or "the level"
            ck.fail(at.line, f"{where} is missing {key!r}")
    return value


def _list(ck: _Check, value: Any, at: _At, *, nonempty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        _type_error(ck, value, at, "a list")
    if nonempty and not value:
        ck.fail(at.line, f"{at.name} is empty: it needs at least one entry")
    return value


def _text(ck: _Check, value: Any, at: _At) -> str:
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, bool | int | float) else ""
        _type_error(ck, value, at, "text" + hint)
    return value


def _slug(ck: _Check, value: Any, at: _At) -> str:
    text = _text(ck, value, at)
    if not _SLUG.fullmatch(text):
        ck.fail(
            at.line,
            f"{at.name} {text!r} is not a valid name: use lowercase letters, digits "
            "and '-', starting with a letter and not ending with '-' (like 'ben' or "
            "'row-2'), at most 63 characters",
        )
    return text


def _choice(ck: _Check, value: Any, at: _At, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        ck.fail(at.line, f"{at.name} must be one of {_choices(choices)}, got {_describe(value)}")
    return value


def _bool(ck: _Check, value: Any, at: _At) -> bool:
    if not isinstance(value, bool):
        _type_error(ck, value, at, "true or false")
    return value


def _int(ck: _Check, value: Any, at: _At, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _type_error(ck, value, at, "a whole number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            ck.fail(at.line, f"{at.name} must be {minimum} or more, got {value}")
        if minimum is None:
            ck.fail(at.line, f"{at.name} must be {maximum} or less, got {value}")
        ck.fail(at.line, f"{at.name} must be between {minimum} and {maximum}, got {value}")
    return value


def _number(
    ck: _Check,
    value: Any,
    at: _At,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        _type_error(ck, value, at, "a number")
    number = float(value)
    if positive and number <= 0:
        ck.fail(at.line, f"{at.name} must be more than 0, got {_show(value)}")
    if minimum is not None and maximum is not None and not minimum <= number <= maximum:
        ck.fail(
            at.line, f"{at.name} must be between {_show(minimum)} and {_show(maximum)}, got {_show(value)}"
        )
    if minimum is not None and number < minimum:
        ck.fail(at.line, f"{at.name} must be {_show(minimum)} or more, got {_show(value)}")
    return number


def _probability(ck: _Check, value: Any, at: _At) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _type_error(ck, value, at, "a probability between 0 and 1")
    if not 0.0 <= value <= 1.0:
        ck.fail(at.line, f"{at.name} is a probability: it must be between 0 and 1, got {_show(value)}")
    return float(value)


def _duration(ck: _Check, value: Any, at: _At) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        _type_error(ck, value, at, "a duration like 400ms, 2s or 1m")
    try:
        return parse_duration(value)
    except ValueError as exc:
        ck.fail(at.line, f"{at.name}: {exc}")


def _seat(ck: _Check, value: Any, at: _At, rows: int, cols: int) -> tuple[int, int]:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        _type_error(ck, value, at, "a seat [row, col] of two whole numbers")
    row, col = value
    if not (0 <= row < rows and 0 <= col < cols):
        ck.fail(
            at.line,
            f"{at.name} {_show(value)} is outside the room ({rows} rows x {cols} "
            f"cols: rows 0-{rows - 1}, cols 0-{cols - 1})",
        )
    return (row, col)


def _optional(mapping: Mapping[Any, Any], key: str, default: Any) -> Any:
    """``mapping[key]``; ``default`` when the key is missing or left empty."""
    value = mapping.get(key)
    return default if value is None else value


# --------------------------------------------------------------------------- resources

_Reader = Callable[[_Check, Any, _At], Any]


@dataclass(frozen=True)
class _Map:
    """A mapping with known keys, each with its own spec."""

    fields: Mapping[str, Any]
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ListOf:
    item: Any


@dataclass(frozen=True)
class _OneOf:
    options: tuple[Any, ...]
    wanted: str


def _walk(ck: _Check, value: Any, at: _At, spec: Any) -> None:
    if isinstance(spec, _Map):
        mapping = _mapping(ck, value, at, tuple(spec.fields), spec.required)
        for key, child in mapping.items():
            _walk(ck, child, at.key(mapping, key), spec.fields[key])
    elif isinstance(spec, _ListOf):
        items = _list(ck, value, at)
        for index, child in enumerate(items):
            _walk(ck, child, at.item(items, index), spec.item)
    elif isinstance(spec, _OneOf):
        for option in spec.options:
            try:
                _walk(ck, value, at, option)
                return
            except LevelError:
                continue
        _type_error(ck, value, at, spec.wanted)
    else:
        spec(ck, value, at)


def _r_text(ck: _Check, value: Any, at: _At) -> None:
    _text(ck, value, at)


def _r_count(ck: _Check, value: Any, at: _At) -> None:
    _int(ck, value, at, minimum=0)


def _r_ratio(ck: _Check, value: Any, at: _At) -> None:
    _number(ck, value, at, minimum=0.05, maximum=2.0)


def _r_percent(ck: _Check, value: Any, at: _At) -> None:
    _number(ck, value, at, minimum=0, maximum=100)


def _r_weight(ck: _Check, value: Any, at: _At) -> None:
    _int(ck, value, at, minimum=0, maximum=100)


def _r_status(ck: _Check, value: Any, at: _At) -> None:
    _int(ck, value, at, minimum=100, maximum=599)


def _r_duration(ck: _Check, value: Any, at: _At) -> None:
    _duration(ck, value, at)


def _r_port(ck: _Check, value: Any, at: _At) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        _type_error(ck, value, at, "a port (text or number)")


def _r_any_mapping(ck: _Check, value: Any, at: _At) -> None:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping (key: value)")


def _r_labels(ck: _Check, value: Any, at: _At) -> None:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping of labels (key: value)")
    for key, label in value.items():
        _text(ck, key, at.key(value, str(key)))
        _text(ck, label, at.key(value, str(key)))


def _r_enum(*choices: str) -> _Reader:
    def read(ck: _Check, value: Any, at: _At) -> None:
        _choice(ck, value, at, choices)

    return read


def _r_retry_on(ck: _Check, value: Any, at: _At) -> None:
    text = _text(ck, value, at)
    for part in (p.strip() for p in text.split(",")):
        if part not in RETRY_ON and not re.fullmatch(r"[1-5]\d\d", part):
            ck.fail(
                at.line,
                f"{at.name}: {part!r} is not a retry condition; Istio knows "
                f"{_choices(RETRY_ON)} and HTTP status codes like 503",
            )


def _r_resource_name(ck: _Check, value: Any, at: _At) -> None:
    text = _text(ck, value, at)
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        ck.fail(
            at.line,
            f"{at.name} {text!r} is not a valid resource name: use lowercase "
            "letters, digits, '-' and '.', starting and ending with a letter or digit",
        )


_TEXTS = _ListOf(_r_text)
_PERCENTAGE = _Map({"value": _r_percent})
_SELECTOR = _Map({"matchLabels": _r_labels})
_TRAFFIC_POLICY = _Map(
    {
        "outlierDetection": _Map(
            {
                "consecutive5xxErrors": _r_count,
                "consecutiveGatewayErrors": _r_count,
                "interval": _r_duration,
                "baseEjectionTime": _r_duration,
                "maxEjectionPercent": _r_weight,
            }
        ),
        "connectionPool": _Map(
            {
                "tcp": _Map({"maxConnections": _r_count, "connectTimeout": _r_duration}),
                "http": _Map(
                    {
                        "http1MaxPendingRequests": _r_count,
                        "maxRequestsPerConnection": _r_count,
                        "maxRetries": _r_count,
                    }
                ),
            }
        ),
        "loadBalancer": _Map({"simple": _r_enum(*LOAD_BALANCERS)}),
        "retryBudget": _Map(
            {
                "percent": _OneOf((_r_percent, _PERCENTAGE), "a percentage 0-100 or {value: 0-100}"),
                "minRetryConcurrency": _r_count,
            }
        ),
    }
)
_SPECS: dict[str, tuple[_Map, tuple[str, ...]]] = {
    # kind: (spec schema, keys the spec must have)
    "IdentityPolicy": (
        _Map(
            {
                "certLifetime": _r_duration,
                "renewAt": _r_ratio,
                "caRotation": _Map({"at": _r_duration, "trustOldRootUntil": _r_duration}),
            }
        ),
        (),
    ),
    "PeerAuthentication": (
        _Map(
            {
                "selector": _SELECTOR,
                "mtls": _Map({"mode": _r_enum(*MTLS_MODES)}),
            }
        ),
        (),
    ),
    "AuthorizationPolicy": (
        _Map(
            {
                "selector": _SELECTOR,
                "action": _r_enum(*ACTIONS),
                "rules": _ListOf(
                    _Map(
                        {
                            "from": _ListOf(
                                _Map(
                                    {
                                        "source": _Map(
                                            {
                                                "principals": _TEXTS,
                                                "notPrincipals": _TEXTS,
                                                "namespaces": _TEXTS,
                                            }
                                        )
                                    }
                                )
                            ),
                            "to": _ListOf(
                                _Map(
                                    {
                                        "operation": _Map(
                                            {
                                                "hosts": _TEXTS,
                                                "paths": _TEXTS,
                                                "methods": _TEXTS,
                                                "ports": _ListOf(_r_port),
                                            }
                                        )
                                    }
                                )
                            ),
                        }
                    )
                ),
            }
        ),
        (),
    ),
    "VirtualService": (
        _Map(
            {
                "hosts": _TEXTS,
                "http": _ListOf(
                    _Map(
                        {
                            "name": _r_text,
                            "match": _ListOf(_r_any_mapping),
                            "route": _ListOf(
                                _Map(
                                    {
                                        "destination": _Map(
                                            {"host": _r_text, "subset": _r_text}, required=("host",)
                                        ),
                                        "weight": _r_weight,
                                    },
                                    required=("destination",),
                                )
                            ),
                            "timeout": _r_duration,
                            "retries": _Map(
                                {
                                    "attempts": _r_count,
                                    "perTryTimeout": _r_duration,
                                    "retryOn": _r_retry_on,
                                    "backoff": _r_duration,
                                }
                            ),
                            "fault": _Map(
                                {
                                    "delay": _Map(
                                        {"percentage": _PERCENTAGE, "fixedDelay": _r_duration},
                                        required=("fixedDelay",),
                                    ),
                                    "abort": _Map(
                                        {"percentage": _PERCENTAGE, "httpStatus": _r_status},
                                        required=("httpStatus",),
                                    ),
                                }
                            ),
                        }
                    )
                ),
            }
        ),
        ("hosts",),
    ),
    "DestinationRule": (
        _Map(
            {
                "host": _r_text,
                "trafficPolicy": _TRAFFIC_POLICY,
                "subsets": _ListOf(
                    _Map(
                        {"name": _r_text, "labels": _r_labels, "trafficPolicy": _TRAFFIC_POLICY},
                        required=("name",),
                    )
                ),
            }
        ),
        ("host",),
    ),
}
_METADATA = _Map({"name": _r_resource_name, "namespace": _r_text, "labels": _r_labels}, required=("name",))


def _check_student(ck: _Check, value: Any, at: _At, students: Collection[str] | None, what: str) -> None:
    if students is None or value == "*" or value in students:
        return
    ck.fail(
        at.line,
        f"{at.name} {value!r} is not a student of this level, so this {what} "
        f"matches nobody (students: {_choices(sorted(students))})",
    )


def _resource(
    ck: _Check,
    value: Any,
    at: _At,
    students: Collection[str] | None,
    workloads: Collection[Mapping[str, str]] | None = None,
) -> None:
    resource = _mapping(
        ck, value, at, ("apiVersion", "kind", "metadata", "spec"), ("apiVersion", "kind", "metadata")
    )
    kind_at = at.key(resource, "kind")
    kind = _choice(ck, resource["kind"], kind_at, tuple(RESOURCE_KINDS))
    versions = RESOURCE_KINDS[kind]
    version_at = at.key(resource, "apiVersion")
    if resource["apiVersion"] not in versions:
        ck.fail(
            version_at.line,
            f"{version_at.name}: a {kind} has apiVersion "
            f"{' or '.join(versions)}, got {_describe(resource['apiVersion'])}",
        )
    _walk(ck, resource["metadata"], at.key(resource, "metadata"), _METADATA)
    schema, required = _SPECS[kind]
    spec_at = at.key(resource, "spec")
    if "spec" not in resource:
        if required:
            ck.fail(at.line, f"{at.name} ({kind}) is missing 'spec' (it needs {required[0]!r})")
        return
    spec = resource["spec"]
    _walk(ck, spec, spec_at, _Map(schema.fields, required))
    _check_names(ck, kind, spec, spec_at, students, workloads)


def _check_names(
    ck: _Check,
    kind: str,
    spec: dict[str, Any],
    at: _At,
    students: Collection[str] | None,
    workloads: Collection[Mapping[str, str]] | None = None,
) -> None:
    """The parts of a resource that name students, and Istio's rules about routes.

    A selector's ``matchLabels`` pick students by their labels (see :func:`_workloads`),
    so together they must fit at least one student.
    """
    selector = spec.get("selector")
    if isinstance(selector, dict) and isinstance(selector.get("matchLabels"), dict):
        labels = selector["matchLabels"]
        labels_at = at.key(spec, "selector").key(selector, "matchLabels")
        if STUDENT_LABEL in labels:
            label_at = labels_at.key(labels, STUDENT_LABEL)
            _check_student(ck, labels[STUDENT_LABEL], label_at, students, f"{kind} selector")
        if workloads is not None and not any(
            all(workload.get(key) == value for key, value in labels.items()) for workload in workloads
        ):
            ck.fail(
                labels_at.line,
                f"{labels_at.name} {_show(dict(labels))} fits no student of this level, so this {kind} "
                "selector matches nobody (a student's labels: app, her name unless given, and her labels)",
            )
    if kind == "DestinationRule":
        _check_student(ck, spec["host"], at.key(spec, "host"), students, "DestinationRule")
    if kind != "VirtualService":
        return
    hosts_at = at.key(spec, "hosts")
    for index, host in enumerate(spec["hosts"]):
        _check_student(ck, host, hosts_at.item(spec["hosts"], index), students, "VirtualService host")
    http_at = at.key(spec, "http")
    for index, http in enumerate(spec.get("http") or []):
        route_at = http_at.item(spec["http"], index).key(http, "route")
        routes = http.get("route") or []
        for r_index, route in enumerate(routes):
            dest_at = route_at.item(routes, r_index).key(route, "destination")
            destination = route["destination"]
            _check_student(ck, destination["host"], dest_at.key(destination, "host"), students, "route")
        if len(routes) > 1:
            total = sum(route.get("weight", 0) for route in routes)
            if total != 100:
                ck.fail(
                    route_at.line,
                    f"{route_at.name}: the weights of its {len(routes)} "
                    f"destinations add up to {total}, not 100",
                )


def _resources(
    ck: _Check,
    items: list[tuple[Any, _At]],
    students: Collection[str] | None,
    workloads: Collection[Mapping[str, str]] | None = None,
) -> tuple[dict[str, Any], ...]:
    seen: dict[tuple[str, str, str], _At] = {}
    for value, at in items:
        _resource(ck, value, at, students, workloads)
        metadata = value["metadata"]
        identity = (value["kind"], metadata.get("namespace", ""), metadata["name"])
        name_at = at.key(value, "metadata").key(metadata, "name")
        if identity in seen:
            ck.fail(
                name_at.line,
                f"{at.name} is a second {value['kind']} named "
                f"{metadata['name']!r} (the first is {seen[identity].name}, line "
                f"{seen[identity].line})",
            )
        seen[identity] = at
    return tuple(value for value, _ in items)


def validate_resources(
    resources: Any,
    path: str = "<resources>",
    *,
    where: str = "resources",
    line: int = 0,
    students: Collection[str] | None = None,
) -> tuple[dict[str, Any], ...]:
    """Check a list of Istio-shaped resources; returns them as a tuple.

    ``where`` and ``line`` name the list in messages; ``students``, when given,
    are the names that hosts and selectors may use.  Raises :class:`LevelError`.
    """
    ck = _Check(path)
    at = _At(where, line_of(resources, None, line))
    items = _list(ck, resources, at)
    return _resources(ck, [(item, at.item(items, i)) for i, item in enumerate(items)], students)


# --------------------------------------------------------------------------- the level


def _level(path: str, document: Any, line: int) -> Level:
    ck = _Check(path)
    if document is None:
        ck.fail(
            line or 1,
            f"the level is empty: a level is a YAML mapping that starts with apiVersion: {API_VERSION}",
        )
    top = _At("", line)
    if not isinstance(document, dict):
        ck.fail(line, f"a level must be a YAML mapping (key: value lines), got {_describe(document)}")
    doc = _mapping(ck, document, top, _TOP_KEYS, ("apiVersion", "kind", "metadata", "room", "students"))
    if doc["apiVersion"] != API_VERSION:
        ck.fail(
            top.key(doc, "apiVersion").line,
            f"apiVersion must be {API_VERSION}, got {_describe(doc['apiVersion'])}",
        )
    if doc["kind"] != KIND:
        ck.fail(top.key(doc, "kind").line, f"kind must be {KIND}, got {_describe(doc['kind'])}")

    meta_at = top.key(doc, "metadata")
    meta = _mapping(ck, doc["metadata"], meta_at, ("name", "title", "concepts"), ("name",))
    name = _slug(ck, meta["name"], meta_at.key(meta, "name"))
    title = _text(ck, _optional(meta, "title", name), meta_at.key(meta, "title"))
    concepts_at = meta_at.key(meta, "concepts")
    concepts_list = _list(ck, _optional(meta, "concepts", []), concepts_at)
    concepts = tuple(_text(ck, c, concepts_at.item(concepts_list, i)) for i, c in enumerate(concepts_list))
    lesson = _text(ck, _optional(doc, "lesson", ""), top.key(doc, "lesson"))
    seed = _int(ck, _optional(doc, "seed", DEFAULT_SEED), top.key(doc, "seed"), minimum=0)

    room_at = top.key(doc, "room")
    room = _mapping(ck, doc["room"], room_at, ("rows", "cols", "passing_time", "links"), ("rows", "cols"))
    rows = _int(ck, room["rows"], room_at.key(room, "rows"), minimum=1)
    cols = _int(ck, room["cols"], room_at.key(room, "cols"), minimum=1)
    passing_time = _duration(
        ck, _optional(room, "passing_time", DEFAULT_PASSING_TIME), room_at.key(room, "passing_time")
    )

    students_at = top.key(doc, "students")
    students, student_ats = _students(ck, doc["students"], students_at, rows, cols)
    names = [s.name for s in students]
    links = _links(ck, _optional(room, "links", NEIGHBOURS), room_at.key(room, "links"), students)
    _check_connected(ck, names, links, student_ats, "links" in room and isinstance(room["links"], list))

    teacher = None
    if "teacher" in doc and doc["teacher"] is not None:
        teacher = _teacher(ck, doc["teacher"], top.key(doc, "teacher"), rows, cols)
    hosts = _hosts(students)
    traffic = _traffic(ck, _optional(doc, "traffic", []), top.key(doc, "traffic"), names, hosts)
    aisles: tuple[AisleFault, ...] = ()
    if doc.get("aisles") is not None:
        aisles = _aisles(ck, doc["aisles"], top.key(doc, "aisles"), names, links)

    mesh_at = top.key(doc, "mesh")
    mesh = _mapping(ck, _optional(doc, "mesh", {}), mesh_at, ("profile", "resources", "editable"))
    profile = _choice(ck, _optional(mesh, "profile", DEFAULT_PROFILE), mesh_at.key(mesh, "profile"), PROFILES)
    resources_at = mesh_at.key(mesh, "resources")
    resources = _level_resources(ck, _optional(mesh, "resources", []), resources_at, students)
    editable_at = mesh_at.key(mesh, "editable")
    editable_list = _list(ck, _optional(mesh, "editable", []), editable_at)
    editable = tuple(
        _choice(ck, kind, editable_at.item(editable_list, i), tuple(RESOURCE_KINDS))
        for i, kind in enumerate(editable_list)
    )

    objectives = _objectives(ck, _optional(doc, "objectives", []), top.key(doc, "objectives"))
    solution = None
    if doc.get("solution") is not None:
        solution_at = top.key(doc, "solution")
        body = _mapping(ck, doc["solution"], solution_at, ("resources",), ("resources",))
        solution = _level_resources(ck, body["resources"], solution_at.key(body, "resources"), students)

    return Level(
        path=path,
        name=name,
        title=title,
        concepts=concepts,
        lesson=lesson,
        seed=seed,
        room=Room(rows=rows, cols=cols, passing_time=passing_time, links=links),
        students=students,
        teacher=teacher,
        traffic=traffic,
        profile=profile,
        resources=resources,
        editable=editable,
        objectives=objectives,
        solution=solution,
        aisles=aisles,
    )


def _hosts(students: Collection[Student]) -> list[str]:
    """What notes and rules may name: a student, or a service (the ``app`` label several share)."""
    return sorted({*(s.name for s in students), *(s.app for s in students)})


def _workloads(students: Collection[Student]) -> list[dict[str, str]]:
    """Every student's labels, as selectors see them: ``app`` is her name unless the level says."""
    return [{STUDENT_LABEL: s.name, **dict(s.labels)} for s in students]


def _level_resources(
    ck: _Check, value: Any, at: _At, students: Collection[Student]
) -> tuple[dict[str, Any], ...]:
    items = _list(ck, value, at)
    located = [(item, at.item(items, i)) for i, item in enumerate(items)]
    return _resources(ck, located, _hosts(students), _workloads(students))


def _students(
    ck: _Check, value: Any, at: _At, rows: int, cols: int
) -> tuple[tuple[Student, ...], dict[str, _At]]:
    items = _list(ck, value, at, nonempty=True)
    students: list[Student] = []
    ats: dict[str, _At] = {}
    seats: dict[tuple[int, int], str] = {}
    for index, item in enumerate(items):
        item_at = at.item(items, index)
        entry = _mapping(
            ck, item, item_at, ("name", "seat", "behaviour", "labels", "meshed"), ("name", "seat")
        )
        name_at = item_at.key(entry, "name")
        name = _slug(ck, entry["name"], name_at)
        if name in ats:
            ck.fail(
                name_at.line,
                f"{name_at.name}: there is already a student named {name!r} "
                f"({ats[name].name}, line {ats[name].line})",
            )
        seat_at = item_at.key(entry, "seat")
        seat = _seat(ck, entry["seat"], seat_at, rows, cols)
        if seat in seats:
            ck.fail(seat_at.line, f"{seat_at.name} {_show(list(seat))} is already {seats[seat]}'s seat")
        behaviour = Behaviour()
        if entry.get("behaviour") is not None:
            behaviour = _behaviour(ck, entry["behaviour"], item_at.key(entry, "behaviour"))
        labels: tuple[tuple[str, str], ...] = ()
        if entry.get("labels") is not None:
            labels_at = item_at.key(entry, "labels")
            raw = entry["labels"]
            if not isinstance(raw, dict):
                _type_error(ck, raw, labels_at, "a mapping of labels (app: dana, version: v2)")
            labels = tuple(
                (str(k), _slug(ck, v, labels_at.key(raw, k))) for k, v in sorted(raw.items())
            )
        meshed = _bool(ck, _optional(entry, "meshed", True), item_at.key(entry, "meshed"))
        students.append(Student(name=name, seat=seat, behaviour=behaviour, labels=labels, meshed=meshed))
        ats[name] = name_at
        seats[seat] = name
    return tuple(students), ats


def _behaviour(ck: _Check, value: Any, at: _At) -> Behaviour:
    keys = ("drops", "refuses", "absent", "absent_after", "back_after", "slow", "nosy", "fails")
    entry = _mapping(ck, value, at, keys)

    def when(key: str) -> float | None:
        value = entry.get(key)
        return None if value is None else _duration(ck, value, at.key(entry, key))

    behaviour = Behaviour(
        drops=_probability(ck, _optional(entry, "drops", 0.0), at.key(entry, "drops")),
        refuses=_bool(ck, _optional(entry, "refuses", False), at.key(entry, "refuses")),
        absent=_bool(ck, _optional(entry, "absent", False), at.key(entry, "absent")),
        absent_after=when("absent_after"),
        back_after=when("back_after"),
        slow=_duration(ck, _optional(entry, "slow", 0.0), at.key(entry, "slow")),
        nosy=_bool(ck, _optional(entry, "nosy", False), at.key(entry, "nosy")),
        fails=_probability(ck, _optional(entry, "fails", 0.0), at.key(entry, "fails")),
    )
    if behaviour.absent and behaviour.absent_after is not None:
        after_at = at.key(entry, "absent_after")
        ck.fail(
            after_at.line,
            f"{after_at.name}: a student who is absent (absent: true) never "
            "comes, so she cannot leave later; use one or the other",
        )
    return behaviour


def _links(ck: _Check, value: Any, at: _At, students: tuple[Student, ...]) -> tuple[tuple[str, str], ...]:
    names = {s.name for s in students}
    edges: set[tuple[str, str]] = set()
    if isinstance(value, str):
        if value not in (NEIGHBOURS, "neighbors"):
            ck.fail(
                at.line,
                f"{at.name} must be {NEIGHBOURS!r} or a list of [a, b] name pairs, got {_describe(value)}",
            )
        by_seat = {s.seat: s.name for s in students}
        for (row, col), name in by_seat.items():
            for other in ((row + 1, col), (row, col + 1)):
                if other in by_seat:
                    a, b = sorted((name, by_seat[other]))
                    edges.add((a, b))
        return tuple(sorted(edges))
    if not isinstance(value, list):
        _type_error(ck, value, at, f"{NEIGHBOURS!r} or a list of [a, b] name pairs")
    for index, pair in enumerate(value):
        pair_at = at.item(value, index)
        if not (isinstance(pair, list) and len(pair) == 2):
            _type_error(ck, pair, pair_at, "a pair of student names [a, b]")
        for name in pair:
            if not isinstance(name, str) or name not in names:
                ck.fail(
                    pair_at.line,
                    f"{pair_at.name} {_show(pair)} names {_describe(name)}, "
                    f"who is not a student of this level (students: "
                    f"{_choices(sorted(names))})",
                )
        if pair[0] == pair[1]:
            ck.fail(pair_at.line, f"{pair_at.name} {_show(pair)} links {pair[0]} to herself")
        a, b = sorted(pair)
        edges.add((a, b))
    return tuple(sorted(edges))


def _check_connected(
    ck: _Check, names: list[str], links: tuple[tuple[str, str], ...], ats: dict[str, _At], explicit: bool
) -> None:
    graph = nx.Graph()
    graph.add_nodes_from(names)
    graph.add_edges_from(links)
    components = list(nx.connected_components(graph))
    if len(components) <= 1:
        return
    order = {name: i for i, name in enumerate(names)}
    main = max(components, key=lambda c: (len(c), -min(order[n] for n in c)))
    lost = [n for n in names if n not in main]
    first = min(main, key=order.__getitem__)
    who = lost[0] if len(lost) == 1 else ", ".join(lost[:-1]) + " and " + lost[-1]
    how = (
        "no pair in room.links"
        if explicit
        else "no chain of desk neighbours (links: neighbours joins seats that share a side)"
    )
    ck.fail(
        ats[lost[0]].line,
        f"{who} cannot be reached: {how} connects {'them' if len(lost) > 1 else 'her'} to {first}",
    )


def _teacher(ck: _Check, value: Any, at: _At, rows: int, cols: int) -> Teacher:
    keys = ("patrol", "speed", "eavesdrops", "catches", "impersonates")
    entry = _mapping(ck, value, at, keys, ("patrol",))
    patrol_at = at.key(entry, "patrol")
    patrol = _list(ck, entry["patrol"], patrol_at, nonempty=True)
    return Teacher(
        patrol=tuple(_seat(ck, p, patrol_at.item(patrol, i), rows, cols) for i, p in enumerate(patrol)),
        speed=_number(ck, _optional(entry, "speed", 1.0), at.key(entry, "speed"), positive=True),
        eavesdrops=_bool(ck, _optional(entry, "eavesdrops", False), at.key(entry, "eavesdrops")),
        catches=_probability(ck, _optional(entry, "catches", 0.0), at.key(entry, "catches")),
        impersonates=_bool(ck, _optional(entry, "impersonates", False), at.key(entry, "impersonates")),
    )


def _traffic(ck: _Check, value: Any, at: _At, names: list[str], hosts: list[str]) -> tuple[Traffic, ...]:
    items = _list(ck, value, at)
    lines: list[Traffic] = []
    for index, item in enumerate(items):
        item_at = at.item(items, index)
        entry = _mapping(
            ck, item, item_at, ("from", "to", "count", "every", "text", "reply", "hold"), ("from", "to")
        )
        ends = []
        for key in ("from", "to"):
            end_at = item_at.key(entry, key)
            end = _text(ck, entry[key], end_at)
            if end not in (names if key == "from" else hosts):
                ck.fail(
                    end_at.line,
                    f"{end_at.name} {end!r} is not a student of this level "
                    f"(students: {_choices(sorted(names))})",
                )
            ends.append(end)
        if ends[0] == ends[1]:
            ck.fail(
                item_at.key(entry, "to").line,
                f"{item_at.name} sends notes from {ends[0]} to herself: 'to' must be someone else",
            )
        lines.append(
            Traffic(
                sender=ends[0],
                to=ends[1],
                count=_int(ck, _optional(entry, "count", 1), item_at.key(entry, "count"), minimum=1),
                every=_duration(ck, _optional(entry, "every", DEFAULT_EVERY), item_at.key(entry, "every")),
                text=_text(ck, _optional(entry, "text", ""), item_at.key(entry, "text")),
                reply=_bool(ck, _optional(entry, "reply", False), item_at.key(entry, "reply")),
                hold=_bool(ck, _optional(entry, "hold", False), item_at.key(entry, "hold")),
            )
        )
    return tuple(lines)


def _aisles(
    ck: _Check, value: Any, at: _At, names: list[str], links: tuple[tuple[str, str], ...]
) -> tuple[AisleFault, ...]:
    body = _mapping(ck, value, at, ("faults",))
    faults_at = at.key(body, "faults")
    items = _list(ck, _optional(body, "faults", []), faults_at)
    room_links = set(links)
    faults: list[AisleFault] = []
    for index, item in enumerate(items):
        item_at = faults_at.item(items, index)
        entry = _mapping(ck, item, item_at, ("kind", "links", "at", "until", "latency"), ("kind", "links"))
        kind = _choice(ck, entry["kind"], item_at.key(entry, "kind"), AISLE_FAULT_KINDS)
        links_at = item_at.key(entry, "links")
        pairs = _list(ck, entry["links"], links_at, nonempty=True)
        seen: dict[tuple[str, str], int] = {}
        for p_index, pair in enumerate(pairs):
            pair_at = links_at.item(pairs, p_index)
            if not (isinstance(pair, list) and len(pair) == 2):
                _type_error(ck, pair, pair_at, "a pair of student names [a, b]")
            for name in pair:
                if not isinstance(name, str) or name not in names:
                    ck.fail(
                        pair_at.line,
                        f"{pair_at.name} {_show(pair)} names {_describe(name)}, who is not a student "
                        f"of this level (students: {_choices(sorted(names))})",
                    )
            a, b = sorted(pair)
            if (a, b) not in room_links:
                ck.fail(
                    pair_at.line,
                    f"{pair_at.name} {_show(pair)} is not a link of the room: {pair[0]} and {pair[1]} "
                    "do not pass notes to each other directly (see room.links)",
                )
            if (a, b) in seen:
                ck.fail(
                    pair_at.line,
                    f"{pair_at.name} {_show(pair)} is the same link as {links_at.name}[{seen[(a, b)]}]",
                )
            seen[(a, b)] = p_index
        start = _duration(ck, _optional(entry, "at", 0.0), item_at.key(entry, "at"))
        until = None
        if entry.get("until") is not None:
            until_at = item_at.key(entry, "until")
            until = _duration(ck, entry["until"], until_at)
            if until <= start:
                ck.fail(
                    until_at.line,
                    f"{until_at.name} ({format_duration(until)}) must be later than "
                    f"at ({format_duration(start)}): the fault would never be on",
                )
        latency = None
        latency_at = item_at.key(entry, "latency")
        if kind == "latency":
            if entry.get("latency") is None:
                ck.fail(item_at.line, f"{item_at.name} is a latency fault: it needs 'latency' (like 200ms)")
            latency = _duration(ck, entry["latency"], latency_at)
        elif "latency" in entry:
            ck.fail(
                latency_at.line,
                f"{latency_at.name}: only a latency fault has a latency, this one is a {kind} fault",
            )
        faults.append(AisleFault(kind=kind, links=tuple(seen), at=start, until=until, latency=latency))
    return tuple(faults)


def _objectives(ck: _Check, value: Any, at: _At) -> tuple[Objective, ...]:
    items = _list(ck, value, at)
    objectives: list[Objective] = []
    for index, item in enumerate(items):
        item_at = at.item(items, index)
        entry = _mapping(ck, item, item_at, ("metric", "op", "value"), ("metric", "op", "value"))
        metric = _choice(ck, entry["metric"], item_at.key(entry, "metric"), METRICS)
        op = _choice(ck, entry["op"], item_at.key(entry, "op"), OPS)
        raw = entry["value"]
        target = float(raw) if isinstance(raw, bool) else _number(ck, raw, item_at.key(entry, "value"))
        objectives.append(Objective(metric=metric, op=op, value=target))
    return tuple(objectives)


# --------------------------------------------------------------------------- public entry points


def _display_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it, for shorter messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_levels_dir(levels_dir: Path | None = None) -> Path:
    """The folder of levels: the argument, else $CLASSROOM_LEVELS_DIR, else the repo's levels/."""
    if levels_dir is not None:
        return Path(levels_dir)
    env = os.environ.get(LEVELS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "levels"


def _level_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise LevelError(str(directory), 0, "no such levels folder")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _load_file(path: str) -> Level:
    text = _read_text(path)
    documents = _parse_documents(path, text)
    if not documents:
        raise LevelError(
            path,
            1,
            f"the level is empty: a level is a YAML mapping that starts with apiVersion: {API_VERSION}",
        )
    if len(documents) > 1:
        raise LevelError(
            path,
            documents[1][2],
            "a level file holds one YAML document, this is a second one (remove the '---')",
        )
    document, line, _ = documents[0]
    return _level(path, document, line)


def load_level(path_or_name: str, levels_dir: Path | None = None) -> Level:
    """A level from a .yaml file, or by its name (or file stem) in the levels folder."""
    text = str(path_or_name)
    candidate = Path(text)
    if candidate.suffix in (".yaml", ".yml") or "/" in text or os.sep in text or candidate.is_file():
        return _load_file(text)
    directory = default_levels_dir(levels_dir)
    files = _level_files(directory)
    for file in files:
        if file.stem == text:
            return _load_file(_display_path(file))
    available: list[str] = []
    for file in files:
        try:
            level = _load_file(_display_path(file))
        except LevelError:
            continue
        if level.name == text:
            return level
        available.append(level.name)
    raise LevelError(
        text, 0, f"no level named {text!r} in {directory}; available: {_choices(available) or 'none'}"
    )


def list_levels(levels_dir: Path | None = None) -> list[Level]:
    """Every level of the levels folder, sorted by file name; names must be unique."""
    directory = default_levels_dir(levels_dir)
    levels: list[Level] = []
    seen: dict[str, str] = {}
    for file in _level_files(directory):
        level = _load_file(_display_path(file))
        if level.name in seen:
            raise LevelError(
                level.path,
                0,
                f"metadata.name {level.name!r} is already the name "
                f"of {seen[level.name]}: level names must be unique",
            )
        seen[level.name] = level.path
        levels.append(level)
    return levels


def load_config(path: str, level: Level | None = None) -> tuple[dict[str, Any], ...]:
    """The player's mesh configuration (``--config FILE``).

    The file is a YAML list of resources, or YAML documents each holding one
    resource (or a list of them).  Without ``level`` the resources are only
    checked and returned.  With ``level``, hosts and selectors must name its
    students or services (``app`` labels), and ``mesh.editable`` holds:

    * resources of an editable kind replace the level's resources of that kind;
    * resources of any other kind stay the level's own (``mesh.resources``):
      the config may leave them out, or repeat one exactly as the level has it
      (so a level's whole solution works as a config); one that is missing from
      the level, or differs from it, is refused at its line;
    * a level that lists no editable kinds restricts nothing.

    Returns the configuration to run: the level's fixed resources, then the
    config's editable ones.
    """
    ck = _Check(path)
    documents = [(doc, line) for doc, line, _ in _parse_documents(path, _read_text(path)) if doc is not None]
    if not documents:
        ck.fail(
            1,
            "the configuration is empty: write a YAML list of resources "
            "(PeerAuthentication, VirtualService, ...), or [] for none",
        )
    items: list[tuple[Any, _At]] = []
    for doc, line in documents:
        if isinstance(doc, list):
            items += [
                (item, _At(f"resources[{len(items) + i}]", line_of(doc, i, line)))
                for i, item in enumerate(doc)
            ]
        elif isinstance(doc, dict):
            items.append((doc, _At(f"resources[{len(items)}]", line)))
        else:
            ck.fail(
                line,
                f"{path} must hold a YAML list of resources, or YAML documents that "
                f"are each a resource (a mapping), got {_describe(doc)}",
            )
    if level is None:
        return _resources(ck, items, None)
    resources = _resources(ck, items, _hosts(level.students), _workloads(level.students))
    if not level.editable:
        return resources
    return _within_editable(ck, level, items)


def _identity(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = resource["metadata"]
    return (resource["kind"], metadata.get("namespace", ""), metadata["name"])


def _within_editable(ck: _Check, level: Level, items: list[tuple[Any, _At]]) -> tuple[dict[str, Any], ...]:
    """The level's resources of kinds it does not let the player edit, then the config's editable ones."""
    fixed = {_identity(r): r for r in level.resources if r["kind"] not in level.editable}
    chosen: list[dict[str, Any]] = []
    for value, at in items:
        kind = value["kind"]
        if kind in level.editable:
            chosen.append(value)
            continue
        name = value["metadata"]["name"]
        own = fixed.get(_identity(value))
        if own is None or own != value:
            ck.fail(
                at.line,
                f"{at.name} {'changes' if own is not None else 'adds'} the {kind} {name!r}, but level "
                f"{level.name} lets you edit only {', '.join(level.editable)}: leave it out to keep the "
                f"level's own {kind} resources",
            )
    return (*fixed.values(), *chosen)
