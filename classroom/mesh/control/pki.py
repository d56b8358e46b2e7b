"""The class CA and the school ID cards: certificates with SPIFFE identities.

Theory of operation
-------------------
The office holds the class CA (ECDSA P-256).  Every proxy makes its own key
pair, which never leaves its process, and sends the office a certificate
signing request; the office answers with a short-lived leaf certificate whose
only subject alternative name is the student's SPIFFE ID::

    spiffe://classroom.local/ns/<level>/sa/<student>

or, in a Consul class, Consul's form (its service, in namespace default of
datacenter dc1)::

    spiffe://classroom.consul/ns/default/dc/dc1/svc/<student>

Peers check each other with TLS 1.3 and mutual authentication: the chain must
lead to a trusted class root, and the URI SAN must be the identity the
checking side expects (:func:`peer_identity`).  Policies write identities the
way Istio does, without the scheme (:func:`principal`).

Python's ``ssl`` loads certificate chains only from files, so
:func:`mtls_context` writes the PEM to a private temporary file, loads it and
removes it at once.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "classroom.local"
# Consul's trust domain is "<cluster id>.consul"; the class's cluster id is "classroom".
CONSUL_TRUST_DOMAIN = "classroom.consul"
DEFAULT_LEAF_LIFETIME = 3600.0
CLOCK_SKEW = dt.timedelta(seconds=60)


class IdentityError(Exception):
    """A certificate or peer identity that must not be accepted."""


def spiffe_id(namespace: str, name: str, profile: str = "istio") -> str:
    """The SPIFFE ID of student ``name`` in the level ``namespace``, in the form of the class's mesh."""
    if profile == "consul":
        # spiffe://<trust-domain>.consul/ns/<namespace>/dc/<datacenter>/svc/<service> (hashicorp/consul
        # agent/connect SpiffeIDService); OSS Consul has the one namespace, default, and dc1 is its default
        # datacenter.  The class names the student, so two desks of one service still hold two cards.
        return f"spiffe://{CONSUL_TRUST_DOMAIN}/ns/default/dc/dc1/svc/{name}"
    return f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{name}"


def principal(identity: str) -> str:
    """Istio's written form of an identity: the SPIFFE ID without ``spiffe://``."""
    return identity.removeprefix("spiffe://")


def student_of(identity: str) -> str:
    """The student (service account, or Consul service) name in a SPIFFE ID."""
    marker = "/sa/" if "/sa/" in identity else "/svc/"
    return identity.rsplit(marker, 1)[-1]


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_csr(key: ec.EllipticCurvePrivateKey, identity: str) -> bytes:
    """A PEM certificate signing request for ``identity``."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, student_of(identity))]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def cert_identity(cert: x509.Certificate) -> str | None:
    """The SPIFFE ID in a certificate's URI SAN, if it has exactly one."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    return spiffe[0] if len(spiffe) == 1 else None


@dataclass
class CertificateAuthority:
    """A class CA: a self-signed P-256 root and its private key."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "Classroom Mesh class CA", lifetime: float = 86400.0) -> CertificateAuthority:
        key = new_key()
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, TRUST_DOMAIN),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(seconds=lifetime))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """A CA plugged in from ``directory/ca.crt`` and ``directory/ca.key`` (like Istio's cacerts)."""
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise IdentityError(f"{directory / 'ca.key'}: the class CA key must be ECDSA")
        return cls(key, cert)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.crt").write_bytes(cert_pem(self.cert))
        keyfile = directory / "ca.key"
        keyfile.write_bytes(key_pem(self.key))
        keyfile.chmod(0o600)

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)

    def issue(
        self,
        csr_pem: bytes,
        identity: str,
        lifetime: float = DEFAULT_LEAF_LIFETIME,
        not_before: dt.datetime | None = None,
        dns_names: tuple[str, ...] = (),
    ) -> x509.Certificate:
        """Sign a leaf for ``identity`` from a CSR whose own SAN must name it; ``dns_names`` are the office's own
        additions (a Linkerd class's identity string, as Linkerd's identity service writes it)."""
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise IdentityError(f"CSR for {identity} has a bad signature")
        try:
            asked = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            uris = asked.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            uris = []
        if uris != [identity]:
            raise IdentityError(f"CSR asks for {uris or 'no identity'}, not {identity}")
        start = not_before or dt.datetime.now(dt.UTC) - CLOCK_SKEW
        return self.sign_leaf(
            csr.public_key(), identity, start, start + CLOCK_SKEW + dt.timedelta(seconds=lifetime), dns_names
        )

    def sign_leaf(
        self, public_key: Any, identity: str, not_before: dt.datetime, not_after: dt.datetime,
        dns_names: tuple[str, ...] = (),
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, student_of(identity))]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity),
                                             *(x509.DNSName(name) for name in dns_names)]),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )


def issue_self(
    identity: str, ca: CertificateAuthority | None = None, lifetime: float = DEFAULT_LEAF_LIFETIME
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a leaf for ``identity`` from ``ca`` (a fresh one if None): for tests and benches."""
    ca = ca or CertificateAuthority.create()
    key = new_key()
    return key, ca.issue(make_csr(key, identity), identity, lifetime)


def mtls_context(
    server_side: bool, cert_chain_pem: bytes, key_pem_bytes: bytes, trust_bundle_pem: bytes
) -> ssl.SSLContext:
    """A TLS 1.3 context that presents our certificate and requires the peer's.

    Hostnames are not checked (there are none on loopback); the caller checks
    the peer's SPIFFE ID after the handshake with :func:`peer_identity`.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=trust_bundle_pem.decode())
    _load_chain(ctx, cert_chain_pem, key_pem_bytes)
    if server_side:
        ctx.num_tickets = 0  # peers never resume a session: a ticket would be signed for nobody
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert_chain_pem: bytes, key_pem_bytes: bytes) -> None:
    # In memory (tmpfs) where there is one: the key touches no disk, even for the instant it exists.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="classroom-id-", suffix=".pem", dir=shm)
    try:
        os.write(fd, key_pem_bytes + cert_chain_pem)
        os.close(fd)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


def server_context(cert_chain_pem: bytes, key_pem_bytes: bytes) -> ssl.SSLContext:
    """A TLS 1.3 server context that presents a certificate and asks for none (an impostor's)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_NONE
    ctx.num_tickets = 0
    _load_chain(ctx, cert_chain_pem, key_pem_bytes)
    return ctx


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The SPIFFE ID the verified peer certificate carries, or None."""
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    uris = [str(entry[1]) for entry in cert.get("subjectAltName", ()) if entry[0] == "URI"]
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    return spiffe[0] if len(spiffe) == 1 else None


def check_peer(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, expected: set[str] | frozenset[str]) -> str:
    """The peer's identity if it is one of ``expected``; IdentityError says why not."""
    got = peer_identity(ssl_object)
    if got is None:
        raise IdentityError("peer certificate carries no SPIFFE ID")
    if got not in expected:
        want = ", ".join(sorted(expected)) or "nobody"
        raise IdentityError(f"peer is {got}, expected {want}")
    return got
