"""The level builder: a checked level document becomes a frozen :class:`~classroom.level.model.Level`.

Theory of operation
-------------------
``_level`` walks the document top-down with the checker kit
(:mod:`classroom.level.checks`): the top-level keys (:data:`API_VERSION`,
``kind``, ``metadata``, ``room``, ``students`` ...), then each part in turn,
every value read where it sits so that a fault names its dotted place and its
line.  What passes becomes frozen dataclasses, with durations in seconds and
links resolved to sorted pairs:

* **students** (``_students``, ``_behaviour``): unique names and seats inside
  the room, labels, and what each one does wrong;
* **links** (``_links``): ``neighbours`` (seats that share a side) or a list
  of pairs; then ``_check_connected``: the seating graph must be connected,
  every student must be reachable;
* **teacher** (who may also forge: plaintext notes claiming to be a
  student), **traffic** (each note's operation too: a path, a method in
  capitals, headers in lowercase, what policies and matches look at),
  **aisles** (faults on links of the room) and **objectives** (a metric and
  an op of the registry in :mod:`classroom.objectives`, and a target);
* **hints** (short sentences, in order) and **speaker_notes** (text for
  the lecturer);
* **office** (``goes_home``: when the control plane dies, in room time after
  the class starts);
* **mesh**: the resources, checked against the schema and the level's names
  (:mod:`classroom.level.schema`), and the kinds the player may edit.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from classroom.durations import format_duration
from classroom.level.checks import (
    _At,
    _bool,
    _Check,
    _choice,
    _choices,
    _describe,
    _duration,
    _int,
    _list,
    _mapping,
    _number,
    _optional,
    _probability,
    _seat,
    _show,
    _slug,
    _text,
    _type_error,
)
from classroom.level.kinds import KIND_NAMES
from classroom.level.model import (
    AISLE_FAULT_KINDS,
    AisleFault,
    Behaviour,
    Level,
    Objective,
    Room,
    Student,
    Teacher,
    Traffic,
)
from classroom.level.schema import _hosts, _resources, _roll, refuse_foreign_kind
from classroom.level.seating import connected_parts, seating_graph
from classroom.mesh.control.profiles import PROFILES as MESH_PROFILES
from classroom.objectives import METRICS, OPS

API_VERSION = "classroom.mesh/v1"
KIND = "Level"
PROFILES = tuple(MESH_PROFILES)  # istio, linkerd, cilium, traefik, consul, appmesh, nginx
NEIGHBOURS = "neighbours"

DEFAULT_SEED = 1
DEFAULT_PASSING_TIME = 0.3
DEFAULT_PROFILE = "istio"
DEFAULT_EVERY = 1.0
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
    "hints",
    "speaker_notes",
    "office",
)
# The methods a note may carry: HTTP's (RFC 9110) and PATCH, written in capitals as HTTP writes them.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
DEFAULT_PATH = "/note"
DEFAULT_METHOD = "POST"
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")


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
    meta = _mapping(ck, doc["metadata"], meta_at, ("name", "title", "concepts", "chapter"), ("name",))
    name = _slug(ck, meta["name"], meta_at.key(meta, "name"))
    title = _text(ck, _optional(meta, "title", name), meta_at.key(meta, "title"))
    concepts_at = meta_at.key(meta, "concepts")
    concepts_list = _list(ck, _optional(meta, "concepts", []), concepts_at)
    concepts = tuple(_text(ck, c, concepts_at.item(concepts_list, i)) for i, c in enumerate(concepts_list))
    lesson = _text(ck, _optional(doc, "lesson", ""), top.key(doc, "lesson"))
    hints = _hints(ck, _optional(doc, "hints", []), top.key(doc, "hints"))
    speaker_notes = _text(ck, _optional(doc, "speaker_notes", ""), top.key(doc, "speaker_notes"))
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

    office_leaves = None
    if doc.get("office") is not None:
        office_at = top.key(doc, "office")
        office = _mapping(ck, doc["office"], office_at, ("goes_home",), ("goes_home",))
        office_leaves = _duration(ck, office["goes_home"], office_at.key(office, "goes_home"))

    mesh_at = top.key(doc, "mesh")
    mesh = _mapping(ck, _optional(doc, "mesh", {}), mesh_at, ("profile", "resources", "editable"))
    profile = _choice(ck, _optional(mesh, "profile", DEFAULT_PROFILE), mesh_at.key(mesh, "profile"), PROFILES)
    # A migration off a mesh is in that mesh's chapter while the class runs another.
    chapter = _choice(ck, _optional(meta, "chapter", profile), meta_at.key(meta, "chapter"), PROFILES)
    resources_at = mesh_at.key(mesh, "resources")
    resources = _level_resources(ck, _optional(mesh, "resources", []), resources_at, students, name, profile)
    editable_at = mesh_at.key(mesh, "editable")
    editable_list = _list(ck, _optional(mesh, "editable", []), editable_at)
    editable = tuple(
        _choice(ck, kind, editable_at.item(editable_list, i), KIND_NAMES)
        for i, kind in enumerate(editable_list)
    )
    for i, kind in enumerate(editable):
        refuse_foreign_kind(ck, kind, editable_at.item(editable_list, i), profile)

    objectives = _objectives(ck, _optional(doc, "objectives", []), top.key(doc, "objectives"))
    solution = None
    if doc.get("solution") is not None:
        solution_at = top.key(doc, "solution")
        body = _mapping(ck, doc["solution"], solution_at, ("resources",), ("resources",))
        solution = _level_resources(ck, body["resources"], solution_at.key(body, "resources"), students, name,
                                    profile)

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
        chapter=chapter if chapter != profile else "",
        resources=resources,
        editable=editable,
        objectives=objectives,
        solution=solution,
        aisles=aisles,
        hints=hints,
        speaker_notes=speaker_notes,
        office_goes_home=office_leaves,
    )


def _hints(ck: _Check, value: Any, at: _At) -> tuple[str, ...]:
    items = _list(ck, value, at)
    hints = []
    for index, item in enumerate(items):
        item_at = at.item(items, index)
        hint = _text(ck, item, item_at)
        if not hint.strip():
            ck.fail(item_at.line, f"{item_at.name} is empty: a hint is a short sentence for the player")
        hints.append(hint)
    return tuple(hints)


def _level_resources(
    ck: _Check, value: Any, at: _At, students: Collection[Student], namespace: str, profile: str | None = None
) -> tuple[dict[str, Any], ...]:
    items = _list(ck, value, at)
    located = [(item, at.item(items, i)) for i, item in enumerate(items)]
    return _resources(ck, located, _roll(students, namespace, profile))


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
    components = connected_parts(seating_graph(names, links))
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
    keys = ("patrol", "speed", "eavesdrops", "catches", "impersonates", "forges")
    entry = _mapping(ck, value, at, keys, ("patrol",))
    patrol_at = at.key(entry, "patrol")
    patrol = _list(ck, entry["patrol"], patrol_at, nonempty=True)
    return Teacher(
        patrol=tuple(_seat(ck, p, patrol_at.item(patrol, i), rows, cols) for i, p in enumerate(patrol)),
        speed=_number(ck, _optional(entry, "speed", 1.0), at.key(entry, "speed"), positive=True),
        eavesdrops=_bool(ck, _optional(entry, "eavesdrops", False), at.key(entry, "eavesdrops")),
        catches=_probability(ck, _optional(entry, "catches", 0.0), at.key(entry, "catches")),
        impersonates=_bool(ck, _optional(entry, "impersonates", False), at.key(entry, "impersonates")),
        forges=_bool(ck, _optional(entry, "forges", False), at.key(entry, "forges")),
    )


def _traffic(ck: _Check, value: Any, at: _At, names: list[str], hosts: list[str]) -> tuple[Traffic, ...]:
    items = _list(ck, value, at)
    lines: list[Traffic] = []
    for index, item in enumerate(items):
        item_at = at.item(items, index)
        entry = _mapping(
            ck,
            item,
            item_at,
            ("from", "to", "count", "every", "text", "reply", "hold", "path", "method", "headers"),
            ("from", "to"),
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
                path=_note_path(ck, _optional(entry, "path", DEFAULT_PATH), item_at.key(entry, "path")),
                method=_note_method(ck, _optional(entry, "method", DEFAULT_METHOD), item_at.key(entry, "method")),
                headers=_note_headers(ck, _optional(entry, "headers", {}), item_at.key(entry, "headers")),
            )
        )
    return tuple(lines)


def _note_path(ck: _Check, value: Any, at: _At) -> str:
    path = _text(ck, value, at)
    if not path.startswith("/"):
        ck.fail(at.line, f"{at.name} {path!r} must start with '/', as an HTTP path does (like /note or /homework)")
    if "?" in path or "#" in path:
        ck.fail(at.line, f"{at.name} {path!r}: a note's path is only a path: notes have no query string or fragment")
    if any(c.isspace() or ord(c) < 32 for c in path):
        ck.fail(at.line, f"{at.name} {path!r} has a space or a control character: write it as a URL path does")
    return path


def _note_method(ck: _Check, value: Any, at: _At) -> str:
    method = _text(ck, value, at)
    if method.upper() in METHODS and method != method.upper():
        ck.fail(at.line, f"{at.name} {method!r}: write the method in capitals, as HTTP does: {method.upper()!r}")
    return _choice(ck, method, at, METHODS)


def _note_headers(ck: _Check, value: Any, at: _At) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping of header names to text (x-class: maths)")
    headers = []
    for name, text in value.items():
        name_at = at.key(value, name)
        _text(ck, name, name_at)
        if not _HEADER_NAME.fullmatch(name.lower()):
            ck.fail(name_at.line, f"{name_at.name}: {name!r} is not a header name (letters, digits and '-', "
                    "like x-class)")
        if name != name.lower():
            ck.fail(name_at.line, f"{name_at.name}: header names are written in lowercase, as Istio's matches "
                    f"write them: {name.lower()!r}")
        headers.append((name, _text(ck, text, name_at)))
    return tuple(sorted(headers))


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
        entry = _mapping(ck, item, item_at, ("kind", "links", "at", "until", "latency", "probability"),
                         ("kind", "links"))
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
        probability = None
        if "probability" in entry:
            probability_at = item_at.key(entry, "probability")
            if kind not in ("reset", "partition"):
                ck.fail(probability_at.line, f"{probability_at.name}: only a reset or a partition cuts "
                        f"connections by chance, this one is a {kind} fault")
            probability = _probability(ck, entry["probability"], probability_at)
        faults.append(AisleFault(kind=kind, links=tuple(seen), at=start, until=until, latency=latency,
                                 probability=probability))
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
