"""Traces: one OpenTelemetry trace per note, one span per hop attempt, and the terminal waterfall.

Theory of operation
-------------------
The proxies already trace: each hop attempt gets a span id, the note's header
carries a W3C ``traceparent`` (``00-<trace>-<span>-01``) to the next hand, and
each attempt ends in a ``span`` event (note, trace, span, parent, hand, peer,
attempt, start, end, outcome, flag).  This module turns those events into
OpenTelemetry SDK spans with the *same* trace and span ids, so that what an
OTLP backend (Jaeger, Tempo, ...) shows matches the headers on the wire:

* each note gets a root span (``note alice>fay#3``, from its ``sent`` event to
  its ``result``), whose id is derived from the trace id, since no hand sends
  it; the sender's own attempts, which had no parent on the wire, hang under it;
* every other attempt's parent is the attempt that handed the note on, so the
  spans nest as the note went from hand to hand;
* each student is an OpenTelemetry service (``service.name`` is the student,
  ``service.namespace`` the level), as each pod's proxy is in a real mesh.

The SDK makes random ids; a small id generator hands it ours instead.
:func:`export_otlp` sends the spans with the OTLP/HTTP exporter when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and does nothing otherwise.
:func:`waterfall` draws one note's spans for ``classroom trace``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classroom.telemetry.viz import Book, duration

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from rich.console import RenderableType

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
SCOPE = "classroom.telemetry"


@dataclass
class NoteTrace:
    """A note's trace as the events told it."""

    note: str
    trace: str  # 32 hex
    sender: str | None = None
    to: str | None = None
    sent: float | None = None
    result: dict[str, Any] | None = None
    hops: list[dict[str, Any]] = field(default_factory=list)  # span events, in the order they ended

    @property
    def root_span(self) -> str:
        """The root span's id (16 hex): derived from the trace id, never zero."""
        digest = hashlib.sha256(f"note:{self.trace}".encode()).hexdigest()[:16]
        return digest if int(digest, 16) else "1".rjust(16, "0")

    @property
    def start(self) -> float:
        times = [float(h["start"]) for h in self.hops]
        if self.sent is not None:
            times.append(self.sent)
        return min(times) if times else 0.0

    @property
    def end(self) -> float:
        times = [float(h["end"]) for h in self.hops]
        if self.result is not None:
            times.append(float(self.result["t"]))
        return max(times) if times else self.start


def collect(events: Iterable[dict[str, Any]]) -> dict[str, NoteTrace]:
    """Every note's trace, by note id (in the order the notes first appear)."""
    notes: dict[str, NoteTrace] = {}
    for event in events:
        kind = event.get("kind")
        if kind not in ("sent", "span", "result") or "note" not in event:
            continue
        note = str(event["note"])
        entry = notes.get(note)
        if entry is None:
            entry = notes[note] = NoteTrace(note, str(event.get("trace") or ""))
        if not entry.trace and event.get("trace"):
            entry.trace = str(event["trace"])
        if kind == "sent":
            entry.sender, entry.to, entry.sent = event.get("from"), event.get("to"), float(event["t"])
        elif kind == "span":
            entry.hops.append(event)
        elif entry.result is None:
            entry.result = event
            entry.sender = entry.sender or event.get("from")
            entry.to = entry.to or event.get("to")
    return {note: t for note, t in notes.items() if _is_hex(t.trace, 32)}


def find(traces: dict[str, NoteTrace], wanted: str) -> NoteTrace | None:
    """A note by its id or its trace id."""
    if wanted in traces:
        return traces[wanted]
    for trace in traces.values():
        if trace.trace == wanted.lower():
            return trace
    return None


def _is_hex(text: str | None, length: int) -> bool:
    if not text or len(text) != length:
        return False
    try:
        return int(text, 16) != 0
    except ValueError:
        return False


# --- OpenTelemetry spans --------------------------------------------------------------------

def otel_spans(events: Iterable[dict[str, Any]], namespace: str | None = None,
               notes: Sequence[str] | None = None) -> list[ReadableSpan]:
    """OpenTelemetry SDK spans for the notes of ``events`` (or only ``notes``), with their real ids."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    events = list(events)
    book = Book(namespace)
    for event in events:
        if event.get("kind") in ("cert_issued", "cert_installed", "link_up", "link_accepted"):
            book.learn(event)
    traces = collect(events)
    if notes is not None:
        traces = {n: traces[n] for n in notes if n in traces}
    memory = InMemorySpanExporter()
    processor = SimpleSpanProcessor(memory)
    ids = _given_ids()
    tracers: dict[str, Any] = {}

    def tracer(service: str) -> Any:
        found = tracers.get(service)
        if found is None:
            attributes = {"service.name": service, "classroom.identity": book.identity(service)}
            if book.namespace:
                attributes["service.namespace"] = book.namespace
            provider = TracerProvider(resource=Resource.create(attributes), id_generator=ids,
                                      shutdown_on_exit=False)
            provider.add_span_processor(processor)
            found = tracers[service] = provider.get_tracer(SCOPE)
        return found

    def parent(trace_id: int, span_hex: str) -> Context:
        context = SpanContext(trace_id, int(span_hex, 16), is_remote=True,
                              trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return otel_trace.set_span_in_context(NonRecordingSpan(context), Context())

    for note in traces.values():
        trace_id = int(note.trace, 16)
        result = note.result or {}
        state = result.get("state", "in_flight")
        ids.trace_id, ids.span_id = trace_id, int(note.root_span, 16)
        root = tracer(note.sender or "classroom").start_span(
            f"note {note.note}", context=Context(), kind=SpanKind.INTERNAL, start_time=_ns(note.start),
            attributes=_attributes({
                "classroom.note": note.note, "classroom.from": note.sender, "classroom.to": note.to,
                "classroom.src_identity": book.identity(note.sender),
                "classroom.dst_identity": book.identity(note.to),
                "classroom.outcome": state, "classroom.flag": result.get("flag"),
                "classroom.cause": result.get("cause"), "classroom.attempts": result.get("attempts"),
                "classroom.path": result.get("path"), "classroom.reason": result.get("reason"),
            }))
        if state == "failed":
            why = result.get("reason") or result.get("flag") or "failed"
            root.set_status(Status(StatusCode.ERROR, str(why)))
        elif state == "delivered":
            root.set_status(Status(StatusCode.OK))
        root.end(_ns(note.end))
        for hop in note.hops:
            if not _is_hex(hop.get("span"), 16):
                continue
            parent_hex = hop.get("parent") if _is_hex(hop.get("parent"), 16) else note.root_span
            ids.span_id = int(hop["span"], 16)
            outcome = str(hop.get("outcome"))
            span = tracer(str(hop.get("hand"))).start_span(
                f"{hop.get('hand')} > {hop.get('peer')}", context=parent(trace_id, str(parent_hex)),
                kind=SpanKind.CLIENT, start_time=_ns(float(hop["start"])),
                attributes=_attributes({
                    "classroom.note": note.note, "classroom.hand": hop.get("hand"),
                    "classroom.peer": hop.get("peer"),
                    "classroom.peer_identity": book.identity(hop.get("peer")),
                    "classroom.attempt": hop.get("attempt"), "classroom.outcome": outcome,
                    "classroom.flag": hop.get("flag"), "peer.service": hop.get("peer"),
                }))
            span.set_status(Status(StatusCode.OK) if outcome == "delivered"
                            else Status(StatusCode.ERROR, f"{outcome} {hop.get('flag') or ''}".strip()))
            span.end(_ns(float(hop["end"])))
    return list(memory.get_finished_spans())


def _given_ids() -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class GivenIds(IdGenerator):
        """Hands the SDK the ids the proxies made, instead of random ones."""

        trace_id = 0
        span_id = 0

        def generate_span_id(self) -> int:
            return self.span_id

        def generate_trace_id(self) -> int:
            return self.trace_id

    return GivenIds()


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry attributes: no None, lists of strings as they are."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = [str(v) for v in value] if isinstance(value, list) else value
    return out


# --- OTLP export ------------------------------------------------------------------------------

def otlp_endpoint() -> str | None:
    """Where spans go: the OTLP endpoint the environment names, or None (no export)."""
    return os.environ.get(TRACES_ENDPOINT_ENV) or os.environ.get(ENDPOINT_ENV) or None


def export_otlp(events: Iterable[dict[str, Any]], namespace: str | None = None) -> str | None:
    """Export every note's spans over OTLP/HTTP when the endpoint is set; one line saying how it went."""
    endpoint = otlp_endpoint()
    if endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    spans = otel_spans(events, namespace)
    if not spans:
        return f"no spans to export to {endpoint}"
    exporter = OTLPSpanExporter()
    quiet = logging.getLogger("opentelemetry.exporter.otlp.proto.http")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the one line below says how it went
    try:
        ok = all(exporter.export(spans[i:i + 512]) is SpanExportResult.SUCCESS
                 for i in range(0, len(spans), 512))
    finally:
        exporter.shutdown()
        quiet.setLevel(level)
    traces = len({s.context.trace_id for s in spans if s.context is not None})
    if ok:
        return f"exported {len(spans)} spans ({traces} traces) over OTLP to {endpoint}"
    return f"OTLP export of {len(spans)} spans to {endpoint} failed"


# --- the waterfall --------------------------------------------------------------------------

def waterfall(note: NoteTrace, spans: Sequence[ReadableSpan], columns: int = 100) -> RenderableType:
    """One note's spans (from :func:`otel_spans`), hops nested under the note, each with a bar in time.

    ``columns`` is the width to fill (the terminal's); the bars get what the other columns leave.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in by_id else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (s.start_time or 0, s.name))
    rows: list[tuple[int, ReadableSpan]] = []  # depth first: each hop under the one that handed it on

    def walk(span: ReadableSpan, depth: int) -> None:
        rows.append((depth, span))
        for child in children.get(span.context.span_id if span.context else None, ()):
            walk(child, depth + 1)

    for root in children.get(None, ()):
        walk(root, 0)
    t0 = min((s.start_time or 0) for s in spans) if spans else 0
    t1 = max((s.end_time or 0) for s in spans) if spans else 0
    total = max(t1 - t0, 1)

    def label(depth: int, span: ReadableSpan) -> str:
        attrs = span.attributes or {}
        if depth == 0:
            return span.name
        return "  " * (depth - 1) + f"└ {attrs.get('classroom.hand')} > {attrs.get('classroom.peer')}"

    labels = [label(depth, span) for depth, span in rows]
    # span, try, outcome, flag, start, duration, and two spaces between columns
    used = max((len(x) for x in labels), default=4) + 3 + 9 + 4 + 8 + 8 + 2 * 6
    width = max(10, columns - used)

    result = note.result or {}
    state = result.get("state", "in flight")
    colour = {"delivered": "green", "failed": "red"}.get(state, "yellow")
    title = Text.assemble(
        (f"note {note.note}", "bold"), f"  {note.sender} -> {note.to}  ", (state, colour),
        f" after {duration(result['latency'])}" if result.get("latency") is not None else "",
        f"  flag {result['flag']}" if result.get("flag") else "",
        f"  ({_plural(int(result.get('attempts', 1)), 'attempt')} at the sender)" if result else "",
        f"\ntrace {note.trace}",
    )
    grid = Table(box=None, pad_edge=False, header_style="bold", collapse_padding=True)
    for name, justify in (("span", "left"), ("try", "right"), ("outcome", "left"), ("flag", "left"),
                          ("start", "right"), ("duration", "right"), ("", "left")):
        grid.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for (depth, span), text in zip(rows, labels, strict=True):
        attrs = span.attributes or {}
        start, end = span.start_time or t0, span.end_time or t0
        offset = min(round((start - t0) / total * width), width - 1)
        length = max(1, min(round((end - start) / total * width), width - offset))
        outcome = str(attrs.get("classroom.outcome", ""))
        style = "green" if outcome == "delivered" else "yellow" if outcome == "in_flight" else "red"
        grid.add_row(
            text, "" if depth == 0 else str(attrs.get("classroom.attempt", "")),
            Text(outcome, style=style), str(attrs.get("classroom.flag") or ""),
            f"+{duration((start - t0) / 1e9)}", duration((end - start) / 1e9),
            Text(" " * offset + "━" * length, style=style),
        )
    hops = len(spans) - 1
    footer = Text(f"{_plural(hops, 'hop attempt')}; the bars span {duration(total / 1e9)}", style="dim")
    return Group(title, grid, footer)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
