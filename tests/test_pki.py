"""The class CA, SPIFFE identities, and a real TLS 1.3 mutual handshake in memory."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID

from classroom.mesh.control.pki import (
    CertificateAuthority,
    IdentityError,
    cert_identity,
    cert_pem,
    check_peer,
    issue_self,
    key_pem,
    make_csr,
    mtls_context,
    new_key,
    peer_identity,
    principal,
    spiffe_id,
    student_of,
)

ADA = spiffe_id("level-1", "ada")
BOB = spiffe_id("level-1", "bob")


# --- identities ---------------------------------------------------------------------------


def test_spiffe_id_format() -> None:
    assert spiffe_id("level-1", "ada") == "spiffe://classroom.local/ns/level-1/sa/ada"


def test_principal_drops_the_scheme() -> None:
    assert principal(ADA) == "classroom.local/ns/level-1/sa/ada"
    assert principal("classroom.local/ns/x/sa/y") == "classroom.local/ns/x/sa/y"


def test_student_of() -> None:
    assert student_of(ADA) == "ada"
    assert student_of(principal(BOB)) == "bob"
    assert student_of(spiffe_id("sa", "sa")) == "sa"


# --- the CA -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


@pytest.fixture(scope="module")
def other_ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def test_ca_is_a_self_signed_ca(ca: CertificateAuthority) -> None:
    cert = ca.cert
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert ca.pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_leaf_from_csr(ca: CertificateAuthority) -> None:
    key = new_key()
    before = dt.datetime.now(dt.UTC)
    leaf = ca.issue(make_csr(key, ADA), ADA, lifetime=600)

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [ADA]
    assert san.value.get_values_for_type(x509.DNSName) == []
    assert cert_identity(leaf) == ADA

    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.value.ca is False
    assert basic.critical

    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku

    assert leaf.issuer == ca.cert.subject
    leaf.verify_directly_issued_by(ca.cert)
    assert leaf.public_key() == key.public_key()

    # short-lived: valid now, and for about the requested lifetime
    assert leaf.not_valid_before_utc <= before
    assert leaf.not_valid_after_utc >= before + dt.timedelta(seconds=599)
    assert leaf.not_valid_after_utc < before + dt.timedelta(seconds=600 + 300)


def test_leaf_does_not_verify_under_another_ca(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    _, leaf = issue_self(ADA, ca)
    with pytest.raises((ValueError, InvalidSignature)):
        leaf.verify_directly_issued_by(other_ca.cert)


def test_csr_for_another_identity_is_refused(ca: CertificateAuthority) -> None:
    csr = make_csr(new_key(), BOB)
    with pytest.raises(IdentityError, match="bob"):
        ca.issue(csr, ADA)


def test_csr_without_identity_is_refused(ca: CertificateAuthority) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ada")]))
        .sign(new_key(), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(IdentityError):
        ca.issue(csr, ADA)


def test_csr_with_two_identities_is_refused(ca: CertificateAuthority) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ada")]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(ADA), x509.UniformResourceIdentifier(BOB)]
            ),
            critical=False,
        )
        .sign(new_key(), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(IdentityError):
        ca.issue(csr, ADA)


def test_issue_self_without_a_ca_makes_its_own(ca: CertificateAuthority) -> None:
    key, leaf = issue_self(ADA)
    assert cert_identity(leaf) == ADA
    assert leaf.public_key() == key.public_key()
    assert leaf.issuer != leaf.subject
    with pytest.raises((ValueError, InvalidSignature)):
        leaf.verify_directly_issued_by(ca.cert)


def test_save_and_load_round_trip(ca: CertificateAuthority, tmp_path: Path) -> None:
    directory = tmp_path / "cacerts"
    ca.save(directory)
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    loaded = CertificateAuthority.load(directory)
    assert loaded.cert == ca.cert
    assert loaded.key.private_numbers() == ca.key.private_numbers()
    # the loaded CA issues leaves that chain to the original root
    _, leaf = issue_self(ADA, loaded)
    leaf.verify_directly_issued_by(ca.cert)


def test_load_refuses_a_non_ecdsa_key(ca: CertificateAuthority, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "ca.crt").write_bytes(ca.pem)
    (tmp_path / "ca.key").write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(IdentityError, match="ECDSA"):
        CertificateAuthority.load(tmp_path)


# --- TLS 1.3 mutual authentication, in memory ----------------------------------------------


def _context(
    server_side: bool,
    identity: str,
    issuer: CertificateAuthority,
    trust: CertificateAuthority,
    lifetime: float = 3600.0,
    not_before: dt.datetime | None = None,
) -> ssl.SSLContext:
    key = new_key()
    leaf = issuer.issue(make_csr(key, identity), identity, lifetime, not_before)
    return mtls_context(server_side, cert_pem(leaf), key_pem(key), trust.pem)


def _handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Pump handshake bytes between two SSLObjects until both are done (or one raises)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client_done = server_done = False
    for _ in range(20):
        if not client_done:
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
        c_in.write(s_out.read())
        if client_done and server_done:
            return client, server
    raise AssertionError("handshake did not finish")


def test_mutual_handshake_between_two_leaves_of_the_same_ca(ca: CertificateAuthority) -> None:
    client, server = _handshake(_context(False, ADA, ca, ca), _context(True, BOB, ca, ca))
    assert client.version() == "TLSv1.3"
    assert server.version() == "TLSv1.3"
    assert peer_identity(client) == BOB
    assert peer_identity(server) == ADA
    assert check_peer(client, {BOB}) == BOB
    assert check_peer(server, frozenset({ADA, spiffe_id("level-1", "cy")})) == ADA


def test_application_data_flows_after_the_handshake(ca: CertificateAuthority) -> None:
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = _context(False, ADA, ca, ca).wrap_bio(c_in, c_out, server_side=False)
    server = _context(True, BOB, ca, ca).wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    client.write(b"psst, pass it on")
    s_in.write(c_out.read())
    assert server.read(100) == b"psst, pass it on"
    assert b"psst" not in c_out.read()  # nothing left in clear


def test_check_peer_refuses_an_unexpected_identity(ca: CertificateAuthority) -> None:
    client, server = _handshake(_context(False, ADA, ca, ca), _context(True, BOB, ca, ca))
    with pytest.raises(IdentityError, match="bob"):
        check_peer(client, {spiffe_id("level-1", "cy")})
    with pytest.raises(IdentityError, match="ada"):
        check_peer(server, {BOB})
    with pytest.raises(IdentityError):
        check_peer(server, set())


def test_check_peer_without_a_connection() -> None:
    assert peer_identity(None) is None
    with pytest.raises(IdentityError, match="no SPIFFE ID"):
        check_peer(None, {ADA})


def test_handshake_fails_when_the_client_leaf_is_from_another_ca(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    intruder = _context(False, ADA, other_ca, ca)  # trusts the class CA, but has a foreign card
    with pytest.raises(ssl.SSLError):
        _handshake(intruder, _context(True, BOB, ca, ca))


def test_handshake_fails_when_the_server_leaf_is_from_another_ca(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(_context(False, ADA, ca, ca), _context(True, BOB, other_ca, ca))


def test_handshake_fails_with_an_expired_leaf(ca: CertificateAuthority) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    expired = _context(False, ADA, ca, ca, lifetime=60, not_before=long_ago)
    with pytest.raises(ssl.SSLError):
        _handshake(expired, _context(True, BOB, ca, ca))


def test_server_requires_a_client_certificate(ca: CertificateAuthority) -> None:
    no_card = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_card.check_hostname = False
    no_card.load_verify_locations(cadata=ca.pem.decode())
    with pytest.raises(ssl.SSLError):
        _handshake(no_card, _context(True, BOB, ca, ca))


def test_tls12_only_client_is_refused(ca: CertificateAuthority) -> None:
    old = _context(False, ADA, ca, ca)
    old.minimum_version = ssl.TLSVersion.TLSv1_2
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _handshake(old, _context(True, BOB, ca, ca))


def test_mtls_context_is_tls13_with_required_peer_certificates(ca: CertificateAuthority) -> None:
    for server_side in (False, True):
        ctx = _context(server_side, ADA, ca, ca)
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.check_hostname is False
