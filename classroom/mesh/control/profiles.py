"""The seven meshes a level may name, as data: what each does when the class's resources say nothing.

Theory of operation
-------------------
``mesh.profile`` picks one of the rows below.  Every default the classroom
acts on per profile is here and nowhere else, each with its source (see
``/work/shared/reference/mesh-facts.md`` for the quotations):

* ``architecture`` — ``sidecar`` (a proxy process per student) or ``per-row``
  (one proxy process per row, as a per-node proxy: Cilium's shared Envoy,
  Traefik Mesh's DaemonSet); the runner forks processes by it
  (:func:`classroom.mesh.runtime.round.proxy_groups`);
* ``mtls_mode`` — the class-wide mTLS mode when no PeerAuthentication sets
  one, in Istio's words (STRICT, PERMISSIVE, DISABLE): the office compiles it
  into :class:`~classroom.mesh.control.policy.MeshPolicy`;
* ``peer_authentication`` — None when a PeerAuthentication acts under this
  profile; otherwise the sentence the loader refuses one with (the mesh has
  no such knob: Linkerd and Consul always lock the passes between meshed
  hands, Traefik Mesh has no mTLS at all);
* ``default_attempts`` / ``default_retry_on`` — the retries a route gets when
  no VirtualService sets them;
* ``identity_lifetime`` — how long an ID card lasts (room seconds) when no
  IdentityPolicy says, or None where the mesh issues none;
* ``retired`` — None, or why nobody should start on it today.

Pure data: no I/O, imports nothing of the classroom (the level loader reads it too).
"""

from __future__ import annotations

from dataclasses import dataclass

SIDECAR, PER_ROW = "sidecar", "per-row"
HOUR = 3600.0
CLASS_LIFETIME = HOUR  # an ID card's life where neither an IdentityPolicy nor the mesh says


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    architecture: str  # SIDECAR | PER_ROW
    mtls_mode: str  # the class-wide mode with no PeerAuthentication: STRICT | PERMISSIVE | DISABLE
    mtls_words: str  # what that mode means in this mesh, for the run line and the docs
    peer_authentication: str | None  # None: it acts; else how the mesh does it instead (the refusal)
    default_attempts: int
    default_retry_on: tuple[str, ...]
    identity_lifetime: float | None  # room seconds; None: no default of the mesh's (the class's own, 1h)
    retired: str | None = None
    # The load balancer where no rule names one: Envoy's LEAST_REQUEST (Istio's default; the classroom
    # keeps it for the Envoy-based meshes), or Linkerd's PEAK_EWMA.
    balancer: str = "LEAST_REQUEST"
    # Kinds of other meshes this one has not, each with what this mesh does instead (the refusal's
    # second half).  A PeerAuthentication's is ``peer_authentication``.
    instead: tuple[tuple[str, str], ...] = ()

    @property
    def status(self) -> str:
        """"" for a maintained mesh; "dormant" or "retired" (the first word of ``retired`` when it is one)."""
        if not self.retired:
            return ""
        return self.retired.split(":")[0] if ":" in self.retired else "retired"

    def facts(self) -> list[str]:
        """What a student should know of the class's mesh, a short line each (the window's lesson card)."""
        shape = "a sidecar per student" if self.architecture == SIDECAR else "one proxy per row"
        retries = (f"{self.default_attempts} retries by default" if self.default_attempts
                   else "no retries unless asked")
        facts = [f"{self.title}: {shape}", f"by default {self.mtls_words}", retries]
        if self.balancer == "PEAK_EWMA":
            facts.append("balances by latency (EWMA)")
        return facts + ([f"RETIRED: {self.retired}"] if self.retired else [])

    def describe(self) -> str:
        """One line: the mesh, its shape, its defaults, and whether it is retired."""
        shape = "a sidecar per student" if self.architecture == SIDECAR else "one proxy per row"
        retries = (f"{self.default_attempts} default retries" if self.default_attempts
                   else "no default retries")
        if self.peer_authentication is not None and self.mtls_mode == "DISABLE":
            card = "no ID cards"
        elif self.identity_lifetime is not None:
            card = f"ID cards last {self.identity_lifetime / HOUR:g}h"
        else:
            card = f"ID cards last {CLASS_LIFETIME / HOUR:g}h (the classroom's: {self.title} sets no default)"
        line = f"mesh: {self.title} ({self.name}): {shape}; by default {self.mtls_words}; {retries}; {card}"
        return line + (f"; RETIRED: {self.retired}" if self.retired else "")


# Istio's default retry policy (MeshConfig defaultHttpRetryPolicy; istio/istio#20547).
_ISTIO_RETRY_ON = ("cancelled", "connect-failure", "refused-stream", "unavailable")

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="istio", title="Istio", architecture=SIDECAR,
            # PeerAuthentication UNSET "otherwise treated as PERMISSIVE" (istio/api peer_authentication.proto);
            # auto-mTLS dials meshed peers in mTLS.
            mtls_mode="PERMISSIVE", mtls_words="PERMISSIVE: mTLS between meshed hands, plaintext accepted",
            peer_authentication=None,
            # numRetries: 2 on connect-failure,refused-stream,unavailable,cancelled (istio/istio#20547).
            default_attempts=2, default_retry_on=_ISTIO_RETRY_ON,
            # SECRET_TTL 24h (istio/istio pilot/cmd/pilot-agent/options/options.go).
            identity_lifetime=24 * HOUR,
        ),
        Profile(
            name="linkerd", title="Linkerd", architecture=SIDECAR,
            # "automatic mTLS for all TCP traffic between meshed pods", no configuration; a meshed server
            # "will accept plaintext traffic from non-meshed sources" by default (default inbound policy
            # all-unauthenticated) (linkerd.io 2-edge features/automatic-mtls.md, reference/authorization-policy.md).
            mtls_mode="PERMISSIVE",
            mtls_words="mTLS always on between meshed hands (plaintext from unmeshed ones accepted)",
            peer_authentication=("automatic mTLS between every meshed pod, always on: no setting turns it "
                                 "off (who may send is a Server and an AuthorizationPolicy of policy.linkerd.io)"),
            # Since 2.16 retries only where retry.linkerd.io/* annotations ask (reference/retries.md).
            default_attempts=0, default_retry_on=(),
            # Proxy certificates "expire after 24 hours and are automatically rotated" (automatic-mtls.md).
            identity_lifetime=24 * HOUR,
            # "Load balancing uses EWMA latency": peak EWMA with two random choices, 30 ms default RTT,
            # 10 s decay (linkerd2-proxy linkerd/app/outbound/src/lib.rs; features/load-balancing.md).
            balancer="PEAK_EWMA",
            instead=(
                ("VirtualService", "an HTTPRoute (gateway.networking.k8s.io/v1 or policy.linkerd.io/v1beta3) "
                 "whose parentRefs name the service: matches, weighted backendRefs, and the retry.linkerd.io/http, "
                 "retry.linkerd.io/limit, retry.linkerd.io/timeout and timeout.linkerd.io/request annotations"),
                ("DestinationRule", "a Service's balancer.linkerd.io/failure-accrual annotations for ejecting a "
                 "failing endpoint, EWMA balancing with no setting, and an HTTPRoute's weighted backendRefs for "
                 "subsets"),
                ("AuthorizationPolicy", "a Server (policy.linkerd.io/v1beta3) on the students, an "
                 "AuthorizationPolicy of policy.linkerd.io/v1alpha1 targeting it, and a MeshTLSAuthentication "
                 "naming who may send"),
            ),
        ),
        Profile(
            name="cilium", title="Cilium", architecture=PER_ROW,
            # One shared Envoy per node (Documentation/network/servicemesh/l7-traffic-management.rst).
            # Transparent encryption (WireGuard, IPsec, ztunnel) is off until configured
            # (encryption.enabled; Documentation/security/network/encryption-*.rst).  The classroom lets a
            # PeerAuthentication stand for turning it on (see docs/reference.md, Profiles).
            mtls_mode="DISABLE", mtls_words="no encryption unless configured: plaintext passes",
            peer_authentication=None,
            default_attempts=0, default_retry_on=(),  # Envoy routes without a retry policy: none
            # ztunnel's certificates come from istiod (24h, as Istio's) (encryption-ztunnel.rst).
            identity_lifetime=24 * HOUR,
            instead=(("AuthorizationPolicy",
                      "a CiliumNetworkPolicy (cilium.io/v2): endpointSelector picks the desks, "
                      "ingress[].fromEndpoints says whose desks may hand them notes (the room network enforces "
                      "it) and toPorts[].rules.http the methods and paths the row's proxy lets through"),),
        ),
        Profile(
            name="traefik", title="Traefik Mesh", architecture=PER_ROW,
            # "routing through proxy endpoints running on each node"; "there is no mTLS in Traefik Mesh"
            # (traefik/mesh docs/content/configuration.md).
            mtls_mode="DISABLE", mtls_words="no mTLS at all: every pass is plaintext",
            peer_authentication="nothing: there is no mTLS in Traefik Mesh, so every pass is plaintext",
            # mesh.traefik.io/retry-attempts is an opt-in annotation (configuration.md).
            default_attempts=0, default_retry_on=(),
            identity_lifetime=None,
            # Last release v1.4.8, 2022-08-19; only CI and doc commits since (dormant, not archived).
            retired="dormant: no release since v1.4.8 (2022-08-19), not formally archived",
        ),
        Profile(
            name="consul", title="Consul", architecture=SIDECAR,
            # Connect sidecars accept only mTLS from the mesh; permissive mode is an opt-in exception
            # (mesh AllowEnablingPermissiveMutualTLS + MutualTLSMode, Consul 1.16; hashicorp/consul#17183).
            mtls_mode="STRICT", mtls_words="mTLS always on: plaintext refused",
            peer_authentication=("its sidecars' mTLS, always on between services in the mesh (who may "
                                 "talk to whom is a service-intentions config entry)"),
            # Retries only where a service-router route sets NumRetries (config-entries/service-router).
            default_attempts=0, default_retry_on=(),
            # Built-in CA LeafCertTTL 72h (hashicorp/consul CA config "basic defaults").
            identity_lifetime=72 * HOUR,
            instead=(("AuthorizationPolicy",
                      "a ServiceIntentions (consul.hashicorp.com/v1alpha1) for the destination: allow or "
                      "deny per source service, the exact name before the wildcard *, and the ACL default "
                      "policy (a ConsulACL) for every pair no intention names"),),
        ),
        Profile(
            name="appmesh", title="AWS App Mesh", architecture=SIDECAR,
            # TLS is set per virtual node listener (mode STRICT | PERMISSIVE | DISABLED); none set: plaintext.
            mtls_mode="DISABLE", mtls_words="TLS opt-in: plaintext passes until a listener asks",
            peer_authentication=None,
            # Default Envoy route retry policy: max retries 2, HTTP 503, TCP connect-failure and
            # refused-stream (docs.aws.amazon.com/app-mesh/latest/userguide/envoy-defaults.html).
            default_attempts=2, default_retry_on=("503", "connect-failure", "refused-stream"),
            identity_lifetime=None,  # no mesh CA of its own: certificates come from ACM PCA, files or SDS
            # "On September 30, 2026, AWS will discontinue support for AWS App Mesh" (docs banner).
            retired="AWS ended support on 2026-09-30",
        ),
        Profile(
            name="nginx", title="NGINX Service Mesh", architecture=SIDECAR,
            # "By default, NGINX Service Mesh ships with mTLS permissive mode"
            # (docs.nginx.com/nginx-service-mesh/guides/production-tuning).
            mtls_mode="PERMISSIVE", mtls_words="mTLS permissive: mTLS between meshed hands, plaintext accepted",
            peer_authentication=None,
            # No default retry policy is documented in the sources we hold: none.
            default_attempts=0, default_retry_on=(),
            # Certificate TTL configurable (1.3.0 release notes); the sources we hold give no default.
            identity_lifetime=None,
            # End of Sale 2023-07-01; nginxinc/nginx-service-mesh archived 2024-03-14, last version 2.0.0.
            retired="archived 2024-03-14 (end of sale 2023-07-01)",
        ),
    )
}


def profile(name: str) -> Profile:
    """The profile called ``name`` (the level loader has checked that it is one)."""
    return PROFILES[name]


def refusal(name: str, kind: str, shown: str | None = None) -> str | None:
    """What mesh ``name`` does instead of a resource of ``kind``, as a sentence, or None when it says nothing.

    The kind registry (:mod:`classroom.level.kinds`) decides which kinds a
    mesh has; this is the mesh's own word on one it has not.  ``shown`` names the kind in the sentence
    when its name alone is ambiguous (``AuthorizationPolicy (security.istio.io)``).
    """
    known = PROFILES.get(name)
    if known is None:
        return None
    instead = dict(known.instead)
    if known.peer_authentication is not None:
        instead.setdefault("PeerAuthentication", known.peer_authentication)
    if kind not in instead:
        return None
    return f"{shown or kind} is not a {name} resource; {name} does this with {instead[kind]}"
