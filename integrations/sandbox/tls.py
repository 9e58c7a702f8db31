"""A local certificate authority for the sandboxes.

The ``pagerduty`` client refuses plain ``http://`` base URLs, so the sandboxes serve TLS. This module
creates, once, a small CA under ``<home>/sandbox-ca`` and a server certificate for ``127.0.0.1`` and
``localhost`` signed by it; later calls reuse the files. Clients trust the CA through
:meth:`SandboxTLS.client_context` (or ``WARROOM_CA_BUNDLE`` pointing at ``ca.pem``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DIR_NAME = "sandbox-ca"
_VALID_DAYS = 825
_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxTLS:
    """Where the sandbox CA and server certificate live."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the sandbox CA (and only it)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    # Certificate validity needs wall-clock time; back-date an hour against clock skew.
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def _make_ca(ca_path: Path, ca_key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warroom sandbox CA")])
    start = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(ca_key_path, _key_pem(key))
    ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _make_server(ca_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path) -> None:
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca_key_path} is not an EC private key")
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warroom sandbox")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=_VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _server_cert_valid(cert_path: Path, ca_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    except (OSError, ValueError):
        return False
    try:  # same CA name is not enough: another home's CA has it too
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def ensure_ca(home: Path) -> SandboxTLS:
    """Create (once) the sandbox CA and server certificate under ``home / "sandbox-ca"``.

    Existing files are reused; a server certificate that is missing, expiring or not signed by the
    CA on disk is made anew. Key files are readable by their owner only (mode 600).
    """
    directory = Path(home) / CA_DIR_NAME
    ca_path = directory / "ca.pem"
    ca_key_path = directory / "ca-key.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    with _lock:
        directory.mkdir(parents=True, exist_ok=True)
        if not (ca_path.exists() and ca_key_path.exists()):
            _make_ca(ca_path, ca_key_path)
            cert_path.unlink(missing_ok=True)
        if not (key_path.exists() and _server_cert_valid(cert_path, ca_path)):
            _make_server(ca_path, ca_key_path, cert_path, key_path)
    return SandboxTLS(ca_path=ca_path, cert_path=cert_path, key_path=key_path)
