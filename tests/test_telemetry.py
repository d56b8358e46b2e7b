"""Telemetry: recordings and replays, traces, metrics, the viz commands, and a subscriber that stalls."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, level_doc
from prometheus_client.parser import text_string_to_metric_families

from classroom.level import load_level
from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.round import Round, RoundResult, wait_gone
from classroom.report import build_report
from classroom.telemetry.metrics import MeshMetrics
from classroom.telemetry.recorder import Recorder, RecordingError, header, read_recording
from classroom.telemetry.traces import collect, export_otlp, otel_spans
from classroom.telemetry.viz import MeshView, tap_line

pytestmark = pytest.mark.timeout(180)
PATH = ["alice", "ben", "cara", "dev", "eli", "fay"]  # alice's notes to fay cross four hands
IDENTITY = re.compile(r"spiffe://classroom\.local/ns/telemetry-row/sa/\w+")


def classroom(*args: str, timeout: float = 120, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def telemetry_doc() -> dict[str, Any]:
    """dev drops 30% of what he relays (cara retries him); gus is absent (notes to him fail fast)."""
    doc = level_doc(
        name="telemetry-row",
        traffic=[
            {"from": "alice", "to": "fay", "count": 12, "every": "20ms", "text": "Lunch at the fountain?"},
            {"from": "alice", "to": "gus", "count": 3, "every": "20ms", "text": "Are you there?"},
        ],
        behaviours={"dev": {"drops": 0.3}, "gus": {"absent": True}},
    )
    doc["mesh"]["resources"].append({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "fay"},
        "spec": {"hosts": ["fay"], "http": [{"timeout": "4s", "retries": {
            "attempts": 4, "perTryTimeout": "300ms", "retryOn": "5xx,reset,connect-failure"},
            "route": [{"destination": {"host": "fay"}}]}]}})
    return doc


class Recorded:
    """A real round, recorded as `classroom run --record` does, with what the runner saw."""

    def __init__(self, directory: Path) -> None:
        level_file = directory / "telemetry-row.yaml"
        level_file.write_text(yaml.safe_dump(telemetry_doc(), sort_keys=False))
        self.level = load_level(str(level_file))
        self.file = directory / "round.jsonl"
        self.capture = directory / "capture"
        self.capture.mkdir()
        recorder = Recorder(self.file, header(self.level, self.level.seed, 1.0))
        round_ = Round(self.level, self.level.resources, seed=self.level.seed, capture_dir=str(self.capture),
                       on_event=recorder.write)
        self.result: RoundResult = net.run(round_.run())
        recorder.close(timed_out=self.result.timed_out, processes=self.result.processes)
        assert wait_gone(round_.pids()) == []
        self.report = build_report(self.level, self.level.seed, self.result.events, self.result.processes)
        self.events = self.result.events


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return Recorded(tmp_path_factory.mktemp("recorded"))


# --- recording and replay ---------------------------------------------------------------

def test_a_recorded_round_names_every_note_and_replays_to_the_report(recorded: Recorded) -> None:
    report = recorded.report
    assert report["ledger_ok"] and report["notes"]["sent"] == 15
    assert report["failures"]["absent"] == 3 and report["retries"] > 0  # the round had some of everything
    recording = read_recording(recorded.file)
    sent = [e["note"] for e in recorded.events if e["kind"] == "sent"]
    assert recording.notes() == sent
    expected = [f"alice>fay#{i}" for i in range(1, 13)] + [f"alice>gus#{i}" for i in range(1, 4)]
    assert sorted(sent) == sorted(expected)
    assert recording.events == json.loads(json.dumps(recorded.events))  # every event, in order
    lines = recorded.file.read_text().splitlines()
    assert len(lines) == len(recorded.events) + 2  # and the runner's header and end
    note_kinds = {"sent", "span", "forwarded", "delivered", "result", "retried", "dropped"}
    for line in lines:
        event = json.loads(line)
        if event["kind"] in note_kinds:
            assert event["note"] in sent, line
    replayed = build_report(recording.level(), recording.seed, recording.events, recording.processes)
    for key in ("notes", "failures", "flags", "retries", "ledger_ok", "latency_ms", "hop_load", "passed"):
        assert replayed[key] == report[key], key
    assert [o["value"] for o in replayed["objectives"]] == [o["value"] for o in report["objectives"]]


def test_classroom_replay_prints_the_round_and_its_counts(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "replayed.json"
    done = classroom("replay", str(recorded.file), "--report", str(out))
    assert done.returncode == (0 if recorded.report["passed"] else 1), done.stderr
    assert json.loads(out.read_text())["notes"] == recorded.report["notes"]
    ends = [line for line in done.stdout.splitlines() if " end id=" in line]
    assert len(ends) == 15  # one line per note, with how it ended
    assert "room_ready" in done.stdout and "delivered" in done.stdout
    assert "PASSED" in done.stdout or "NOT PASSED" in done.stdout


@pytest.mark.parametrize("command", [("replay", "{file}"), ("tap", "--from", "{file}"),
                                     ("stat", "--from", "{file}"), ("top", "--from", "{file}"),
                                     ("trace", "alice>fay#1", "--from", "{file}")])
def test_a_missing_or_malformed_recording_is_one_line_and_exit_2(command: tuple[str, ...],
                                                                  tmp_path: Path) -> None:
    missing = tmp_path / "nothing.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "sent", "note": "a>b#1", "t": 1}\nthis is not json\n')
    for path, expected in ((missing, "no such recording"), (bad, "bad.jsonl:2: not a JSON event")):
        done = classroom(*(part.format(file=path) for part in command))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_reading_a_recording(tmp_path: Path) -> None:
    file = tmp_path / "r.jsonl"
    file.write_text('{"kind": "sent", "note": "a>b#1", "t": 1}\n{"kind": "result", "no')  # killed mid-write
    assert [e["kind"] for e in read_recording(file).events] == ["sent"]
    for text, problem in (("", "empty"), ("[1, 2]\n", "not an event"), ('{"t": 1}\n', "not an event"),
                          ('{"kind": "recording", "format": 99}\n', "format 99")):
        file.write_text(text)
        with pytest.raises(RecordingError, match=problem):
            read_recording(file)
    with pytest.raises(RecordingError, match="is a directory"):
        read_recording(tmp_path)


# --- traces ---------------------------------------------------------------------------------

def test_spans_of_a_multi_hop_note_share_its_trace_and_nest_as_hops(recorded: Recorded) -> None:
    spans = otel_spans(recorded.events, recorded.level.name)
    results = {e["note"]: e for e in recorded.events if e["kind"] == "result"}
    traces = {e["note"]: e["trace"] for e in recorded.events if e["kind"] == "sent"}
    by_id = {s.context.span_id: s for s in spans}
    checked = 0
    for note, result in results.items():
        mine = [s for s in spans if s.attributes["classroom.note"] == note]
        assert {s.context.trace_id for s in mine} == {int(traces[note], 16)}  # one trace per note
        roots = [s for s in mine if s.parent is None]
        assert len(roots) == 1 and roots[0].name == f"note {note}"
        if result["state"] != "delivered" or result["path"] != PATH:
            continue
        # Walk up from the attempt that handed the note to fay (the W3C parent her "delivered" names):
        # each hop's parent is the attempt that handed the note on to that hand.
        handed = next(e for e in recorded.events if e["kind"] == "delivered" and e["note"] == note)
        chain, span = [], by_id[int(handed["parent"], 16)]
        assert span.attributes["classroom.peer"] == "fay"
        while span.parent is not None:
            chain.append((span.attributes["classroom.hand"], span.attributes["classroom.peer"]))
            span = by_id[span.parent.span_id]
            assert span.context.trace_id == int(traces[note], 16)
        assert span is roots[0]
        assert chain[::-1] == list(zip(PATH, PATH[1:], strict=False))
        hops = [s for s in mine if s.parent is not None]
        assert all(s.attributes["classroom.peer_identity"].endswith("/sa/" + s.attributes["classroom.peer"])
                   for s in hops)
        assert all(roots[0].start_time <= s.start_time <= s.end_time <= roots[0].end_time for s in hops)
        checked += 1
    assert checked >= 5
    # Retried hops are spans too: cara's attempts at dev, dev having dropped the note.
    timeouts = [s for s in spans if s.attributes.get("classroom.outcome") == "timeout"]
    assert timeouts and all(s.attributes["classroom.flag"] == "UT" for s in timeouts)


def test_the_traceparent_on_the_wire_names_the_span_of_that_attempt(recorded: Recorded) -> None:
    spans = {(s.context.trace_id, s.context.span_id): s for s in otel_spans(recorded.events)}
    seen = unended = 0
    for file in recorded.capture.glob("*.forwarded"):
        decoder = wire.FrameDecoder()
        decoder.receive_data(file.read_bytes())
        for frame in decoder.frames():
            version, trace, span_id, flags = frame.header["traceparent"].split("-")
            assert (version, flags) == ("00", "01") and trace == frame.header["trace"]
            span = spans.get((int(trace, 16), int(span_id, 16)))
            if span is None:  # a duplicate's try still in flight when the round ended: no span yet
                unended += 1
                continue
            assert span.attributes["classroom.hand"] == file.stem  # the hand that passed it on
            assert span.attributes["classroom.note"] == frame.header["id"]
            seen += 1
    assert seen >= 40 and unended <= seen // 10


def test_classroom_trace_draws_the_waterfall(recorded: Recorded) -> None:
    spans = collect(recorded.events)
    note = next(n for n, t in spans.items() if t.result and t.result.get("path") == PATH and len(t.hops) == 5)
    done = classroom("trace", note, "--from", str(recorded.file), env={**os.environ, "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    assert f"note {note}" in done.stdout and f"trace {spans[note].trace}" in done.stdout
    rows = [line for line in done.stdout.splitlines() if "└" in line]
    hops = [tuple(line.split("└ ")[1].split()[0:3:2]) for line in rows]
    assert hops == list(zip(PATH, PATH[1:], strict=False))  # hand > peer, in the order the note went
    depths = [line.index("└") for line in rows]
    assert depths == sorted(set(depths)) and len(depths) == 5  # each hop nested under the one before
    assert all(re.search(r"━+\s*$", line) for line in rows)
    by_trace = classroom("trace", spans[note].trace, "--from", str(recorded.file))
    assert by_trace.returncode == 0 and f"note {note}" in by_trace.stdout
    unknown = classroom("trace", "nobody>none#9", "--from", str(recorded.file))
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "no note 'nobody>none#9'" in unknown.stderr


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent."""

    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes]]]:
    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Collector.bodies = []
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    yield Collector.bodies
    server.shutdown()
    server.server_close()


def test_spans_go_out_over_otlp_when_the_endpoint_is_set(recorded: Recorded, collector: list[Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    line = export_otlp(recorded.events, recorded.level.name)
    assert line is not None and line.startswith("exported"), line
    assert collector and all(path == "/v1/traces" for path, _ in collector)
    trace_ids, services = set(), set()
    for _, body in collector:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            services.add(attrs["service.name"])
            assert attrs["service.namespace"] == "telemetry-row"
            for scope in resource_spans.scope_spans:
                trace_ids.update(span.trace_id.hex() for span in scope.spans)
    assert trace_ids == {e["trace"] for e in recorded.events if e["kind"] == "sent"}
    assert {"alice", "ben", "cara", "dev", "eli"} <= services  # each student's proxy is a service
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert export_otlp(recorded.events) is None  # no endpoint, no export


# --- tap, stat, top ----------------------------------------------------------------------

def test_tap_prints_one_line_per_note_event(recorded: Recorded) -> None:
    done = classroom("tap", "--from", str(recorded.file))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == sum(1 for e in recorded.events if "note" in e)
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
        assert fields["tls"] == "true", line  # STRICT mTLS: every link the notes crossed
        assert IDENTITY.fullmatch(fields["src"]) and IDENTITY.fullmatch(fields["dst"]), line
        assert fields["proxy"] in ("in", "out")
    hops = [line for line in lines if line.startswith("hop ")]
    assert hops and all(re.search(r" latency=\d+µs", line) and "peer_id=spiffe://" in line for line in hops)
    ends = [line for line in lines if line.startswith("end ")]
    assert len(ends) == 15
    assert sum(":status=delivered" in line for line in ends) == recorded.report["notes"]["delivered"]
    assert all(re.search(r" latency=\d+µs$", line) for line in ends)
    absent = [line for line in ends if "id=alice>gus#" in line]
    assert len(absent) == 3 and all("flag=UH" in line and "cause=absent" in line for line in absent)


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.strip().splitlines()
    return re.split(r"\s{2,}", lines[0].strip()), [line.split() for line in lines[1:]]


def test_stat_shows_each_student_as_linkerd_viz_stat_does(recorded: Recorded) -> None:
    done = classroom("stat", "--from", str(recorded.file))
    assert done.returncode == 0, done.stderr
    head, rows = table_rows(done.stdout)
    assert head == ["NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99",
                    "TCP_CONN"]
    by_name = {row[0]: row for row in rows}
    assert set(by_name) == {s.name for s in recorded.level.students}
    alice = by_name["alice"]
    notes = recorded.report["notes"]
    assert alice[1] == "1/1" and alice[2] == f"{100 * notes['delivered'] / notes['sent']:.2f}%"
    assert re.fullmatch(r"\d+\.\drps", alice[3])
    assert all(re.fullmatch(r"\d+(\.\d)?ms", cell) for cell in alice[4:7])
    p50 = float(alice[4].removesuffix("ms"))
    assert p50 == pytest.approx(recorded.report["latency_ms"]["p50"], abs=0.6)  # the same notes as the report
    assert by_name["gus"][1:3] == ["0/1", "-"]  # absent: no sidecar, no traffic
    assert by_name["ben"][1:3] == ["1/1", "-"] and by_name["ben"][7] == "4"  # two neighbours, both ways


def test_top_shows_each_route_as_linkerd_viz_top_does(recorded: Recorded) -> None:
    view = MeshView.of(read_recording(recorded.file).events)
    head, rows = table_rows(view.top())
    assert head == ["Source", "Destination", "Method", "Path", "Count", "Best", "Worst", "Last",
                    "Success Rate"]
    by_route = {(row[0], row[1]): row for row in rows}
    fay = by_route[("alice", "fay")]
    delivered_to_fay = sum(1 for e in recorded.events if e["kind"] == "result" and e["to"] == "fay"
                           and e["state"] == "delivered")
    assert fay[2:5] == ["NOTE", "/alice/ben/cara/dev/eli/fay", "12"]
    assert fay[8] == f"{100 * delivered_to_fay / 12:.2f}%"
    assert by_route[("alice", "gus")][3:] == ["-", "3", "-", "-", "-", "0.00%"]
    done = classroom("top", "--from", str(recorded.file))
    assert done.returncode == 0 and done.stdout.strip() == view.top()


def test_tap_says_unknown_for_links_it_has_not_seen() -> None:
    view = MeshView()
    event = {"kind": "forwarded", "note": "alice>fay#1", "hand": "ben", "attempt": 1, "t": 1.0,
             "src": "proxy-ben"}
    view.observe(event)
    line = tap_line(event, view.book)
    assert line == "forwarded id=alice>fay#1 proxy=in hand=ben src=alice dst=fay tls=unknown attempt=1"
    view.observe({"kind": "link_up", "hand": "ben", "peer": "alice", "tls": None, "t": 1.0,
                  "src": "proxy-ben"})
    assert "tls=false" in (tap_line(event, view.book) or "")


def test_a_tap_joining_late_learns_links_and_cards_from_the_snapshot() -> None:
    view = MeshView()
    identity = "spiffe://classroom.local/ns/first-note/sa/fay"
    view.observe({"kind": "subscribed", "t": 5.0, "src": "office", "version": 1, "snapshot": [
        {"kind": "link_up", "hand": "ben", "peer": "alice", "tls": "TLSv1.3", "t": 1.0, "src": "proxy-ben"},
        {"kind": "cert_issued", "hand": "fay", "identity": identity, "t": 0.5, "src": "office"},
    ]})
    event = {"kind": "forwarded", "note": "alice>fay#1", "hand": "ben", "attempt": 1, "t": 6.0,
             "src": "proxy-ben"}
    view.observe(event)
    line = tap_line(event, view.book) or ""
    assert "tls=true" in line and f"dst={identity}" in line, line


# --- metrics -----------------------------------------------------------------------------

def samples(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        out.setdefault(family.name, []).extend(family.samples)
    return out


def test_metrics_count_notes_by_outcome_and_route(recorded: Recorded) -> None:
    metrics = MeshMetrics()
    metrics.observe_batch(recorded.events)
    found = samples(metrics.exposition().decode())
    notes = {(s.labels["dst"], s.labels["outcome"], s.labels["flag"]): s.value
             for s in found["classroom_notes"]}
    report = recorded.report
    delivered = sum(v for (_, outcome, _), v in notes.items() if outcome == "delivered")
    assert delivered == report["notes"]["delivered"]
    assert notes[("gus", "failed", "UH")] == 3
    assert sum(s.value for s in found["classroom_retries"]) == report["retries"]
    latency = {s.name: s.value for s in found["classroom_note_latency_seconds"] if s.labels["dst"] == "fay"}
    assert latency["classroom_note_latency_seconds_count"] == sum(
        1 for e in recorded.events
        if e["kind"] == "result" and e["to"] == "fay" and e["state"] == "delivered")


async def test_the_office_serves_metrics_while_the_round_runs(write_level) -> None:
    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 30, "every": "100ms", "text": "hi"}])
    level = load_level(str(write_level(doc)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results, five_settled = [0], asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("kind") == "result":
            results[0] += 1
            if results[0] >= 5:
                five_settled.set()

    round_ = Round(level, level.resources, seed=7, metrics_port=port, on_event=on_event)
    task = asyncio.get_running_loop().create_task(round_.run())
    await asyncio.wait_for(five_settled.wait(), 30)

    def scrape() -> tuple[str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return response.headers["Content-Type"], response.read().decode()

    content_type, text = await asyncio.get_running_loop().run_in_executor(None, scrape)
    result = await task
    assert content_type.startswith("text/plain")
    found = samples(text)
    for name in ("classroom_notes_sent", "classroom_notes", "classroom_note_latency_seconds",
                 "classroom_hop_latency_seconds", "classroom_handshakes", "classroom_tls_rejections",
                 "classroom_retries", "classroom_ejections", "classroom_certificate_expiry_timestamp_seconds",
                 "classroom_notes_in_flight", "classroom_events"):
        assert name in found, name
    handshakes = {(s.labels["hand"], s.labels["direction"]): s for s in found["classroom_handshakes"]}
    assert all(s.labels["tls"] == "TLSv1.3" for s in handshakes.values()) and len(handshakes) == 14
    expiry = {s.labels["student"]: s.value for s in found["classroom_certificate_expiry_timestamp_seconds"]}
    assert set(expiry) >= set(PATH) and all(v > time.time() for v in expiry.values())
    sent = sum(s.value for s in found["classroom_notes_sent"])
    assert 5 <= sent <= 30
    assert sum(1 for e in result.events if e["kind"] == "result" and e["state"] == "delivered") == 30
    assert wait_gone(round_.pids()) == []


# --- the event stream --------------------------------------------------------------------

async def test_a_subscriber_joining_mid_round_gets_the_office_snapshot(write_level) -> None:
    from classroom.telemetry.live import follow

    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 30, "every": "100ms", "text": "hi"}])
    level = load_level(str(write_level(doc)))
    settled = asyncio.Event()  # the room is up and notes are moving

    def on_event(event: dict[str, Any]) -> None:
        if event.get("kind") == "result":
            settled.set()

    round_ = Round(level, level.resources, seed=7, on_event=on_event)
    task = asyncio.get_running_loop().create_task(round_.run())
    await asyncio.wait_for(settled.wait(), 30)
    assert round_.events_address is not None
    late: list[dict[str, Any]] = []
    await follow(round_.events_address, late.append, seconds=0.5)
    await task
    assert late and late[0]["kind"] == "subscribed"
    snapshot = late[0]["snapshot"]
    links = {(e["hand"], e["peer"]) for e in snapshot if e["kind"] in ("link_up", "link_accepted")}
    assert ("alice", "ben") in links or ("ben", "alice") in links
    assert all(e.get("tls") == "TLSv1.3" for e in snapshot if e["kind"] in ("link_up", "link_accepted"))
    cards = {e["hand"] for e in snapshot if e["kind"].startswith("cert_")}
    assert {"alice", "fay"} <= cards
    assert wait_gone(round_.pids()) == []


async def test_a_subscriber_that_stops_reading_does_not_slow_delivery(write_level) -> None:
    burst, trickle = 600, 40
    doc = level_doc(traffic=[
        {"from": "alice", "to": "fay", "count": burst, "every": "1ms", "text": "Lunch at the fountain?"},
        {"from": "gus", "to": "dev", "count": trickle, "every": "100ms", "text": "Homework?"},
    ])
    level = load_level(str(write_level(doc)))
    seen: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event)
        subscribed.set()  # the first event: the runner's hub is listening on its events port

    buffer = 128 * 1024
    round_ = Round(level, level.resources, seed=7, on_event=on_event, subscriber_buffer=buffer)
    loop = asyncio.get_running_loop()
    task = loop.create_task(round_.run())
    await asyncio.wait_for(subscribed.wait(), 30)
    assert round_.events_address is not None
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds little for it
    stalled.setblocking(False)
    await loop.sock_connect(stalled, round_.events_address)
    try:
        # The stalled subscriber reads nothing while alice's burst goes through.
        deadline = time.monotonic() + 60
        while sum(1 for e in seen if e.get("kind") == "result" and e.get("from") == "alice") < burst:
            assert time.monotonic() < deadline and not task.done(), "the burst did not settle"
            await asyncio.sleep(0.05)
        # Now it reads again: it hears how many events it missed, and the stream goes on.
        decoder, heard = wire.FrameDecoder(), []
        while not any(e.get("kind") == "missed" for e in heard) and not task.done():
            try:
                data = await asyncio.wait_for(loop.sock_recv(stalled, 65536), 1.0)
            except TimeoutError:
                continue
            if not data:
                break
            decoder.receive_data(data)
            heard.extend(e for frame in decoder.frames() for e in frame.header.get("events", ()))
        result = await task
    finally:
        stalled.close()
    report = build_report(level, 7, result.events, result.processes)
    assert not result.timed_out and report["ledger_ok"]
    assert report["notes"]["delivered"] == report["notes"]["sent"] == burst + trickle
    latencies = [e["latency"] for e in result.events if e["kind"] == "result" and e["from"] == "alice"]
    assert max(latencies) < 5.0  # a generous bound: the stalled reader held no note back
    missed = [e for e in heard if e.get("kind") == "missed"]
    assert missed and missed[0]["count"] > 0
    total = sum(1 for e in result.events if e.get("kind") not in ("subscribed",))
    assert missed[0]["count"] < total  # it missed some, not the whole round
    assert not any(e.get("kind") == "missed" for e in result.events)  # the runner, reading, missed nothing
    assert wait_gone(round_.pids()) == []


def test_a_live_tap_follows_a_served_and_recorded_round(write_level, tmp_path: Path) -> None:
    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 40, "every": "100ms", "text": "hi"}])
    level_file = write_level(doc)
    env = {**os.environ, "COLUMNS": "200"}
    recording, report = tmp_path / "round.jsonl", tmp_path / "run.json"
    command = [sys.executable, "-m", "classroom.cli", "run", str(level_file), "--headless", "--quiet",
               "--serve", "--record", str(recording), "--report", str(report)]
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    tap: subprocess.Popen[str] | None = None
    try:
        assert run.stderr is not None
        address = None
        deadline = time.monotonic() + 30
        while address is None and time.monotonic() < deadline:
            line = run.stderr.readline()
            found = re.search(r"events on (127\.0\.0\.1:\d+)", line)
            address = found.group(1) if found else None
        assert address, "run --serve did not say where its events are"
        tap = subprocess.Popen([sys.executable, "-m", "classroom.cli", "tap", "--connect", address], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert tap.stdout is not None
        first = tap.stdout.readline()
        assert re.match(r"(sent|forwarded|hop|delivered|end) id=alice>fay#\d+ ", first), first
        assert run.poll() is None  # live: the round is still going
        rest, errors = tap.communicate(timeout=60)
        assert tap.returncode == 0, errors  # the stream ended with the round
        lines = [first, *rest.splitlines()]
        assert not [line for line in lines if "tls=unknown" in line]  # early or late, the tap knows the links
        ends = [line for line in lines if line.startswith("end ")]
        assert ends and all(":status=delivered" in line for line in ends)
        assert run.wait(60) == 0
        assert run.stderr.read().count("recorded ") == 1
        assert read_recording(recording).notes() == [f"alice>fay#{i}" for i in range(1, 41)]
        replayed = tmp_path / "replayed.json"
        done = classroom("replay", str(recording), "--quiet", "--report", str(replayed))
        assert done.returncode == 0, done.stderr
        assert json.loads(replayed.read_text())["notes"] == json.loads(report.read_text())["notes"]
    finally:
        for proc in (run, tap):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
