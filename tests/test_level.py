"""The level file: loading, and one clear FILE:LINE error for each kind of bad input.

Each bad level is a small YAML text; the line the error must point at is
marked in the text with ``# <-`` (so the tests say where, not just how many).
"""

from __future__ import annotations

import json
import os
import pickle
import textwrap
from pathlib import Path

import pytest

import classroom
from classroom.durations import format_duration, parse_duration
from classroom.level import (
    METRICS,
    Level,
    LevelError,
    Teacher,
    Traffic,
    default_levels_dir,
    line_of,
    list_levels,
    load_level,
    validate_resources,
)

REPO_LEVELS = Path(__file__).resolve().parent.parent / "levels"

# Three students in a row of a 2 x 3 room.
BASE = """\
apiVersion: classroom.mesh/v1
kind: Level
metadata:
  name: tiny
room:
  rows: 2
  cols: 3
students:
  - name: alice
    seat: [0, 0]
  - name: ben
    seat: [0, 1]
  - name: cara
    seat: [0, 2]
"""


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def marked_line(text: str) -> int:
    lines = [i for i, line in enumerate(textwrap.dedent(text).splitlines(), 1) if "# <-" in line]
    assert len(lines) == 1, "mark exactly one line with # <-"
    return lines[0]


def level_error(tmp_path: Path, text: str) -> LevelError:
    path = write(tmp_path, text)
    with pytest.raises(LevelError) as info:
        load_level(path)
    err = info.value
    assert err.path == path
    return err


def assert_error(tmp_path: Path, text: str, phrase: str, line: int | None = None) -> LevelError:
    err = level_error(tmp_path, text)
    expected = marked_line(text) if line is None else line
    assert str(err).startswith(f"{err.path}:{expected}: "), str(err)
    assert err.line == expected
    assert phrase in err.message, str(err)
    assert str(err) == f"{err.path}:{err.line}: {err.message}"
    return err


def resource(kind: str, spec: str, api: str = "security.istio.io/v1", name: str = "r") -> str:
    """A level whose mesh has one resource; ``spec`` is YAML indented by 8 spaces."""
    return (
        BASE
        + f"""\
mesh:
  resources:
    - apiVersion: {api}
      kind: {kind}
      metadata: {{name: {name}}}
      spec:
{textwrap.indent(textwrap.dedent(spec).rstrip() + chr(10), " " * 8)}"""
    )


def peer_auth(mode: str = "STRICT") -> str:
    return resource("PeerAuthentication", f"mtls: {{mode: {mode}}}")


# --------------------------------------------------------------------------- good levels


def test_shipped_levels_load() -> None:
    levels = list_levels(REPO_LEVELS)
    assert [lv.name for lv in levels][:2] == ["first-note", "nosy-neighbours"]
    assert len({lv.name for lv in levels}) == len(levels)
    for level in levels:
        assert level.lesson.strip() and level.title and level.objectives
        assert level.solution is not None and level.editable


def test_first_note_shape() -> None:
    import networkx as nx

    level = load_level(str(REPO_LEVELS / "01-first-note.yaml"))
    assert level.name == "first-note" and level.title == "The first note"
    assert (level.room.rows, level.room.cols, level.room.passing_time) == (3, 4, 0.3)
    assert [s.name for s in level.students] == ["alice", "ben", "cara", "dev", "eli", "gus", "fay"]
    graph = level.graph()
    assert nx.is_connected(graph)
    assert nx.shortest_path_length(graph, "alice", "fay") >= 3  # two or more hands between
    lunch, ruler = level.traffic
    assert (lunch.sender, lunch.to, lunch.count, lunch.every) == ("alice", "fay", 10, 0.4)
    assert lunch.text == "Lunch at the fountain?"
    assert (ruler.sender, ruler.to, ruler.count, ruler.every) == ("gus", "ben", 5, 0.6)
    assert [(o.metric, o.op, o.value) for o in level.objectives] == [
        ("delivered_ratio", ">=", 1.0),
        ("duplicates", "==", 0.0),
        ("ledger_ok", "==", 1.0),
    ]
    assert level.solution == level.resources
    assert all(a < b for a, b in level.room.links)


def test_nosy_neighbours_shape() -> None:
    level = load_level("nosy-neighbours", REPO_LEVELS)
    graph = level.graph()
    assert len(level.students) >= 6
    assert "intermediaries_read" in {o.metric for o in level.objectives}
    import networkx as nx

    for line in level.traffic:
        path = nx.shortest_path(graph, line.sender, line.to)
        nosy = [n for n in path[1:-1] if level.student(n).behaviour.nosy]
        assert len(nosy) >= 2, path
        assert not level.student(line.to).behaviour.nosy


def test_defaults(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, BASE))
    assert level.seed == 1 and level.profile == "istio" and level.lesson == ""
    assert level.concepts == () and level.resources == () and level.editable == ()
    assert level.title == "tiny" and level.teacher is None and level.solution is None
    assert level.room.passing_time == 0.3
    assert level.room.links == (("alice", "ben"), ("ben", "cara"))
    assert level.student("ben").behaviour.drops == 0.0
    with pytest.raises(KeyError):
        level.student("zed")


def test_the_second_round_keys_default_to_nothing(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, BASE + TRAFFIC))
    assert level.hints == () and level.speaker_notes == ""
    note = level.traffic[0]
    assert (note.path, note.method, note.headers) == ("/note", "POST", ())


TRAFFIC = "traffic:\n  - {from: alice, to: cara}\n"


def test_a_note_has_an_operation_hints_and_speaker_notes(tmp_path: Path) -> None:
    text = (
        BASE
        + """\
hints:
  - Look at the retries.
  - "The per-try timeout: is it long enough?"
speaker_notes: |
  Ask the class who saw the 504s.
teacher: {patrol: [[0, 0]], forges: true}
traffic:
  - {from: alice, to: cara, path: /homework/maths, method: GET, headers: {x-subject: maths, x-a: "1"}}
"""
    )
    level = load_level(write(tmp_path, text))
    assert level.hints == ("Look at the retries.", "The per-try timeout: is it long enough?")
    assert level.speaker_notes == "Ask the class who saw the 504s.\n"
    assert level.teacher is not None and level.teacher.forges
    note = level.traffic[0]
    assert (note.path, note.method) == ("/homework/maths", "GET")
    assert note.headers == (("x-a", "1"), ("x-subject", "maths"))  # sorted pairs


SECOND_ROUND_ERRORS = {
    "path without a slash": ("  - {from: alice, to: cara, path: note}  # <-\n", "must start with '/'"),
    "path with a query": ("  - {from: alice, to: cara, path: \"/note?x=1\"}  # <-\n", "notes have no query string"),
    "method in lowercase": ("  - {from: alice, to: cara, method: get}  # <-\n", "write the method in capitals"),
    "unknown method": ("  - {from: alice, to: cara, method: SEND}  # <-\n", "must be one of GET, HEAD, POST"),
    "headers not a map": ("  - {from: alice, to: cara, headers: [x]}  # <-\n", "a mapping of header names"),
    "header name in capitals": ("  - {from: alice, to: cara, headers: {X-Class: a}}  # <-\n", "lowercase"),
    "header value a number": ("  - {from: alice, to: cara, headers: {x-n: 1}}  # <-\n", "put it in quotes"),
}


@pytest.mark.parametrize("line, phrase", list(SECOND_ROUND_ERRORS.values()), ids=list(SECOND_ROUND_ERRORS))
def test_a_notes_operation_is_checked(tmp_path: Path, line: str, phrase: str) -> None:
    assert_error(tmp_path, BASE + "traffic:\n" + line, phrase)


def test_hints_speaker_notes_and_forges_are_checked(tmp_path: Path) -> None:
    assert_error(tmp_path, BASE + "hints: [a, '']  # <-\n", "hints[1] is empty")
    assert_error(tmp_path, BASE + "hints: look  # <-\n", "hints must be a list")
    assert_error(tmp_path, BASE + "speaker_notes: [a]  # <-\n", "speaker_notes must be text")
    assert_error(tmp_path, BASE + "teacher: {patrol: [[0, 0]], forges: 1}  # <-\n", "forges must be true or false")


def test_full_level(tmp_path: Path) -> None:
    text = (
        BASE
        + """\
seed: 7
lesson: hello
teacher:
  patrol: [[0, 0], [1, 2]]
  speed: 2
  eavesdrops: true
  catches: 0.25
  impersonates: true
traffic:
  - {from: alice, to: cara, count: 3, every: 1.5s, text: hi, reply: true}
  - {from: cara, to: alice}
objectives:
  - {metric: ledger_ok, op: "==", value: true}
"""
    )
    text = text.replace(
        "    seat: [0, 1]\n",
        "    seat: [0, 1]\n    behaviour: {drops: 0.5, "
        "refuses: true, slow: 2s, nosy: true, back_after: 10s}\n",
    )
    level = load_level(write(tmp_path, text))
    ben = level.student("ben").behaviour
    assert (ben.drops, ben.refuses, ben.slow, ben.nosy, ben.back_after) == (0.5, True, 2.0, True, 10.0)
    assert level.teacher is not None and level.teacher.patrol == ((0, 0), (1, 2))
    assert level.teacher.catches == 0.25 and level.teacher.speed == 2.0
    assert level.traffic[0].reply and level.traffic[0].every == 1.5
    assert level.traffic[1].count == 1 and level.traffic[1].text == ""
    assert level.objectives[0].value == 1.0


def test_explicit_links(tmp_path: Path) -> None:
    text = BASE.replace("  cols: 3\n", "  cols: 3\n  links: [[cara, alice], [ben, alice]]\n")
    level = load_level(write(tmp_path, text))
    assert level.room.links == (("alice", "ben"), ("alice", "cara"))


def test_every_istio_field_the_class_knows(tmp_path: Path) -> None:
    text = (
        BASE
        + """\
mesh:
  editable: [PeerAuthentication, VirtualService, DestinationRule, AuthorizationPolicy]
  resources:
    - apiVersion: security.istio.io/v1beta1
      kind: PeerAuthentication
      metadata: {name: ben-only, namespace: tiny, labels: {team: a}}
      spec: {selector: {matchLabels: {app: ben}}, mtls: {mode: PERMISSIVE}}
    - apiVersion: networking.istio.io/v1alpha3
      kind: VirtualService
      metadata: {name: cara}
      spec:
        hosts: [cara]
        http:
          - name: main
            match:
              - headers: {x: {exact: y}}
                withoutHeaders: {x-late: {prefix: "yes"}}
                uri: {prefix: /notes}
                ignoreUriCase: true
                method: {regex: "P(OST|UT)"}
            timeout: 10s
            retries: {attempts: 3, perTryTimeout: 2s, retryOn: "connect-failure,reset,503",
                      backoff: 100ms, retryIgnorePreviousHosts: false}
            fault:
              delay: {percentage: {value: 10}, fixedDelay: 1s}
              abort: {percentage: {value: 5.5}, httpStatus: 503}
            route:
              - {destination: {host: cara, subset: v1}, weight: 90}
              - {destination: {host: cara, subset: v2}, weight: 10}
    - apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: cara}
      spec:
        host: cara
        trafficPolicy:
          outlierDetection: {consecutive5xxErrors: 1, consecutiveGatewayErrors: 2,
                             interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 0}
          connectionPool:
            tcp: {maxConnections: 10, connectTimeout: 1s}
            http: {http1MaxPendingRequests: 1, http2MaxRequests: 5, maxRequestsPerConnection: 1, maxRetries: 3}
          loadBalancer: {simple: ROUND_ROBIN}
          retryBudget: {percent: 20, minRetryConcurrency: 2, budgetInterval: 0ms}
        subsets:
          - {name: v1, labels: {version: v1}}
          - name: v2
            labels: {version: v2}
            trafficPolicy: {retryBudget: {percent: 25}}
    - apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: cara}
      spec:
        selector: {matchLabels: {app: cara}}
        action: ALLOW
        rules:
          - from:
              - source:
                  principals: [classroom.local/ns/tiny/sa/alice]
                  notPrincipals: [classroom.local/ns/tiny/sa/ben]
                  namespaces: [tiny]
                  notNamespaces: [other]
            to:
              - operation: {hosts: [cara], notHosts: [ben], paths: [/notes], notPaths: ["/notes/secret*"],
                            methods: [POST], notMethods: [DELETE]}
            when:
              - {key: "request.headers[x-class]", values: [maths]}
              - {key: source.principal, notValues: [classroom.local/ns/tiny/sa/ben]}
              - {key: source.namespace, values: [tiny]}
"""
    )
    level = load_level(write(tmp_path, text))
    assert [r["kind"] for r in level.resources] == [
        "PeerAuthentication",
        "VirtualService",
        "DestinationRule",
        "AuthorizationPolicy",
    ]
    json.dumps(level.resources)  # plain data for the mesh
    assert len(level.editable) == 4


def test_resources_keep_their_lines(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, peer_auth()))
    (pa,) = level.resources
    assert line_of(pa["spec"], "mtls") == BASE.count("\n") + 7
    assert line_of(level.resources[0]) == BASE.count("\n") + 3
    copy = pickle.loads(pickle.dumps(level))
    assert copy == level and line_of(copy.resources[0]["spec"], "mtls") == line_of(pa["spec"], "mtls")


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = BASE.replace(
        "    seat: [0, 1]\n", "    seat: [0, 1]\n    behaviour: &lazy {slow: 1s, drops: 0.1}\n"
    )
    text = text.replace("    seat: [0, 2]\n", "    seat: [0, 2]\n    behaviour: {<<: *lazy, drops: 0.2}\n")
    level = load_level(write(tmp_path, text))
    assert level.student("cara").behaviour.slow == 1.0
    assert level.student("cara").behaviour.drops == 0.2


# --------------------------------------------------------------------------- lookup


def test_lookup_by_name_stem_and_path(tmp_path: Path) -> None:
    write(tmp_path, BASE, "03-tiny.yaml")
    write(tmp_path, BASE.replace("name: tiny", "name: other"), "04-other.yaml")
    assert load_level("tiny", tmp_path).name == "tiny"
    assert load_level("03-tiny", tmp_path).name == "tiny"
    assert load_level("other", tmp_path).name == "other"
    assert load_level(str(tmp_path / "04-other.yaml")).name == "other"
    assert load_level("first-note").name == "first-note"  # the repo's own levels/


def test_the_levels_are_package_data_and_the_repo_links_to_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLASSROOM_LEVELS_DIR", raising=False)
    shipped = default_levels_dir()
    package = Path(classroom.__file__).resolve().parent
    assert shipped.resolve() == package / "data" / "levels"
    assert [p.name for p in sorted(shipped.glob("*.yaml"))] == [p.name for p in sorted(REPO_LEVELS.glob("*.yaml"))]
    assert len(list_levels()) >= 13
    link = REPO_LEVELS
    assert link.is_symlink() and link.resolve() == shipped.resolve()  # levels/01-first-note.yaml still works
    assert os.readlink(link) == "classroom/data/levels"  # relative: it works in any clone


def test_levels_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, BASE, "tiny.yaml")
    monkeypatch.setenv("CLASSROOM_LEVELS_DIR", str(tmp_path))
    assert load_level("tiny").name == "tiny"
    assert [lv.name for lv in list_levels()] == ["tiny"]


def test_unknown_level_name_lists_the_available_ones(tmp_path: Path) -> None:
    write(tmp_path, BASE, "03-tiny.yaml")
    write(tmp_path, "broken: [", "05-broken.yaml")
    with pytest.raises(LevelError) as info:
        load_level("tinny", tmp_path)
    assert str(info.value).startswith("tinny: no level named 'tinny'")
    assert "available: tiny" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(LevelError) as info:
        load_level(path)
    assert str(info.value) == f"{path}: no such file"


def test_list_levels_sorted_by_file_name_and_names_unique(tmp_path: Path) -> None:
    write(tmp_path, BASE.replace("name: tiny", "name: zed"), "01-z.yaml")
    write(tmp_path, BASE, "02-a.yaml")
    assert [lv.name for lv in list_levels(tmp_path)] == ["zed", "tiny"]
    write(tmp_path, BASE, "03-again.yaml")
    with pytest.raises(LevelError, match="already the name of"):
        list_levels(tmp_path)


# --------------------------------------------------------------------------- bad YAML and shape


def test_broken_yaml(tmp_path: Path) -> None:
    text = BASE + "traffic:\n  - from: alice\n    to: [ben\n  - {from: ben}  # <-\n"
    assert_error(tmp_path, text, "not valid YAML")


def test_yaml_tab_indentation(tmp_path: Path) -> None:
    text = BASE + "seed:\n\t- 1  # <-\n"
    assert_error(tmp_path, text, "not valid YAML")


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert_error(tmp_path, text, "empty", line=1)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("- a\n- b\n", 1, "a list"),
        ("just words\n", 1, "the text 'just words'"),
        ("# a comment\n42\n", 2, "the number 42"),
    ],
    ids=["list", "text", "number"],
)
def test_top_level_not_a_mapping(tmp_path: Path, text: str, line: int, what: str) -> None:
    err = level_error(tmp_path, text)
    assert "must be a YAML mapping" in err.message and what in err.message
    assert err.line == line


def test_two_documents_in_a_level(tmp_path: Path) -> None:
    assert_error(tmp_path, BASE + "---  # <-\nseed: 2\n", "a second one (remove the '---')")


def test_duplicate_key(tmp_path: Path) -> None:
    text = BASE.replace("  cols: 3\n", "  cols: 3\n  rows: 3  # <-\n")
    assert_error(tmp_path, text, "key 'rows' appears twice in one mapping (first on line 6)")


# --------------------------------------------------------------------------- unknown keys

UNKNOWN_KEYS = {
    "top level": (
        BASE + "sead: 3  # <-\n",
        "the level has an unknown key 'sead'; allowed: apiVersion, kind, metadata, lesson, seed",
    ),
    "metadata": (
        BASE.replace("  name: tiny\n", "  name: tiny\n  autor: me  # <-\n"),
        "metadata has an unknown key 'autor'; allowed: name, title, concepts",
    ),
    "room": (
        BASE.replace("  cols: 3\n", "  cols: 3\n  colums: 4  # <-\n"),
        "room has an unknown key 'colums'; allowed: rows, cols, passing_time, links",
    ),
    "student": (
        BASE.replace("    seat: [0, 1]\n", "    seat: [0, 1]\n    age: 9  # <-\n"),
        "students[1] has an unknown key 'age'; allowed: name, seat, behaviour",
    ),
    "behaviour": (
        BASE.replace(
            "    seat: [0, 1]\n",
            "    seat: [0, 1]\n    behaviour:\n      drops: 0.1\n      grumpy: true  # <-\n",
        ),
        "students[1].behaviour has an unknown key 'grumpy'; allowed: drops, refuses",
    ),
    "teacher": (
        BASE + "teacher:\n  patrol: [[0, 0]]\n  shouts: true  # <-\n",
        "teacher has an unknown key 'shouts'; allowed: patrol, speed, eavesdrops",
    ),
    "traffic": (
        BASE + "traffic:\n  - from: alice\n    to: ben\n    cc: cara  # <-\n",
        "traffic[0] has an unknown key 'cc'; allowed: from, to, count, every, text",
    ),
    "objective": (
        BASE + "objectives:\n  - {metric: failed, op: ==, value: 0}\n"
        "  - {metric: failed, op: ==, value: 0, weight: 2}  # <-\n",
        "objectives[1] has an unknown key 'weight'; allowed: metric, op, value",
    ),
    "mesh": (
        BASE + "mesh:\n  profil: istio  # <-\n",
        "mesh has an unknown key 'profil'; allowed: profile, resources, editable",
    ),
    "solution": (
        BASE + "solution:\n  resources: []\n  notes: x  # <-\n",
        "solution has an unknown key 'notes'; allowed: resources",
    ),
    "resource": (
        BASE + "mesh:\n  resources:\n    - apiVersion: security.istio.io/v1\n"
        "      kind: PeerAuthentication\n      metadata: {name: default}\n"
        "      status: {}  # <-\n",
        "mesh.resources[0] has an unknown key 'status'; allowed: apiVersion, kind, metadata, spec",
    ),
    "resource metadata": (
        BASE + "mesh:\n  resources:\n    - apiVersion: security.istio.io/v1\n"
        "      kind: PeerAuthentication\n      metadata:\n"
        "        name: default\n        annotations: {}  # <-\n",
        "mesh.resources[0].metadata has an unknown key 'annotations'; allowed: name, namespace, labels",
    ),
    "resource spec": (
        resource("PeerAuthentication", "mtls: {mode: STRICT}\nportLevelMTLS: {}  # <-\n"),
        "mesh.resources[0].spec has an unknown key 'portLevelMTLS'; allowed: selector, mtls",
    ),
    "nested in spec": (
        resource(
            "VirtualService",
            """\
        hosts: [ben]
        http:
          - retries:
              attempts: 3
              perTryTimout: 2s  # <-
        """,
            api="networking.istio.io/v1",
        ),
        "mesh.resources[0].spec.http[0].retries has an unknown key "
        "'perTryTimout'; allowed: attempts, perTryTimeout, retryOn, backoff, retryIgnorePreviousHosts",
    ),
    "traffic policy": (
        resource(
            "DestinationRule",
            """\
        host: ben
        trafficPolicy:
          outlierDetection: {consecutive5xxError: 1}  # <-
        """,
            api="networking.istio.io/v1",
        ),
        "outlierDetection has an unknown key 'consecutive5xxError'",
    ),
}


@pytest.mark.parametrize("text, phrase", list(UNKNOWN_KEYS.values()), ids=list(UNKNOWN_KEYS))
def test_unknown_key(tmp_path: Path, text: str, phrase: str) -> None:
    assert_error(tmp_path, text, phrase)


# --------------------------------------------------------------------------- wrong values

WRONG_VALUES = {
    "string for number": (
        BASE.replace("  rows: 2\n", "  rows: two  # <-\n"),
        "room.rows must be a whole number, got the text 'two'",
    ),
    "bool for list": (
        BASE.replace("  name: tiny\n", "  name: tiny\n  concepts: true  # <-\n"),
        "metadata.concepts must be a list, got true",
    ),
    "number for text": (BASE + "lesson: 42  # <-\n", "lesson must be text (put it in quotes)"),
    "negative count": (
        BASE + "traffic:\n  - from: alice\n    to: ben\n    count: -3  # <-\n",
        "traffic[0].count must be 1 or more, got -3",
    ),
    "zero rows": (BASE.replace("  rows: 2\n", "  rows: 0  # <-\n"), "room.rows must be 1 or more, got 0"),
    "negative seed": (BASE + "seed: -1  # <-\n", "seed must be 0 or more"),
    "probability above 1": (
        BASE.replace("    seat: [0, 1]\n", "    seat: [0, 1]\n    behaviour: {drops: 1.5}  # <-\n"),
        "students[1].behaviour.drops is a probability: it must be between 0 and 1, got 1.5",
    ),
    "probability below 0": (
        BASE + "teacher:\n  patrol: [[0, 0]]\n  catches: -0.1  # <-\n",
        "teacher.catches is a probability",
    ),
    "bool wanted": (
        BASE.replace("    seat: [0, 1]\n", "    seat: [0, 1]\n    behaviour: {nosy: yes please}  # <-\n"),
        "students[1].behaviour.nosy must be true or false",
    ),
    "teacher speed": (
        BASE + "teacher:\n  patrol: [[0, 0]]\n  speed: 0  # <-\n",
        "teacher.speed must be more than 0",
    ),
    "empty patrol": (BASE + "teacher:\n  patrol: []  # <-\n", "teacher.patrol is empty"),
    "patrol outside": (
        BASE + "teacher:\n  patrol:\n    - [0, 0]\n    - [2, 0]  # <-\n",
        "teacher.patrol[1] [2, 0] is outside the room (2 rows x 3 cols",
    ),
    "bad duration": (
        BASE + "traffic:\n  - from: alice\n    to: ben\n    every: soon  # <-\n",
        "traffic[0].every: 'soon' is not a duration",
    ),
    "negative duration": (
        BASE.replace("  cols: 3\n", "  cols: 3\n  passing_time: -1s  # <-\n"),
        "room.passing_time: duration '-1s' is negative",
    ),
    "duration in behaviour": (
        BASE.replace("    seat: [0, 1]\n", "    seat: [0, 1]\n    behaviour: {slow: 2 secs}  # <-\n"),
        "students[1].behaviour.slow: '2 secs' is not a duration",
    ),
    "absent and absent_after": (
        BASE.replace(
            "    seat: [0, 1]\n",
            "    seat: [0, 1]\n    behaviour:\n      absent: true\n      absent_after: 5s  # <-\n",
        ),
        "never comes",
    ),
    "profile": (
        BASE + "mesh:\n  profile: kuma  # <-\n",
        "mesh.profile must be one of istio, linkerd, cilium, traefik, consul, appmesh, "
        "nginx, got the text 'kuma'",
    ),
    "apiVersion": (
        BASE.replace("classroom.mesh/v1", "classroom.mesh/v2  # <-"),
        "apiVersion must be classroom.mesh/v1, got the text 'classroom.mesh/v2'",
    ),
    "kind": (BASE.replace("kind: Level", "kind: Lesson  # <-"), "kind must be Level"),
    "missing apiVersion": (
        BASE.replace("kind: Level\n", "kind: Level  # <-\n").replace("apiVersion: classroom.mesh/v1\n", ""),
        "the level is missing 'apiVersion'",
    ),
    "missing students": (
        BASE.split("students:")[0].replace("v1\n", "v1  # <-\n", 1),
        "the level is missing 'students'",
    ),
    "no students": (BASE.split("students:")[0] + "students: []  # <-\n", "students is empty"),
    "op": (
        BASE + "objectives:\n  - metric: failed\n    op: =<  # <-\n    value: 0\n",
        "objectives[0].op must be one of >=, <=, ==, >, <, !=, got the text '=<'",
    ),
    "objective value": (
        BASE + "objectives:\n  - {metric: failed, op: ==, value: none}  # <-\n",
        "objectives[0].value must be a number",
    ),
    "mtls mode": (
        peer_auth("STRICTLY").replace("STRICTLY}", "STRICTLY}  # <-"),
        "mesh.resources[0].spec.mtls.mode must be one of STRICT, PERMISSIVE, DISABLE, "
        "UNSET, got the text 'STRICTLY'",
    ),
    "action": (
        resource("AuthorizationPolicy", "action: REJECT  # <-\n"),
        "mesh.resources[0].spec.action must be one of ALLOW, DENY",
    ),
    "resource kind": (
        resource("Gateway", "{}").replace("kind: Gateway", "kind: Gateway  # <-"),
        "mesh.resources[0].kind must be one of PeerAuthentication, "
        "AuthorizationPolicy, VirtualService, DestinationRule",
    ),
    "resource apiVersion": (
        resource("VirtualService", "hosts: [ben]").replace(
            "apiVersion: security.istio.io/v1", "apiVersion: security.istio.io/v1  # <-"
        ),
        "a VirtualService has apiVersion networking.istio.io/v1 or networking.istio.io/v1beta1",
    ),
    "resource name": (
        peer_auth().replace("{name: r}", "{name: My_Rule}  # <-"),
        "'My_Rule' is not a valid resource name",
    ),
    "resource duration": (
        resource(
            "VirtualService",
            "hosts: [ben]\nhttp:\n  - timeout: 2 minutes  # <-\n",
            api="networking.istio.io/v1",
        ),
        "mesh.resources[0].spec.http[0].timeout: '2 minutes' is not a duration",
    ),
    "resource percentage": (
        resource(
            "VirtualService",
            """\
        hosts: [ben]
        http:
          - fault:
              abort:
                httpStatus: 503
                percentage: {value: 150}  # <-
        """,
            api="networking.istio.io/v1",
        ),
        "percentage.value must be between 0 and 100",
    ),
    "resource type": (
        resource("VirtualService", "hosts: ben  # <-\n", api="networking.istio.io/v1"),
        "mesh.resources[0].spec.hosts must be a list, got the text 'ben'",
    ),
    "retry budget percent": (
        resource(
            "DestinationRule",
            """\
        host: ben
        trafficPolicy:
          retryBudget: {percent: lots}  # <-
        """,
            api="networking.istio.io/v1",
        ),
        "retryBudget.percent is a number from 0 to 100, written `percent: 10`, got the text 'lots'",
    ),
    "retryOn": (
        resource(
            "VirtualService",
            """\
        hosts: [ben]
        http:
          - retries: {attempts: 2, retryOn: "conect-failure,reset"}  # <-
        """,
            api="networking.istio.io/v1",
        ),
        "'conect-failure' is not a retry condition",
    ),
    "weights": (
        resource(
            "VirtualService",
            """\
        hosts: [ben]
        http:
          - route:  # <-
              - {destination: {host: ben, subset: v1}, weight: 0}
              - {destination: {host: ben, subset: v2}}
        """,
            api="networking.istio.io/v1",
        ),
        "the weights of its 2 destinations add up to 0",
    ),
    "VirtualService without hosts": (
        resource("VirtualService", "http: []", api="networking.istio.io/v1").replace(
            "      spec:", "      spec:  # <-"
        ),
        "mesh.resources[0].spec is missing 'hosts'",
    ),
    "duplicate resource": (
        peer_auth()
        + """\
    - apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: r}  # <-
""",
        "mesh.resources[1] is a second PeerAuthentication named 'r'",
    ),
    "resources not a list": (
        BASE + "mesh:\n  resources: {kind: PeerAuthentication}  # <-\n",
        "mesh.resources must be a list, got a mapping",
    ),
}


@pytest.mark.parametrize("text, phrase", list(WRONG_VALUES.values()), ids=list(WRONG_VALUES))
def test_wrong_value(tmp_path: Path, text: str, phrase: str) -> None:
    assert_error(tmp_path, text, phrase)


# --------------------------------------------------------------------------- students and seats


def test_seat_outside_the_room(tmp_path: Path) -> None:
    text = BASE.replace("    seat: [0, 2]\n", "    seat: [5, 1]  # <-\n")
    assert_error(tmp_path, text, "students[2].seat [5, 1] is outside the room (2 rows x 3 cols")


def test_negative_seat(tmp_path: Path) -> None:
    text = BASE.replace("    seat: [0, 2]\n", "    seat: [-1, 1]  # <-\n")
    assert_error(tmp_path, text, "students[2].seat [-1, 1] is outside the room")


@pytest.mark.parametrize("seat", ["[0]", "[0, 1, 2]", "[a, b]", "3", "[0.5, 1]"])
def test_seat_not_a_pair(tmp_path: Path, seat: str) -> None:
    text = BASE.replace("    seat: [0, 2]\n", f"    seat: {seat}  # <-\n")
    assert_error(tmp_path, text, "students[2].seat must be a seat [row, col] of two whole numbers")


def test_two_students_in_one_seat(tmp_path: Path) -> None:
    text = BASE.replace("    seat: [0, 2]\n", "    seat: [0, 1]  # <-\n")
    assert_error(tmp_path, text, "students[2].seat [0, 1] is already ben's seat")


def test_duplicate_student_name(tmp_path: Path) -> None:
    text = BASE.replace("  - name: cara\n", "  - name: ben  # <-\n")
    assert_error(
        tmp_path, text, "students[2].name: there is already a student named 'ben' (students[1].name, line 11)"
    )


@pytest.mark.parametrize("name", ["Ben", "2pac", "ben_s", "ben-", "'ben s'", "''", "no", "7"])
def test_student_name_not_a_slug(tmp_path: Path, name: str) -> None:
    text = BASE.replace("  - name: cara\n", f"  - name: {name}  # <-\n")
    err = level_error(tmp_path, text)
    assert err.line == marked_line(text)
    assert err.message.startswith("students[2].name ")
    assert "is not a valid name" in err.message or "must be text" in err.message


def test_metadata_name_not_a_slug(tmp_path: Path) -> None:
    text = BASE.replace("  name: tiny\n", "  name: Tiny Level  # <-\n")
    assert_error(tmp_path, text, "metadata.name 'Tiny Level' is not a valid name")


# --------------------------------------------------------------------------- links and reachability


def test_links_unknown_student(tmp_path: Path) -> None:
    text = BASE.replace(
        "  cols: 3\n", "  cols: 3\n  links:\n    - [alice, ben]\n    - [ben, dana]  # <-\n    - [ben, cara]\n"
    )
    assert_error(
        tmp_path,
        text,
        "room.links[1] [ben, dana] names the text 'dana', who is not a "
        "student of this level (students: alice, ben, cara)",
    )


def test_links_to_herself(tmp_path: Path) -> None:
    text = BASE.replace("  cols: 3\n", "  cols: 3\n  links:\n    - [ben, ben]  # <-\n")
    assert_error(tmp_path, text, "room.links[0] [ben, ben] links ben to herself")


@pytest.mark.parametrize("links", ["everyone", "true", "[[alice]]", "[alice, ben]"])
def test_links_bad_shape(tmp_path: Path, links: str) -> None:
    text = BASE.replace("  cols: 3\n", f"  cols: 3\n  links: {links}  # <-\n")
    err = assert_error(tmp_path, text, "room.links")
    assert "neighbours" in err.message or "pair of student names" in err.message


def test_unreachable_students_by_seat(tmp_path: Path) -> None:
    text = BASE.replace("  rows: 2\n", "  rows: 3\n").replace(
        "  - name: cara\n    seat: [0, 2]\n", "  - name: cara  # <-\n    seat: [2, 2]\n"
    )
    text += "  - name: dan\n    seat: [2, 1]\n"
    assert_error(
        tmp_path,
        text,
        "cara and dan cannot be reached: no chain of desk neighbours "
        "(links: neighbours joins seats that share a side) connects them to alice",
    )


def test_unreachable_student_by_explicit_links(tmp_path: Path) -> None:
    text = BASE.replace("  cols: 3\n", "  cols: 3\n  links: [[alice, ben]]\n").replace(
        "  - name: cara\n", "  - name: cara  # <-\n"
    )
    assert_error(tmp_path, text, "cara cannot be reached: no pair in room.links connects her to alice")


# --------------------------------------------------------------------------- traffic and objectives


@pytest.mark.parametrize("key", ["from", "to"])
def test_traffic_unknown_student(tmp_path: Path, key: str) -> None:
    ends = {"from": "alice", "to": "ben"}
    ends[key] = "dana"
    text = (
        BASE + f"traffic:\n  - from: {ends['from']}{'  # <-' if key == 'from' else ''}\n"
        f"    to: {ends['to']}{'  # <-' if key == 'to' else ''}\n"
    )
    assert_error(
        tmp_path, text, f"traffic[0].{key} 'dana' is not a student of this level (students: alice, ben, cara)"
    )


def test_traffic_to_herself(tmp_path: Path) -> None:
    text = BASE + "traffic:\n  - from: ben\n    to: ben  # <-\n"
    assert_error(tmp_path, text, "traffic[0] sends notes from ben to herself")


def test_objective_unknown_metric(tmp_path: Path) -> None:
    text = (
        BASE + "objectives:\n  - {metric: delivered_ratio, op: '>=', value: 1}\n"
        "  - {metric: happiness, op: '>=', value: 1}  # <-\n"
    )
    err = assert_error(tmp_path, text, "objectives[1].metric must be one of delivered_ratio, ")
    assert "got the text 'happiness'" in err.message


def test_every_documented_metric_is_accepted(tmp_path: Path) -> None:
    lines = "".join(f"  - {{metric: {m}, op: '>=', value: 0}}\n" for m in METRICS)
    level = load_level(write(tmp_path, BASE + "objectives:\n" + lines))
    assert [o.metric for o in level.objectives] == list(METRICS)


# --------------------------------------------------------------------------- mesh names and kinds


def test_editable_unknown_kind(tmp_path: Path) -> None:
    text = BASE + "mesh:\n  editable:\n    - PeerAuthentication\n    - Gateway  # <-\n"
    assert_error(
        tmp_path,
        text,
        "mesh.editable[1] must be one of PeerAuthentication, "
        "AuthorizationPolicy, VirtualService, DestinationRule, IdentityPolicy, EnvelopePolicy, ",
    )
    assert_error(tmp_path, text, "got the text 'Gateway'")  # the list goes on with each mesh's own kinds


def test_route_destination_unknown_student(tmp_path: Path) -> None:
    text = resource(
        "VirtualService",
        """\
        hosts: [ben]
        http:
          - route:
              - destination: {host: ben, subset: v9}
                weight: 50
              - destination:
                  host: dana  # <-
                weight: 50
        """,
        api="networking.istio.io/v1",
    )
    assert_error(
        tmp_path,
        text,
        "mesh.resources[0].spec.http[0].route[1].destination.host 'dana' is not a student of this level",
    )


def test_virtual_service_host_unknown_student(tmp_path: Path) -> None:
    text = resource(
        "VirtualService",
        "hosts:\n  - ben\n  - dana  # <-\nhttp: [{route: [{destination: {host: ben}}]}]\n",
        api="networking.istio.io/v1",
    )
    assert_error(tmp_path, text, "mesh.resources[0].spec.hosts[1] 'dana' is not a student")


def test_authorization_selector_unknown_student(tmp_path: Path) -> None:
    text = resource(
        "AuthorizationPolicy",
        """\
        action: DENY
        selector:
          matchLabels:
            app: dana  # <-
        rules: [{}]
        """,
    )
    assert_error(
        tmp_path,
        text,
        "mesh.resources[0].spec.selector.matchLabels.app 'dana' is not "
        "a student of this level, so this AuthorizationPolicy selector matches nobody",
    )


def test_destination_rule_host_unknown_student(tmp_path: Path) -> None:
    text = resource("DestinationRule", "host: dana  # <-\n", api="networking.istio.io/v1")
    assert_error(tmp_path, text, "mesh.resources[0].spec.host 'dana' is not a student")


def test_solution_is_validated_like_resources(tmp_path: Path) -> None:
    text = (
        BASE
        + """\
solution:
  resources:
    - apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: default}
      spec: {mtls: {mode: TIGHT}}  # <-
"""
    )
    assert_error(tmp_path, text, "solution.resources[0].spec.mtls.mode must be one of STRICT")


def test_solution_needs_resources(tmp_path: Path) -> None:
    assert_error(tmp_path, BASE + "solution: {}  # <-\n", "solution is missing 'resources'")


def test_solution_loaded(tmp_path: Path) -> None:
    text = (
        BASE + "solution:\n  resources:\n    - apiVersion: security.istio.io/v1\n"
        "      kind: PeerAuthentication\n      metadata: {name: default}\n"
    )
    level = load_level(write(tmp_path, text))
    assert level.solution is not None and level.solution[0]["kind"] == "PeerAuthentication"


# --------------------------------------------------------------------------- resources alone, the model


def test_validate_resources_plain_data() -> None:
    assert validate_resources(
        [
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "PeerAuthentication",
                "metadata": {"name": "default"},
            }
        ]
    )
    with pytest.raises(LevelError) as info:
        validate_resources([{"kind": "PeerAuthentication"}], "edit", students=["ben"])
    assert str(info.value) == "edit: resources[0] is missing 'apiVersion'"


def test_level_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(LevelError("a.yaml", 3, "bad")))
    assert str(err) == "a.yaml:3: bad" and (err.path, err.line, err.message) == ("a.yaml", 3, "bad")


def test_level_is_a_dataclass_with_the_public_fields() -> None:
    fields = set(Level.__dataclass_fields__)
    assert {
        "path",
        "name",
        "title",
        "concepts",
        "lesson",
        "seed",
        "room",
        "students",
        "teacher",
        "traffic",
        "profile",
        "resources",
        "editable",
        "objectives",
        "solution",
        "aisles",
        "hints",
        "speaker_notes",
        "office_goes_home",
    } == fields
    assert {"path", "method", "headers"} <= set(Traffic.__dataclass_fields__)
    assert "forges" in Teacher.__dataclass_fields__


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("400ms", 0.4),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("1h30m", 5400.0),
        ("0", 0.0),
        ("3", 3.0),
        (2, 2.0),
        (0.5, 0.5),
        (" 2s ", 2.0),
        ("100ns", 1e-7),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["soon", "1x", "ms", "", "1s2", "-1s", -3, "2 s", True, float("nan"), "1e3s"]
)
def test_parse_duration_rejects(text: str | float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s"),
        (0.4, "400ms"),
        (2, "2s"),
        (1.5, "1.5s"),
        (90, "1m30s"),
        (3600, "1h"),
        (0.00025, "250us"),
        (5400.5, "1h30m0.5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


# --------------------------------------------------------------------------- aisles faults, holding notes

AISLES = (
    BASE
    + """aisles:
  faults:
    - {kind: latency, links: [[ben, alice]], at: 2s, until: 5s, latency: 200ms}
    - {kind: reset, links: [[alice, ben], [cara, ben]], at: 1s}
    - kind: blackhole
      links: [[ben, cara]]
      until: 1.5s
    - {kind: partition, links: [[alice, ben]], at: 3s, until: 4s}
"""
)


def test_aisles_faults_loaded(tmp_path: Path) -> None:
    from classroom.level import AisleFault

    level = load_level(write(tmp_path, AISLES))
    assert level.aisles == (
        AisleFault("latency", (("alice", "ben"),), 2.0, 5.0, 0.2),
        AisleFault("reset", (("alice", "ben"), ("ben", "cara")), 1.0, None, None),
        AisleFault("blackhole", (("ben", "cara"),), 0.0, 1.5, None),
        AisleFault("partition", (("alice", "ben"),), 3.0, 4.0, None),
    )


def test_a_reset_may_cut_each_connection_by_chance(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, fault("{kind: reset, links: [[alice, ben]], probability: 0.25}")))
    assert level.aisles[0].probability == 0.25


def test_aisles_default_to_none_and_hold_to_false(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, BASE + "traffic:\n  - {from: alice, to: cara}\naisles:\n"))
    assert level.aisles == ()
    assert level.traffic[0].hold is False
    assert load_level(write(tmp_path, BASE + "aisles: {}\n")).aisles == ()
    assert load_level(write(tmp_path, BASE + "aisles: {faults: []}\n")).aisles == ()


def test_traffic_hold(tmp_path: Path) -> None:
    text = BASE + "traffic:\n  - {from: alice, to: cara, hold: true}\n  - {from: cara, to: alice, hold: no}\n"
    level = load_level(write(tmp_path, text))
    assert [t.hold for t in level.traffic] == [True, False]


def fault(line: str) -> str:
    """A level with one fault written as the flow mapping ``line``, marked as the error's line."""
    return BASE + f"aisles:\n  faults:\n    - {line}  # <-\n"


AISLE_ERRORS = {
    "unknown key in aisles": (
        BASE + "aisles:\n  toxics: []  # <-\n",
        "aisles has an unknown key 'toxics'; allowed: faults",
    ),
    "aisles not a mapping": (
        BASE + "aisles: [latency]  # <-\n",
        "aisles must be a mapping (key: value), got a list",
    ),
    "faults not a list": (
        BASE + "aisles:\n  faults: {kind: reset}  # <-\n",
        "aisles.faults must be a list, got a mapping",
    ),
    "unknown key in a fault": (
        fault("{kind: reset, links: [[alice, ben]], jitter: 5ms}"),
        "aisles.faults[0] has an unknown key 'jitter'; allowed: kind, links, at, until, latency, probability",
    ),
    "unknown kind": (
        fault("{kind: slow_close, links: [[alice, ben]]}"),
        "aisles.faults[0].kind must be one of latency, reset, blackhole, partition, got the text 'slow_",
    ),
    "missing kind": (
        fault("{links: [[alice, ben]]}"),
        "aisles.faults[0] is missing 'kind'",
    ),
    "missing links": (
        fault("{kind: reset}"),
        "aisles.faults[0] is missing 'links'",
    ),
    "empty links": (
        fault("{kind: reset, links: []}"),
        "aisles.faults[0].links is empty: it needs at least one entry",
    ),
    "link not a pair": (
        fault("{kind: reset, links: [[alice]]}"),
        "aisles.faults[0].links[0] must be a pair of student names [a, b], got a list",
    ),
    "link names an unknown student": (
        fault("{kind: reset, links: [[alice, zed]]}"),
        "aisles.faults[0].links[0] [alice, zed] names the text 'zed', who is not a student of this level",
    ),
    "link not a link of the room": (
        fault("{kind: blackhole, links: [[alice, cara]]}"),
        "aisles.faults[0].links[0] [alice, cara] is not a link of the room",
    ),
    "same link twice": (
        fault("{kind: blackhole, links: [[alice, ben], [ben, alice]]}"),
        "aisles.faults[0].links[1] [ben, alice] is the same link as aisles.faults[0].links[0]",
    ),
    "until before at": (
        fault("{kind: partition, links: [[alice, ben]], at: 5s, until: 2s}"),
        "aisles.faults[0].until (2s) must be later than at (5s)",
    ),
    "until equal to at": (
        fault("{kind: partition, links: [[alice, ben]], at: 2s, until: 2000ms}"),
        "aisles.faults[0].until (2s) must be later than at (2s)",
    ),
    "bad duration": (
        fault("{kind: reset, links: [[alice, ben]], at: soon}"),
        "aisles.faults[0].at: 'soon' is not a duration",
    ),
    "negative duration": (
        fault("{kind: reset, links: [[alice, ben]], until: -1s}"),
        "aisles.faults[0].until: duration '-1s' is negative",
    ),
    "latency for another kind": (
        fault("{kind: reset, links: [[alice, ben]], latency: 1s}"),
        "aisles.faults[0].latency: only a latency fault has a latency, this one is a reset fault",
    ),
    "latency missing": (
        fault("{kind: latency, links: [[alice, ben]]}"),
        "aisles.faults[0] is a latency fault: it needs 'latency' (like 200ms)",
    ),
    "latency not a duration": (
        fault("{kind: latency, links: [[alice, ben]], latency: true}"),
        "aisles.faults[0].latency must be a duration like 400ms, 2s or 1m, got true",
    ),
    "probability for a fault that cuts nothing": (
        fault("{kind: blackhole, links: [[alice, ben]], probability: 0.5}"),
        "aisles.faults[0].probability: only a reset or a partition cuts connections by chance",
    ),
    "probability out of range": (
        fault("{kind: reset, links: [[alice, ben]], probability: 1.5}"),
        "aisles.faults[0].probability",
    ),
    "hold not a bool": (
        BASE + "traffic:\n  - from: alice\n    to: cara\n    hold: maybe  # <-\n",
        "traffic[0].hold must be true or false, got the text 'maybe'",
    ),
}


@pytest.mark.parametrize("text, phrase", list(AISLE_ERRORS.values()), ids=list(AISLE_ERRORS))
def test_aisles_and_hold_errors(tmp_path: Path, text: str, phrase: str) -> None:
    assert_error(tmp_path, text, phrase)


def test_aisles_error_points_at_the_line_of_a_block_fault(tmp_path: Path) -> None:
    text = (
        BASE
        + """aisles:
  faults:
    - kind: latency
      links: [[alice, ben]]
      latency: 100ms
    - kind: blackhole
      links:
        - [alice, ben]
        - [ben, cara]
        - [cara, alice]  # <-
"""
    )
    assert_error(tmp_path, text, "aisles.faults[1].links[2] [cara, alice] is not a link of the room")


def test_aisles_links_follow_explicit_room_links(tmp_path: Path) -> None:
    text = BASE.replace("  cols: 3\n", "  cols: 3\n  links: [[alice, cara], [ben, cara]]\n")
    level = load_level(write(tmp_path, text + "aisles:\n  faults: [{kind: reset, links: [[cara, alice]]}]\n"))
    assert level.aisles[0].links == (("alice", "cara"),)
    bad = text + "aisles:\n  faults:\n    - {kind: reset, links: [[alice, ben]]}  # <-\n"
    assert_error(tmp_path, bad, "[alice, ben] is not a link of the room")


def test_the_office_goes_home_when_the_level_says(tmp_path: Path) -> None:
    assert load_level(write(tmp_path, BASE)).office_goes_home is None
    level = load_level(write(tmp_path, BASE + "office:\n  goes_home: 1500ms\n"))
    assert level.office_goes_home == 1.5


@pytest.mark.parametrize(("text", "phrase"), [
    (BASE + "office:\n  goes_home: soon  # <-\n", "office.goes_home"),
    (BASE + "office:\n  leaves: 2s  # <-\n", "unknown key 'leaves'"),
    (BASE + "office: {}  # <-\n", "goes_home"),
])
def test_office_errors(tmp_path: Path, text: str, phrase: str) -> None:
    assert_error(tmp_path, text, phrase)
