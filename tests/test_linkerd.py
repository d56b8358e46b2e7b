"""A Linkerd class as a user meets it: Linkerd's own kinds load or are refused at their line, and act as Linkerd's.

The shapes are checked through a level's loader (a ``--config`` against a level whose profile is linkerd), so
every refusal is the one line a player sees; the compiled policy is asked what a hand would decide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import level_doc

from classroom.level import LevelError, load_config, load_level
from classroom.level.model import Level
from classroom.mesh.control import authz, linkerd, pki
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.request import Operation

NS = "test-row"
SUFFIX = ".serviceaccount.identity.linkerd.cluster.local"


def card(name: str) -> str:
    return pki.principal(pki.spiffe_id(NS, name))


def server(name: str = "penny-desk", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server", "metadata": {"name": name},
            "spec": {"podSelector": {"matchLabels": labels if labels is not None else {"app": "fay"}},
                     "port": "notes", **spec}}


def mesh_tls(name: str = "friends", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
            "metadata": {"name": name}, "spec": spec}


def authorization(target: str = "penny-desk", refs: list[dict[str, Any]] | None = None,
                  kind: str = "Server") -> dict[str, Any]:
    group = "policy.linkerd.io" if kind == "Server" else "core"
    return {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "AuthorizationPolicy", "metadata": {"name": "ok"},
            "spec": {"targetRef": {"group": group, "kind": kind, "name": target},
                     "requiredAuthenticationRefs": refs if refs is not None else [
                         {"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": "friends"}]}}


def route(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "fay"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta,
            "spec": {"parentRefs": [{"group": "core", "kind": "Service", "name": "fay"}],
                     "rules": [{"backendRefs": [{"name": "fay"}]}], **spec}}


@pytest.fixture
def level(tmp_path: Path) -> Level:
    doc = level_doc(name=NS)
    doc["mesh"] = {"profile": "linkerd", "resources": []}
    path = tmp_path / "linkerd-level.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_level(str(path))


@pytest.fixture
def load(tmp_path: Path, level: Level):
    """Load resources as a player's --config; returns them, or the refusal's one line."""

    def run(*resources: dict[str, Any], text: str | None = None) -> tuple[dict[str, Any], ...]:
        path = tmp_path / "mine.yaml"
        path.write_text(text if text is not None else yaml.safe_dump(list(resources), sort_keys=False))
        return load_config(str(path), level)

    return run


def refusal(load, *resources: dict[str, Any], text: str | None = None) -> str:
    with pytest.raises(LevelError) as caught:
        load(*resources, text=text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def decide(resources: Any, student: str, sender: str | None, labels: dict[str, str] | None = None) -> bool:
    policy = mesh_policy(resources, "linkerd", NS)
    principal = card(sender) if sender is not None else None
    return authz.decide(policy.authz, student, principal, student, labels, Operation()).allowed


# --------------------------------------------------------------------------- shapes that load


def test_linkerd_resources_load_under_the_linkerd_profile(load) -> None:
    loaded = load(server(proxyProtocol="HTTP/1", accessPolicy="deny"),
                  mesh_tls(identities=[f"ben.{NS}{SUFFIX}", f"*.{NS}{SUFFIX}", "*"]),
                  authorization(),
                  route({"retry.linkerd.io/http": "5xx,500-504", "retry.linkerd.io/limit": "3",
                         "retry.linkerd.io/timeout": "300ms", "timeout.linkerd.io/request": "2s"},
                        rules=[{"matches": [{"path": {"type": "PathPrefix", "value": "/note"}}],
                                "backendRefs": [{"name": "fay", "weight": 90}, {"name": "eli", "weight": 10}]}]),
                  {"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": NS, "annotations": {"config.linkerd.io/default-inbound-policy": "deny"}}})
    assert [r["kind"] for r in loaded] == ["Server", "MeshTLSAuthentication", "AuthorizationPolicy", "HTTPRoute",
                                           "Namespace"]


# --------------------------------------------------------------------------- refusals, each at its line


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("resource", "needle", "expected"), [
    (server(port=8080), "port:", "port 8080: a desk's note port has no fixed number"),
    (server(port="http"), "port:", "a desk takes notes on one port, named notes"),
    (server(proxyProtocol="opaque"), "proxyProtocol", "proxyProtocol opaque is not supported here: a hand reads"),
    (server(accessPolicy="audit"), "accessPolicy", "accessPolicy audit is not supported here: the class keeps no"),
    (mesh_tls(identities=["ben"]), "- ben", "'ben' is not a Linkerd identity: write <student>.<namespace>"),
    (mesh_tls(identities=[f"zed.{NS}{SUFFIX}"]), "zed.", "'zed' is not a student or a service of this level"),
    (mesh_tls(identities=[f"ben.elsewhere{SUFFIX}"]), "ben.elsewhere", "'elsewhere' is not this class's namespace"),
    (mesh_tls(), "spec: {}", "needs identities or identityRefs, one of them"),
    (authorization(refs=[{"group": "policy.linkerd.io", "kind": "NetworkAuthentication", "name": "x"}]),
     "NetworkAuthentication", "NetworkAuthentication is not supported here: there are no IP addresses"),
    (authorization(kind="HTTPRoute"), "kind: HTTPRoute", "the class's HTTPRoutes are outbound routes"),
    (route({"retry.linkerd.io/limit": 3, "retry.linkerd.io/http": "5xx"}), "retry.linkerd.io/limit",
     "must be text, as every Kubernetes annotation is: write it in quotes (\"3\")"),
    (route({"retry.linkerd.io/limit": "3"}), "annotations:", "sets retry.linkerd.io/limit without "
     "retry.linkerd.io/http"),
    (route({"retry.linkerd.io/http": "5xx", "retry.linkerd.io/timeout": "300"}), "retry.linkerd.io/timeout",
     "needs its unit, as Linkerd asks"),
    (route({"retry.linkerd.io/http": "teapot"}), "retry.linkerd.io/http", "'teapot' is not a status Linkerd "
     "retries on"),
    (route({"retry.linkerd.io/grpc": "unavailable"}), "retry.linkerd.io/grpc", "notes are not gRPC calls"),
    (route({"balancer.linkerd.io/failure-accrual": "consecutive"}), "failure-accrual",
     "Linkerd reads failure accrual from a Service's annotations"),
    (route(rules=[{"backendRefs": [{"name": "zed"}]}]), "name: zed", "'zed' is not a student or a service"),
    (route(rules=[{"filters": []}]), "filters", "filters is not supported here: hands never add or remove"),
    (route(rules=[{"matches": [{"method": "GET"}]}]), "- matches", "has no backendRefs: the class needs"),
    (route(parentRefs=[{"kind": "Service", "name": "fay"}]), "kind: Service", "needs group: core"),
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}, "name: other",
     "'other' is not this class's namespace"),
])
def test_a_field_linkerd_has_and_the_class_cannot_act_on_is_refused_at_its_line(
        load, tmp_path: Path, resource: dict[str, Any], needle: str, expected: str) -> None:
    text = yaml.safe_dump([resource], sort_keys=False)
    message = refusal(load, text=text)
    assert message.startswith(f"{tmp_path / 'mine.yaml'}:{_line(text, needle)}: "), message
    assert expected in message


def test_two_servers_on_one_students_port_are_refused(load, tmp_path: Path) -> None:
    text = yaml.safe_dump([server("a", {}), server("b")], sort_keys=False)
    message = refusal(load, text=text)
    second = [i for i, line in enumerate(text.splitlines(), 1) if line.startswith("- ")][1]
    assert message.startswith(f"{tmp_path / 'mine.yaml'}:{second}: resources[1] picks the "
                              "port of fay, which Server 'a' (resources[0]) already picks"), message
    assert load(server("a", {"app": "eli"}), server("b"))  # two students, a Server each


ISTIO = {
    "VirtualService": ("networking.istio.io/v1", {"hosts": ["fay"], "http": [{"route": [
        {"destination": {"host": "fay"}}]}]}, "linkerd does this with an HTTPRoute"),
    "DestinationRule": ("networking.istio.io/v1", {"host": "fay"},
                        "linkerd does this with a Service's balancer.linkerd.io/failure-accrual annotations"),
    "AuthorizationPolicy": ("security.istio.io/v1", {}, "linkerd does this with a Server (policy.linkerd.io/v1beta3)"),
    "PeerAuthentication": ("security.istio.io/v1", {}, "linkerd does this with automatic mTLS between every meshed"),
}


@pytest.mark.parametrize("kind", list(ISTIO))
def test_each_istio_kind_is_refused_under_linkerd_saying_what_linkerd_does(load, tmp_path: Path, kind: str) -> None:
    version, spec, instead = ISTIO[kind]
    text = yaml.safe_dump([{"apiVersion": version, "kind": kind, "metadata": {"name": "x"}, "spec": spec}],
                          sort_keys=False)
    shown = f"{kind} (security.istio.io)" if kind == "AuthorizationPolicy" else kind
    message = refusal(load, text=text)
    assert message.startswith(f"{tmp_path / 'mine.yaml'}:{_line(text, 'kind:')}: resources[0].kind: "
                              f"{shown} is not a linkerd resource; {instead}"), message


def test_linkerd_kinds_are_refused_under_istio(tmp_path: Path) -> None:
    doc = level_doc()
    doc["mesh"]["resources"].append(server(labels={}))
    path = tmp_path / "istio.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(LevelError, match=r"kind: Server \(policy.linkerd.io\) is Linkerd's, and istio has no such"):
        load_level(str(path))


# --------------------------------------------------------------------------- what a hand decides


def test_with_no_server_every_note_is_let_in_even_plaintext() -> None:
    assert decide([], "fay", "ben") and decide([], "fay", None)  # all-unauthenticated, Linkerd's default


def test_a_server_denies_everything_until_authorized() -> None:
    alone = [server()]
    assert not decide(alone, "fay", "ben") and not decide(alone, "fay", None)
    assert decide(alone, "eli", "ben")  # a student the Server does not pick keeps the default


def test_an_authorization_lets_in_the_identities_it_names_and_no_plaintext() -> None:
    resources = [server(), mesh_tls(identities=[f"ben.{NS}{SUFFIX}"]), authorization()]
    assert decide(resources, "fay", "ben")
    assert not decide(resources, "fay", "cara") and not decide(resources, "fay", None)


def test_a_namespace_wildcard_lets_in_every_classmate() -> None:
    resources = [server(), mesh_tls(identities=[f"*.{NS}{SUFFIX}"]), authorization()]
    assert decide(resources, "fay", "ben") and decide(resources, "fay", "cara") and not decide(resources, "fay", None)


def test_identity_refs_name_service_accounts_and_every_ref_must_hold() -> None:
    both = [server(), mesh_tls(identityRefs=[{"kind": "ServiceAccount", "name": "ben"}]),
            authorization(refs=[{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": "friends"},
                                {"kind": "ServiceAccount", "name": "cara"}])]
    assert not decide(both, "fay", "ben") and not decide(both, "fay", "cara")  # all must match: nobody is both
    one = [server(), mesh_tls(identityRefs=[{"kind": "ServiceAccount", "name": "ben"}]), authorization()]
    assert decide(one, "fay", "ben") and not decide(one, "fay", "cara")


def test_an_authorization_of_the_namespace_covers_every_server_in_it() -> None:
    resources = [server(), mesh_tls(identities=["*"]), authorization(NS, kind="Namespace")]
    assert decide(resources, "fay", "ben") and not decide(resources, "fay", None)


def test_a_ref_to_a_missing_authentication_authorizes_nothing() -> None:
    assert not decide([server(), authorization()], "fay", "ben")


@pytest.mark.parametrize(("access", "meshed", "plaintext"), [
    ("deny", False, False), ("all-authenticated", True, False), ("cluster-authenticated", True, False),
    ("all-unauthenticated", True, True), ("cluster-unauthenticated", True, True)])
def test_a_servers_access_policy_is_its_default(access: str, meshed: bool, plaintext: bool) -> None:
    resources = [server(accessPolicy=access)]
    assert (decide(resources, "fay", "ben"), decide(resources, "fay", None)) == (meshed, plaintext)


@pytest.mark.parametrize(("default", "meshed", "plaintext"), [
    ("deny", False, False), ("all-authenticated", True, False), ("all-unauthenticated", True, True)])
def test_the_namespaces_default_inbound_policy_holds_where_no_server_picks(
        default: str, meshed: bool, plaintext: bool) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": NS, "annotations": {"config.linkerd.io/default-inbound-policy": default}}}
    resources = [namespace, server(), mesh_tls(identities=["*"]), authorization()]
    assert (decide(resources, "eli", "ben"), decide(resources, "eli", None)) == (meshed, plaintext)
    assert decide(resources, "fay", "ben") and not decide(resources, "fay", None)  # the Server's own rule


def test_linkerd_identities_map_one_to_one_onto_the_class_cards() -> None:
    assert linkerd.principal_of(f"ben.{NS}{SUFFIX}", NS) == card("ben")
    assert linkerd.linkerd_identity(card("ben")) == f"ben.{NS}{SUFFIX}"
    assert linkerd.principal_of(f"*.{NS}{SUFFIX}", NS) == f"{pki.TRUST_DOMAIN}/ns/{NS}/sa/*"
    assert linkerd.TRUST_DOMAIN == pki.TRUST_DOMAIN


# --------------------------------------------------------------------------- routes


def test_retry_annotations_count_retries_on_the_statuses_named() -> None:
    policy = mesh_policy([route({"retry.linkerd.io/http": "gateway-error,500", "retry.linkerd.io/timeout": "300ms",
                                 "timeout.linkerd.io/request": "2s"})], "linkerd", NS)
    rule = policy.rule("fay")
    retries = policy.retries(rule)
    assert retries.attempts == 1  # retry.linkerd.io/limit's default
    assert retries.retry_on == ("500", "502", "503", "504") and retries.per_try_timeout == 0.3
    timed = mesh_policy([route({"retry.linkerd.io/http": "503", "retry.linkerd.io/timeout": "1s"})], "linkerd", NS)
    assert timed.retries(timed.rule("fay")).retry_on == ("503", "504")  # a try that runs out is retried
    assert policy.note_timeout(rule) == 2.0


def test_a_route_without_retry_annotations_retries_nothing() -> None:
    policy = mesh_policy([route()], "linkerd", NS)
    assert policy.retries(policy.rule("fay")).attempts == 0


def test_the_annotation_timeout_beats_the_rules_own() -> None:
    rules = [{"timeouts": {"request": "5s"}, "backendRefs": [{"name": "fay"}]}]
    assert mesh_policy([route(rules=rules)], "linkerd", NS).note_timeout(mesh_policy(
        [route(rules=rules)], "linkerd", NS).rule("fay")) == 5.0
    policy = mesh_policy([route({"timeout.linkerd.io/request": "1s"}, rules=rules)], "linkerd", NS)
    assert policy.note_timeout(policy.rule("fay")) == 1.0


def test_weighted_backends_split_and_a_path_prefix_matches_whole_segments() -> None:
    policy = mesh_policy([route(rules=[
        {"matches": [{"path": {"type": "PathPrefix", "value": "/note"}}],
         "backendRefs": [{"name": "fay", "weight": 90}, {"name": "eli", "weight": 10}]}])], "linkerd", NS)
    rule = policy.rule("fay", Operation("/note/1"))
    assert rule is not None and [(d.host, d.weight) for d in rule.route] == [("fay", 90), ("eli", 10)]
    assert policy.rule("fay", Operation("/notebook")) is None  # no rule takes it: Gateway API's prefix is by segment


def test_an_exact_path_is_tried_before_a_prefix_whatever_the_order() -> None:
    policy = mesh_policy([route(rules=[
        {"matches": [{"path": {"value": "/"}}], "backendRefs": [{"name": "fay"}]},
        {"matches": [{"path": {"type": "Exact", "value": "/note"}}], "backendRefs": [{"name": "eli"}]}])],
        "linkerd", NS)
    rule = policy.rule("fay", Operation("/note"))
    assert rule is not None and rule.route[0].host == "eli"


# --------------------------------------------------------------------------- the analyzer


def test_the_analyzer_warns_of_forgeries_only_where_linkerd_lets_plaintext_in() -> None:
    from conftest import LEVELS

    from classroom.analyze import analyze

    level = load_level(str(LEVELS / "22-who-may-knock.yaml"))
    assert level.solution is not None

    def codes(resources: Any) -> list[str]:
        return [m.code for m in analyze(list(resources), level)]

    assert "CLS0002" in codes([])  # all-unauthenticated: her plaintext forgeries get in
    assert "CLS0002" not in codes(level.resources)  # a Server on every desk shuts them out
    assert "CLS0002" not in codes(level.solution)


# --------------------------------------------------------------------------- ID cards


def test_a_linkerd_card_carries_the_identity_string_beside_the_spiffe_id() -> None:
    from test_pki import _handshake

    ca = pki.CertificateAuthority.create()
    ben, fay = pki.spiffe_id(NS, "ben"), pki.spiffe_id(NS, "fay")

    def context(server_side: bool, identity: str) -> Any:
        key = pki.new_key()
        leaf = ca.issue(pki.make_csr(key, identity), identity,
                        dns_names=(linkerd.linkerd_identity(pki.principal(identity)),))
        names = leaf.extensions.get_extension_for_class(pki.x509.SubjectAlternativeName).value
        assert names.get_values_for_type(pki.x509.DNSName) == [f"{pki.student_of(identity)}.{NS}{SUFFIX}"]
        assert pki.cert_identity(leaf) == identity
        return pki.mtls_context(server_side, pki.cert_pem(leaf), pki.key_pem(key), ca.pem)

    client, server = _handshake(context(False, ben), context(True, fay))
    assert pki.peer_identity(client) == fay and pki.peer_identity(server) == ben


def test_a_linkerd_rounds_office_issues_cards_with_linkerd_identities(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from conftest import LEVELS, REPO

    record = tmp_path / "round.jsonl"
    done = subprocess.run([sys.executable, "-m", "classroom.cli", "run", str(LEVELS / "23-one-more-try.yaml"),
                           "--headless", "--quiet", "--record", str(record)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode in (0, 1), done.stderr
    issued = {e["hand"]: e.get("dns_names") for e in map(json.loads, record.read_text().splitlines())
              if e.get("kind") == "cert_issued"}
    assert issued == {name: [f"{name}.one-more-try{SUFFIX}"] for name in ("alice", "dana")}
