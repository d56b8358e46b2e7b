"""Which resource kinds there are, whose they are, and which mesh profile accepts each.

Theory of operation
-------------------
A resource names a ``kind`` and an ``apiVersion``; together they pick one
:class:`Kind` of :data:`KINDS`.  Two meshes may use one kind name (Istio's
``AuthorizationPolicy`` of ``security.istio.io`` and Linkerd's of
``policy.linkerd.io``): the apiVersion's group tells them apart.

Each kind says which profiles (``mesh.profile``) accept it: ``meshes`` None
for the classroom's own kinds (every mesh), else the profiles that have it.
Under a profile that has it not, the resource is refused at its kind with one
sentence: the mesh's own word on what it does instead
(:func:`classroom.mesh.control.profiles.refusal`), or, lacking one, whose
kind it is and the kinds this mesh does have.

Istio's kinds are also accepted, as stand-ins, under the profiles whose own
kinds the classroom does not model yet; docs/reference.md (Profiles) says
which.  A mesh's own kinds live in a module of their own, as Istio's do in
:mod:`classroom.level.networking` and :mod:`classroom.level.security`, and
join :data:`KINDS` here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from classroom.level.checks import _At, _bool, _Check, _duration, _Map, _MapOf, _number
from classroom.level.cilium import CILIUM_NETWORK_POLICY
from classroom.level.cilium import names as cilium_names
from classroom.level.consul import CONSUL_ACL, INTENTIONS_VERSIONS, SERVICE_INTENTIONS, check_names
from classroom.level.istiovalues import label_key, label_value
from classroom.level.linkerd import LINKERD_KINDS
from classroom.level.networking import DESTINATION_RULE, VIRTUAL_SERVICE
from classroom.level.security import AUTHORIZATION_POLICY, PEER_AUTHENTICATION
from classroom.mesh.control.profiles import PROFILES, refusal

NameCheck = Callable[[_Check, dict[str, Any], _At, Any], None]  # (ck, spec, spec's place, the level's roll)


@dataclass(frozen=True)
class Kind:
    kind: str
    versions: tuple[str, ...]  # the apiVersions it may give, the first the one new resources get
    spec: _Map
    needs: tuple[str, ...] = ()  # what its spec may not leave out (a missing spec names the first)
    meshes: tuple[str, ...] | None = None  # the profiles that have it; None: the classroom's own, every one
    owner: str | None = None  # whose kind it is (a profile's name); None: the classroom's
    names: NameCheck | None = None  # its own check of the names its spec uses, beside the common ones
    # What two resources of the kind may not share, beside their name (Consul: one entry per destination).
    one_per: tuple[str, Callable[[dict[str, Any]], Any]] | None = None  # (what it is, its value in a spec)
    annotations: Any = None  # a reader of the metadata.annotations it acts on; None: it takes none

    @property
    def group(self) -> str:
        return self.versions[0].split("/")[0]

    def accepted(self, profile: str) -> bool:
        return self.meshes is None or profile in self.meshes


def _r_duration(ck: _Check, value: Any, at: _At) -> None:
    _duration(ck, value, at)


def _r_ratio(ck: _Check, value: Any, at: _At) -> None:
    _number(ck, value, at, minimum=0.05, maximum=2.0)


def _r_bool(ck: _Check, value: Any, at: _At) -> None:
    _bool(ck, value, at)


IDENTITY_POLICY = _Map(
    {
        "certLifetime": _r_duration,
        "renewAt": _r_ratio,
        "caRotation": _Map({"at": _r_duration, "trustOldRootUntil": _r_duration}),
    }
)
ENVELOPE_POLICY = _Map(
    {"selector": _Map({"matchLabels": _MapOf(label_key, label_value)}), "seal": _r_bool},
    required=("seal",),
)

EVERY_MESH = tuple(PROFILES)
# Istio's kinds, and the profiles that take them: Istio, and, as stand-ins, the meshes whose own kinds
# are not modelled yet.  A PeerAuthentication is refused where the mesh has no such knob (Linkerd and
# Consul always lock the passes between meshed hands; Traefik Mesh has no mTLS at all).
_ISTIO_STAND_INS = ("istio", "cilium", "traefik", "consul", "appmesh", "nginx")
_PEER_AUTHENTICATION_MESHES = tuple(
    name for name in _ISTIO_STAND_INS if PROFILES[name].peer_authentication is None
)
# Cilium has no AuthorizationPolicy: who may hand a desk notes is a CiliumNetworkPolicy.
_AUTHORIZATION_MESHES = tuple(name for name in _ISTIO_STAND_INS if name != "cilium")
ISTIO_NETWORKING = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
ISTIO_SECURITY = ("security.istio.io/v1", "security.istio.io/v1beta1")

KINDS: tuple[Kind, ...] = (
    Kind("PeerAuthentication", ISTIO_SECURITY, PEER_AUTHENTICATION,
         meshes=_PEER_AUTHENTICATION_MESHES, owner="istio"),
    Kind("AuthorizationPolicy", ISTIO_SECURITY, AUTHORIZATION_POLICY,
         meshes=tuple(m for m in _AUTHORIZATION_MESHES if m != "consul"), owner="istio"),
    Kind("VirtualService", ISTIO_NETWORKING, VIRTUAL_SERVICE, ("hosts", "http"),
         meshes=_ISTIO_STAND_INS, owner="istio"),
    Kind("DestinationRule", ISTIO_NETWORKING, DESTINATION_RULE, ("host",), meshes=_ISTIO_STAND_INS, owner="istio"),
    # Consul's service-intentions config entry, as consul-k8s's CRD (classroom.level.consul), and the
    # class's stand-in for the agents' acl stanza, where the intentions' default comes from.
    Kind("ServiceIntentions", INTENTIONS_VERSIONS, SERVICE_INTENTIONS, ("destination", "sources"),
         meshes=("consul",), owner="consul", names=check_names,
         one_per=("destination", lambda spec: (spec.get("destination") or {}).get("name"))),
    Kind("ConsulACL", ("classroom.mesh/v1",), CONSUL_ACL, ("enabled",), meshes=("consul",), owner="consul"),
    Kind("CiliumNetworkPolicy", ("cilium.io/v2",), CILIUM_NETWORK_POLICY, ("endpointSelector",),
         meshes=("cilium",), owner="cilium", names=cilium_names),
    # The class's own: how the office hands out ID cards (Istio keeps these in MeshConfig and
    # istio-agent settings: SECRET_TTL, SECRET_GRACE_PERIOD_RATIO, plugged-in CA rotation).
    Kind("IdentityPolicy", ("classroom.mesh/v1",), IDENTITY_POLICY),
    # The class's own: whether a note travels sealed end to end. No mesh has it: end-to-end
    # encryption past the proxies is the application's (JWE, TLS to the server itself).
    Kind("EnvelopePolicy", ("classroom.mesh/v1",), ENVELOPE_POLICY, ("seal",)),
    # Linkerd's own (classroom.level.linkerd): Server, AuthorizationPolicy, MeshTLSAuthentication, HTTPRoute, ...
    *(Kind(kind, versions, spec, needs, meshes=("linkerd",), owner="linkerd", names=names, annotations=notes)
      for kind, versions, spec, needs, names, notes in LINKERD_KINDS),
)

KIND_NAMES: tuple[str, ...] = tuple(dict.fromkeys(k.kind for k in KINDS))


def named(kind: str) -> tuple[Kind, ...]:
    """Every kind called ``kind`` (one per mesh that uses the name)."""
    return tuple(k for k in KINDS if k.kind == kind)


def resolve(kind: str, api_version: Any) -> Kind | None:
    """The kind a resource's ``kind`` and ``apiVersion`` pick, or None."""
    return next((k for k in named(kind) if api_version in k.versions), None)


def kinds_of(profile: str) -> tuple[str, ...]:
    """The kind names a class under ``profile`` may write."""
    return tuple(dict.fromkeys(k.kind for k in KINDS if k.accepted(profile)))


def refused(kind: Kind | str, profile: str) -> str | None:
    """Why a resource of ``kind`` is refused under ``profile``, in one sentence, or None when it is accepted.

    A kind name alone (a level's ``editable`` list) is accepted when any kind of that name is.
    """
    candidates = named(kind) if isinstance(kind, str) else (kind,)
    if not candidates or any(k.accepted(profile) for k in candidates):
        return None
    first = candidates[0]
    shown = f"{first.kind} ({first.group})" if len(named(first.kind)) > 1 else first.kind
    why = refusal(profile, first.kind, shown)
    if why is not None:
        return why
    owner = PROFILES[first.owner].title if first.owner in PROFILES else "another mesh"
    return (f"{first.kind} ({first.group}) is {owner}'s, and {profile} has no such resource; "
            f"under {profile} the class writes {', '.join(kinds_of(profile))}")
