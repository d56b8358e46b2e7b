"""The class rules a level lets the player change, as typed fields and as YAML text.  No pygame.

Theory of operation
-------------------
A :class:`ConfigEditor` holds the current resources of a round (plain dicts in
Istio's shapes, as a level file writes them) and the level they belong to.

* **Fields.**  :meth:`ConfigEditor.fields` walks the resources of the kinds in
  ``level.editable`` and lists one :class:`Field` per setting a player tunes:
  a PeerAuthentication's mTLS mode; a VirtualService's timeout, retries and
  route weights; a DestinationRule's outlier detection and retry budget; an
  AuthorizationPolicy's selector, action and rule principals/hosts; an
  IdentityPolicy's card lifetime, renewal and CA rotation.  A field is a view
  of one path in one resource: reading it changes nothing, and everything a
  field does not show (subsets, metadata, other keys) is kept as it is.  Where
  the level has no resource yet for an editable kind (level 4 adds a
  DestinationRule), a *virtual* group offers its fields and the resource is
  created the first time one of them is set.
* **Setting.**  :meth:`ConfigEditor.set` converts the value to the field's
  type, writes it into a copy of the resources (``None`` removes the key and
  any mapping it leaves empty), and checks the copy with the level's own
  checker, :func:`classroom.level.validate_resources`.  Only a valid copy is
  adopted; otherwise :class:`ConfigError` says why and the last valid
  resources stay in force.  Two weighted routes stay at 100 together: setting
  one sets the other to the rest.
* **YAML.**  :meth:`ConfigEditor.yaml_text` writes the editable resources as
  multi-document YAML (kinds and apiVersions as the level file has them);
  :meth:`ConfigEditor.parse_yaml` reads such text back with the level
  loader (:func:`classroom.level.load_config`, so errors carry the line of the
  text) and checks names against the level's students and services.  Resources
  of kinds the level does not let the player edit are not in the text and
  cannot be added to it.  The text's resources then replace the editable ones
  with :func:`classroom.level.merge_editable`, the merge ``--config`` uses: in
  place, so every resource keeps its position; new ones come at the end.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from classroom.durations import format_duration, parse_duration
from classroom.level import (
    ACTIONS,
    MTLS_MODES,
    RESOURCE_KINDS,
    STUDENT_LABEL,
    Level,
    LevelError,
    line_of,
    load_config,
    merge_editable,
    validate_resources,
)

Resource = dict[str, Any]
PathKey = tuple[str | int, ...]

# Field kinds, and how a widget shows each.
CHOICE = "choice"  # one of ``choices`` (cycle with left/right)
TOGGLE = "toggle"  # on/off: a part of the resource is there or not
INT = "int"  # a whole number between minimum and maximum
NUMBER = "number"  # a number between minimum and maximum
DURATION = "duration"  # text like 400ms, 2s, 1m
TEXT = "text"  # free text
NAMES = "names"  # a list of names, written comma-separated
KINDS = (CHOICE, TOGGLE, INT, NUMBER, DURATION, TEXT, NAMES)

DEFAULT_OUTLIER: Resource = {
    "consecutive5xxErrors": 5,
    "interval": "10s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 10,
}
DEFAULT_BUDGET: Resource = {"percent": {"value": 20}, "minRetryConcurrency": 3}
MAX_ATTEMPTS = 10
_WHERE = re.compile(r"^resources\[\d+\][\w.\[\]]*")  # where the level checker says a fault is


class ConfigError(Exception):
    """An edit that was not adopted: ``message`` says why.

    ``line`` is the 1-based line of the YAML text at fault (0 when no line
    applies, as for a form field); ``key`` the :attr:`Field.key` of the field at
    fault, when the edit came from the form.
    """

    def __init__(self, line: int, message: str, key: str | None = None) -> None:
        self.line = line
        self.message = message
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class Field:
    """One setting of one resource, as the form shows it.

    ``value`` is ``None`` when the resource does not set it (then the mesh's
    default applies; only an ``optional`` field may be set back to ``None``).
    Durations are text as written (``"1200ms"``), names a tuple of text.
    """

    key: str  # stable across edits: "<Kind>/<name>/<path>", e.g. "VirtualService/dana/spec.http[0].timeout"
    group: str  # the resource, as a heading: "VirtualService dana (notes to dana)"
    label: str  # the setting: "retries: attempts"
    kind: str  # one of KINDS
    value: Any
    choices: tuple[str, ...] = ()
    minimum: float = 0.0
    maximum: float = 0.0
    step: float = 1.0
    optional: bool = False
    help: str = ""

    def display(self) -> str:
        """The value as text for the form; "(not set)" for none."""
        if self.value is None:
            return "(not set)"
        if self.kind == TOGGLE:
            return "on" if self.value else "off"
        if self.kind == NAMES:
            return ", ".join(self.value)
        if isinstance(self.value, float):
            return _number_text(self.value)
        return str(self.value)


# --------------------------------------------------------------------------- plain data and paths


def plain(value: Any) -> Any:
    """``value`` as plain dicts, lists and scalars (the loader's line-tracking types dropped)."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _get(node: Any, path: PathKey) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
        elif not isinstance(node, dict):
            return None
        node = node[step] if isinstance(step, int) else node.get(step)
    return node


def _put(node: Any, path: PathKey, value: Any, floor: int) -> None:
    """Set ``node[path]`` creating what is missing; ``None`` deletes it and prunes empty parents.

    The node ``floor`` steps down the path, and those above it, are never pruned.
    """
    parents: list[Any] = []
    for index, step in enumerate(path[:-1]):
        parents.append(node)
        following = path[index + 1]
        blank: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(copy.deepcopy(blank))
            node = node[step]
        else:
            if not isinstance(node.get(step), list | dict):
                node[step] = blank
            node = node[step]
    last = path[-1]
    if value is not None:
        if isinstance(last, int):
            while len(node) <= last:
                node.append(None)
        node[last] = value
        return
    if isinstance(last, int):
        if last < len(node):
            del node[last]
    else:
        node.pop(last, None)
    parents.append(node)
    for depth in range(len(path) - 1, floor, -1):
        if parents[depth]:
            break
        del parents[depth - 1][path[depth - 1]]


def _path_text(path: PathKey) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --------------------------------------------------------------------------- YAML


class _Dumper(yaml.SafeDumper):
    """Block style, but short lists of names inline (``hosts: [dana]``) as the level files write them."""

    def represent_list(self, data: Any) -> yaml.Node:  # type: ignore[override]
        flow = all(isinstance(item, str | int | float) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)


def to_yaml(resources: Iterable[Resource], header: str = "") -> str:
    """Resources as multi-document YAML, keys in their own order; ``header`` as comment lines on top."""
    body = yaml.dump_all(
        [plain(r) for r in resources],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
        width=100,
    )
    return _comment(header) + body


# --------------------------------------------------------------------------- the editor


@dataclass
class _Slot:
    """A field and where it writes: resource ``index`` (None: not created yet), path, prune floor."""

    field: Field
    index: int | None
    path: PathKey
    floor: int
    template: Resource | None = None  # the resource to create when index is None
    write: Callable[[list[Resource], int, Any], None] | None = None  # instead of a plain put


class ConfigEditor:
    """The player's view of a level's editable resources; see the module docstring."""

    def __init__(self, level: Level, resources: Sequence[Resource] | None = None) -> None:
        self.level = level
        start = level.resources if resources is None else resources
        self._resources: list[Resource] = plain(list(start))
        names = [s.name for s in level.students]
        self.hosts: tuple[str, ...] = tuple(sorted({*names, *(s.app for s in level.students)}))
        self._born = {(r.get("kind"), _name(r)) for r in self._resources}

    # ----------------------------------------------------------------- reading

    @property
    def editable(self) -> tuple[str, ...]:
        return self.level.editable

    def resources(self) -> tuple[Resource, ...]:
        """Every resource of the round as it stands (a copy: plain dicts, safe to keep)."""
        return tuple(copy.deepcopy(self._resources))

    def fields(self) -> list[Field]:
        """The form, in order: each editable resource's fields, grouped by resource."""
        return [slot.field for slot in self._slots()]

    def field(self, key: str) -> Field:
        for slot in self._slots():
            if slot.field.key == key:
                return slot.field
        raise KeyError(key)

    def yaml_text(self) -> str:
        """The editable resources as the YAML text the player may edit."""
        mine = [r for r in self._resources if r.get("kind") in self.editable]
        header = f"editable: {', '.join(self.editable)}"
        return to_yaml(mine, header) if mine else f"{_comment(header)}[]\n"

    # ----------------------------------------------------------------- writing

    def set(self, key: str, value: Any) -> None:
        """Set one field; raises :class:`ConfigError` (with ``key``) and changes nothing when invalid."""
        slot = next((s for s in self._slots() if s.field.key == key), None)
        if slot is None:
            raise ConfigError(0, f"no setting {key!r} in this level's form", key)
        converted = _convert(slot.field, value)
        candidate = copy.deepcopy(self._resources)
        index = slot.index
        if index is None:
            if converted is None or converted is False:
                return
            candidate.append(copy.deepcopy(slot.template or {}))
            index = len(candidate) - 1
        if slot.write is not None:
            slot.write(candidate, index, converted)
        else:
            _put(candidate[index], slot.path, converted, slot.floor)
        resource = candidate[index]
        if (resource.get("kind"), _name(resource)) not in self._born and _is_bare(resource):
            del candidate[index]  # a resource the form created, with nothing left in it
        try:
            validate_resources(candidate, "form", students=self.hosts)
        except LevelError as exc:  # "resources[1].spec.http[0].retries.retryOn: ..." -> "retry on: ..."
            raise ConfigError(0, _WHERE.sub(slot.field.label, exc.message, count=1), key) from None
        self._resources = candidate

    def parse_yaml(self, text: str) -> tuple[Resource, ...]:
        """Every resource of the round with ``text`` as its editable part; :class:`ConfigError` if invalid.

        Changes nothing: :meth:`apply_yaml` adopts the result.
        """
        mine = _load_text(text)
        for resource in mine:
            kind = resource.get("kind")
            if kind not in self.editable:
                raise ConfigError(
                    line_of(resource, "kind", line_of(resource)),
                    f"a {kind} cannot be changed in this level: you may change "
                    f"{' and '.join(self.editable) or 'nothing'}",
                )
        try:  # the loader checked the shapes; this checks the names against the level's class
            validate_resources(mine, "text", students=self.hosts)
        except LevelError as exc:
            raise ConfigError(exc.line, exc.message) from None
        if not self.editable:  # nothing is the player's: the text was empty, everything stays
            return self.resources()
        return tuple(plain(list(merge_editable(self.level, self._resources, mine, "text"))))

    def apply_yaml(self, text: str) -> None:
        """Adopt the resources ``text`` describes; on :class:`ConfigError` the last valid ones stay."""
        self._resources = list(self.parse_yaml(text))

    # ----------------------------------------------------------------- the form's fields

    def _slots(self) -> list[_Slot]:
        slots: list[_Slot] = []
        builders: dict[str, Callable[[int | None, Resource], list[_Slot]]] = {
            "PeerAuthentication": self._peer_authentication,
            "VirtualService": self._virtual_service,
            "DestinationRule": self._destination_rule,
            "AuthorizationPolicy": self._authorization_policy,
            "IdentityPolicy": self._identity_policy,
        }
        for kind in RESOURCE_KINDS:
            if kind not in self.editable:
                continue
            existing = [(i, r) for i, r in enumerate(self._resources) if r.get("kind") == kind]
            for index, resource in existing:
                slots += builders[kind](index, resource)
            for template in self._missing(kind, [r for _, r in existing]):
                slots += builders[kind](None, template)
        return slots

    def _missing(self, kind: str, existing: list[Resource]) -> list[Resource]:
        """Resources of ``kind`` the level lacks but the form can create (first set creates them)."""
        if kind == "PeerAuthentication" and not existing:
            return [_new(kind, "default", {})]
        if kind == "IdentityPolicy" and not existing:
            return [_new(kind, "id-cards", {})]
        if kind != "DestinationRule":
            return []
        covered = {(r.get("spec") or {}).get("host") for r in existing}
        taken = {_name(r) for r in existing}
        hosts = dict.fromkeys(t.to for t in self.level.traffic)
        return [
            _new(kind, host if host not in taken else f"{host}-rules", {"host": host})
            for host in hosts
            if host not in covered
        ]

    def _peer_authentication(self, index: int | None, resource: Resource) -> list[_Slot]:
        spec = resource.get("spec") or {}
        app = ((spec.get("selector") or {}).get("matchLabels") or {}).get(STUDENT_LABEL)
        who = f"for {app}" if app else "whole class"
        group = f"PeerAuthentication {_name(resource)} ({who})"
        mode = _get(resource, ("spec", "mtls", "mode"))
        return [
            self._slot(
                index, resource, ("spec", "mtls", "mode"), group, "mTLS mode", CHOICE,
                choices=tuple(m for m in MTLS_MODES if m != "UNSET" or mode == "UNSET"),
                optional=mode is None,
                help="STRICT: mTLS only; PERMISSIVE: mTLS or plaintext; DISABLE: plaintext",
            )
        ]

    def _virtual_service(self, index: int | None, resource: Resource) -> list[_Slot]:
        spec = resource.get("spec") or {}
        group = f"VirtualService {_name(resource)} (notes to {', '.join(spec.get('hosts') or [])})"
        rules = spec.get("http") or []
        slots: list[_Slot] = []
        for h, rule in enumerate(rules):
            at: PathKey = ("spec", "http", h)
            prefix = f"rule {h + 1}: " if len(rules) > 1 else ""
            floor = len(at)
            slots += [
                self._slot(index, resource, (*at, "timeout"), group, f"{prefix}timeout", DURATION,
                           optional=True, floor=floor, help="how long a note may take, retries included"),
                self._slot(index, resource, (*at, "retries", "attempts"), group, f"{prefix}retry attempts",
                           INT, minimum=0, maximum=MAX_ATTEMPTS, optional=True, floor=floor,
                           help=f"not set: the {self.level.profile} default"),
                self._slot(index, resource, (*at, "retries", "perTryTimeout"), group,
                           f"{prefix}per-try timeout", DURATION, optional=True, floor=floor,
                           help="give up on one try after this long"),
                self._slot(index, resource, (*at, "retries", "retryOn"), group, f"{prefix}retry on",
                           TEXT, optional=True, floor=floor,
                           help="comma-separated: 5xx, reset, connect-failure, gateway-error ..."),
            ]
            routes = rule.get("route") or []
            if len(routes) > 1:
                for j, route in enumerate(routes):
                    destination = route.get("destination") or {}
                    parts = (destination.get("host"), destination.get("subset"))
                    target = " ".join(str(p) for p in parts if p)
                    slot = self._slot(index, resource, (*at, "route", j, "weight"), group,
                                      f"{prefix}weight: {target} %", INT, minimum=0, maximum=100, step=5,
                                      floor=floor, help="the weights of a rule's routes add up to 100")
                    if len(routes) == 2:
                        slot.write = _pair_weight(at, j)
                    slots.append(slot)
        return slots

    def _destination_rule(self, index: int | None, resource: Resource) -> list[_Slot]:
        spec = resource.get("spec") or {}
        group = f"DestinationRule {_name(resource)} (notes to {spec.get('host')})"
        policy: PathKey = ("spec", "trafficPolicy")
        outlier = (*policy, "outlierDetection")
        budget = (*policy, "retryBudget")
        slots = [self._toggle(index, resource, outlier, group, "outlier detection", DEFAULT_OUTLIER,
                              "eject a classmate who fails notes again and again")]
        if _get(resource, outlier) is not None:
            slots += [
                self._slot(index, resource, (*outlier, "consecutive5xxErrors"), group,
                           "eject after (fails)", INT, minimum=0, maximum=20, optional=True, floor=3,
                           help="failures in a row that get a classmate ejected"),
                self._slot(index, resource, (*outlier, "interval"), group, "check every",
                           DURATION, optional=True, floor=3),
                self._slot(index, resource, (*outlier, "baseEjectionTime"), group, "eject for",
                           DURATION, optional=True, floor=3),
                self._slot(index, resource, (*outlier, "maxEjectionPercent"), group,
                           "max ejected %", INT, minimum=0, maximum=100, step=5,
                           optional=True, floor=3, help="the share of the class that may be ejected at once"),
            ]
        slots.append(self._toggle(index, resource, budget, group, "retry budget", DEFAULT_BUDGET,
                                  "retries may add at most this share of notes: no retry storms"))
        if _get(resource, budget) is not None:
            wrapped = isinstance(_get(resource, (*budget, "percent")), dict)
            percent = (*budget, "percent", "value") if wrapped else (*budget, "percent")
            slots += [
                self._slot(index, resource, percent, group, "budget %", NUMBER,
                           minimum=0, maximum=100, step=5, optional=True, floor=3),
                self._slot(index, resource, (*budget, "minRetryConcurrency"), group,
                           "min retries", INT, minimum=0, maximum=MAX_ATTEMPTS, optional=True,
                           floor=3, help="retries always allowed at once, whatever the budget"),
            ]
        return slots

    def _authorization_policy(self, index: int | None, resource: Resource) -> list[_Slot]:
        group = f"AuthorizationPolicy {_name(resource)}"
        principal = f"like classroom.local/ns/{self.level.name}/sa/gus"
        slots = [
            self._slot(index, resource, ("spec", "selector", "matchLabels", STUDENT_LABEL), group,
                       "applies at", CHOICE, choices=self.hosts, optional=True, floor=1,
                       help="the student whose proxy enforces it; not set: every student"),
            self._slot(index, resource, ("spec", "action"), group, "action", CHOICE, choices=ACTIONS,
                       optional=True, help="not set: ALLOW"),
        ]
        for r, _rule in enumerate(_get(resource, ("spec", "rules")) or []):
            at: PathKey = ("spec", "rules", r)
            slots += [
                self._slot(index, resource, (*at, "from", 0, "source", "principals"), group,
                           f"rule {r + 1}: from", NAMES, optional=True, floor=len(at), help=principal),
                self._slot(index, resource, (*at, "to", 0, "operation", "hosts"), group,
                           f"rule {r + 1}: notes to", NAMES, optional=True, floor=len(at),
                           help="students or services the notes are for"),
            ]
        return slots

    def _identity_policy(self, index: int | None, resource: Resource) -> list[_Slot]:
        group = f"IdentityPolicy {_name(resource)} (ID cards)"
        rotation: PathKey = ("spec", "caRotation")
        return [
            self._slot(index, resource, ("spec", "certLifetime"), group, "card lifetime", DURATION,
                       optional=True),
            self._slot(index, resource, ("spec", "renewAt"), group, "renew at (of life)", NUMBER,
                       minimum=0.05, maximum=2.0, step=0.05, optional=True,
                       help="0.5: ask for a new card half-way through its life; 1 or more: too late"),
            self._slot(index, resource, (*rotation, "at"), group, "new class CA at", DURATION,
                       optional=True),
            self._slot(index, resource, (*rotation, "trustOldRootUntil"), group, "trust old CA until",
                       DURATION, optional=True),
        ]

    def _slot(
        self,
        index: int | None,
        resource: Resource,
        path: PathKey,
        group: str,
        label: str,
        kind: str,
        *,
        choices: tuple[str, ...] = (),
        minimum: float = 0.0,
        maximum: float = 0.0,
        step: float = 1.0,
        optional: bool = False,
        floor: int = 1,
        help: str = "",
    ) -> _Slot:
        value = _get(resource, path)
        if kind == NAMES and value is not None:
            value = tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
        field = Field(
            key=f"{resource.get('kind')}/{_name(resource)}/{_path_text(path)}",
            group=group,
            label=label,
            kind=kind,
            value=value,
            choices=choices,
            minimum=minimum,
            maximum=maximum,
            step=step,
            optional=optional or value is None,
            help=help,
        )
        return _Slot(field, index, path, floor, resource if index is None else None)

    def _toggle(
        self, index: int | None, resource: Resource, path: PathKey, group: str, label: str, default: Resource,
        help: str,
    ) -> _Slot:
        slot = self._slot(index, resource, path, group, label, TOGGLE, help=help)
        present = _get(resource, path)
        slot.field = replace(slot.field, value=present is not None, optional=False)

        def write(candidate: list[Resource], at: int, on: Any) -> None:
            if on and present is None:
                _put(candidate[at], path, copy.deepcopy(default), 1)
            elif not on:
                _put(candidate[at], path, None, 1)

        slot.write = write
        return slot


# --------------------------------------------------------------------------- helpers


def _name(resource: Resource) -> str:
    return str((resource.get("metadata") or {}).get("name", ""))


def _comment(text: str) -> str:
    return "".join(f"# {line}\n" for line in text.splitlines())


def _new(kind: str, name: str, spec: Resource) -> Resource:
    return {"apiVersion": RESOURCE_KINDS[kind][0], "kind": kind, "metadata": {"name": name}, "spec": spec}


def _is_bare(resource: Resource) -> bool:
    """A resource that says nothing: no spec, or a DestinationRule's spec with only its host."""
    spec = resource.get("spec") or {}
    return not spec or (resource.get("kind") == "DestinationRule" and set(spec) == {"host"})


def _pair_weight(rule: PathKey, j: int) -> Callable[[list[Resource], int, Any], None]:
    """Set route ``j``'s weight and the other route's to the rest of 100."""

    def write(candidate: list[Resource], at: int, weight: Any) -> None:
        _put(candidate[at], (*rule, "route", j, "weight"), weight, len(rule))
        _put(candidate[at], (*rule, "route", 1 - j, "weight"), 100 - int(weight), len(rule))

    return write


def _convert(field: Field, value: Any) -> Any:
    """``value`` as the field's type, or :class:`ConfigError` naming the field."""
    where = f"{field.label}"
    if isinstance(value, str) and field.kind not in (TEXT,):
        value = value.strip()
    if value is None or value == "" or value == ():
        if field.kind == TOGGLE:
            return False
        if not field.optional:
            raise ConfigError(0, f"{where} needs a value", field.key)
        return None
    if field.kind == TOGGLE:
        if not isinstance(value, bool):
            raise ConfigError(0, f"{where} is on or off", field.key)
        return value
    if field.kind == CHOICE:
        if value not in field.choices:
            raise ConfigError(0, f"{where} must be one of {', '.join(field.choices)}", field.key)
        return value
    if field.kind in (INT, NUMBER):
        return _convert_number(field, value)
    if field.kind == DURATION:
        try:
            parse_duration(value)
        except ValueError as exc:
            raise ConfigError(0, f"{where}: {exc}", field.key) from None
        return value if isinstance(value, str) else format_duration(float(value))
    if field.kind == NAMES:
        parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
        names = [p.strip() for p in parts if p.strip()]
        if not names:
            return _convert(field, None)
        return names
    return str(value)


def _convert_number(field: Field, value: Any) -> int | float:
    wanted = "a whole number" if field.kind == INT else "a number"
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number != number:
        raise ConfigError(0, f"{field.label} must be {wanted}, got {value!r}", field.key)
    if field.kind == INT and not number.is_integer():
        raise ConfigError(0, f"{field.label} must be a whole number, got {_number_text(number)}", field.key)
    if not field.minimum <= number <= field.maximum:
        raise ConfigError(
            0,
            f"{field.label} must be between {_number_text(field.minimum)} and "
            f"{_number_text(field.maximum)}, got {_number_text(number)}",
            field.key,
        )
    return int(number) if number.is_integer() else round(number, 6)


def _load_text(text: str) -> list[Resource]:
    """The resources in the player's YAML text, with their lines; :class:`ConfigError` when not readable."""
    if not "".join(line.split("#", 1)[0] for line in text.splitlines()).strip():
        return []  # only comments: no editable resources
    # The level loader reads files; a private temporary one keeps its line numbers and messages.
    fd, path = tempfile.mkstemp(prefix="classroom-config-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        return list(load_config(path))
    except LevelError as exc:
        raise ConfigError(exc.line, exc.message) from None
    finally:
        os.unlink(path)

