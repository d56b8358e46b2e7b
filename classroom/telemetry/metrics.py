"""Prometheus metrics of a round, fed by its events and served by the office at ``/metrics``.

Theory of operation
-------------------
The office sees every event of the round (it fans them out).  When the round
is run with ``--metrics-port N``, the office also feeds each batch to a
:class:`MeshMetrics`, a prometheus-client registry of its own (never the
process-wide default one), and serves it on ``http://127.0.0.1:N/metrics``
from prometheus-client's small HTTP server thread, for as long as the round
runs.  Counting is a few dictionary look-ups per event on the office's loop;
the proxies, which carry the notes, do nothing more.

What is counted (``classroom_`` prefix):

* ``notes_sent_total{src,dst}``, ``notes_total{src,dst,outcome,flag}``,
  ``notes_in_flight``: notes by outcome and route (sender, recipient);
* ``note_latency_seconds{src,dst}``: delivered notes, send to answer;
  ``hop_latency_seconds{hand,peer}`` and ``hop_attempts_total{hand,peer,outcome}``:
  each hop attempt (from the span events; absent when telemetry is off);
* ``arrivals_total{hand,kind}``: how each note's arrival at a hand ended
  (forwarded, refused, dropped, delivered, duplicate_suppressed, ...);
* ``retries_total{hand}``, ``ejections_total{hand,peer}``,
  ``retry_budget_exhausted_total{hand}``;
* ``handshakes_total{hand,direction,tls}`` (links that came up, TLS version
  or ``none``), ``tls_rejections_total{hand,direction}``;
* ``certificate_expiry_timestamp_seconds{student,identity}``: when each
  student's current certificate expires (unix seconds, as x509 exporters
  report it); ``certificates_total{student,event}`` (issued, rotated),
  ``ca_rotations_total``;
* ``policy_denied_total{hand,policy}``: notes an AuthorizationPolicy refused;
* ``events_total{kind}``: every event, by kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from classroom.mesh.runtime import wire
from classroom.report import ARRIVALS

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0)


class MeshMetrics:
    """A round's Prometheus registry, updated from events."""

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: a round is short, and they double the page
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.sent = Counter("classroom_notes_sent", "Notes students handed to their sidecars, by route",
                            ["src", "dst"], registry=registry)
        self.notes = Counter("classroom_notes", "Notes settled, by route and outcome (flag: Envoy's)",
                             ["src", "dst", "outcome", "flag"], registry=registry)
        self.in_flight = Gauge("classroom_notes_in_flight", "Notes sent and not yet settled",
                               registry=registry)
        self.note_latency = Histogram("classroom_note_latency_seconds",
                                      "Delivered notes: from the sender's proxy taking it to the answer",
                                      ["src", "dst"], buckets=LATENCY_BUCKETS, registry=registry)
        self.hop_latency = Histogram("classroom_hop_latency_seconds",
                                     "One hop attempt, hand to next hand and back", ["hand", "peer"],
                                     buckets=LATENCY_BUCKETS, registry=registry)
        self.hops = Counter("classroom_hop_attempts", "Hop attempts by outcome", ["hand", "peer", "outcome"],
                            registry=registry)
        self.arrivals = Counter("classroom_arrivals", "Notes arriving at a hand, by what the hand did",
                                ["hand", "kind"], registry=registry)
        self.retries = Counter("classroom_retries", "Retries made by a hand", ["hand"], registry=registry)
        self.budget = Counter("classroom_retry_budget_exhausted", "Retries a retry budget did not allow",
                              ["hand"], registry=registry)
        self.ejections = Counter("classroom_ejections", "Neighbours ejected by outlier detection",
                                 ["hand", "peer"], registry=registry)
        self.handshakes = Counter("classroom_handshakes", "Links that came up (tls: TLS version or none)",
                                  ["hand", "direction", "tls"], registry=registry)
        self.tls_rejections = Counter("classroom_tls_rejections",
                                      "Connections refused during or after the handshake",
                                      ["hand", "direction"], registry=registry)
        self.cert_expiry = Gauge("classroom_certificate_expiry_timestamp_seconds",
                                 "When each student's current certificate expires (unix seconds)",
                                 ["student", "identity"], registry=registry)
        self.certificates = Counter("classroom_certificates", "Certificates the class CA signed",
                                    ["student", "event"], registry=registry)
        self.ca_rotations = Counter("classroom_ca_rotations", "Class CA rotations", registry=registry)
        self.denied = Counter("classroom_policy_denied", "Notes an AuthorizationPolicy refused",
                              ["hand", "policy"], registry=registry)
        self.events = Counter("classroom_events", "Events of the round, by kind", ["kind"], registry=registry)
        self._open: set[str] = set()
        self._server: Any = None

    # --- feeding ------------------------------------------------------------------------
    def observe_batch(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.observe(event)

    def observe_frame(self, data: bytes) -> None:
        """An encoded EVENT frame (the office's own batches leave its EventBatch encoded)."""
        self.observe_batch(events_of(data))

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if not isinstance(kind, str):
            return
        self.events.labels(kind).inc()
        hand = str(event.get("hand", ""))
        if kind in ARRIVALS and (kind != "dropped" or event.get("what") == "note"):
            self.arrivals.labels(hand, kind).inc()
        if kind == "sent":
            self.sent.labels(str(event.get("from")), str(event.get("to"))).inc()
            self._open.add(str(event.get("note")))
            self.in_flight.set(len(self._open))
        elif kind == "result":
            src, dst = str(event.get("from")), str(event.get("to"))
            state = str(event.get("state"))
            self.notes.labels(src, dst, state, str(event.get("flag") or "")).inc()
            if state == "delivered" and event.get("latency") is not None:
                self.note_latency.labels(src, dst).observe(float(event["latency"]))
            self._open.discard(str(event.get("note")))
            self.in_flight.set(len(self._open))
        elif kind == "span":
            peer, outcome = str(event.get("peer")), str(event.get("outcome"))
            self.hops.labels(hand, peer, outcome).inc()
            if outcome == "delivered":
                seconds = max(float(event["end"]) - float(event["start"]), 0.0)
                self.hop_latency.labels(hand, peer).observe(seconds)
        elif kind == "retried":
            self.retries.labels(hand).inc()
        elif kind == "retry_budget_exhausted":
            self.budget.labels(hand).inc()
        elif kind == "ejected":
            self.ejections.labels(hand, str(event.get("peer"))).inc()
        elif kind in ("link_up", "link_accepted"):
            direction = "outbound" if kind == "link_up" else "inbound"
            self.handshakes.labels(hand, direction, str(event.get("tls") or "none")).inc()
        elif kind == "tls_rejected":
            self.tls_rejections.labels(hand, str(event.get("direction", ""))).inc()
        elif kind in ("cert_issued", "cert_rotated", "cert_installed"):
            if kind != "cert_installed":
                self.certificates.labels(hand, kind.removeprefix("cert_")).inc()
            if event.get("not_after") is not None:
                self.cert_expiry.labels(hand, str(event.get("identity", ""))).set(float(event["not_after"]))
        elif kind == "ca_rotated":
            self.ca_rotations.inc()
        elif kind == "policy_denied":
            self.denied.labels(hand, str(event.get("policy") or "")).inc()

    # --- serving -------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The registry in Prometheus's text format, as ``/metrics`` serves it."""
        return bytes(generate_latest(self.registry))

    def serve(self, port: int, host: str = "127.0.0.1") -> str | None:
        """Serve ``/metrics`` on host:port from a thread; None, or why it could not."""
        from prometheus_client import start_http_server

        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            return f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        return None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def events_of(data: bytes) -> list[dict[str, Any]]:
    """The events of one encoded EVENT frame (for tests and tools)."""
    decoder = wire.FrameDecoder()
    decoder.receive_data(data)
    return [event for frame in decoder.frames() for event in frame.header.get("events", ())]
