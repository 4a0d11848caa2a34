"""Helpers for the security tests: finding a key (or part of one) in any output."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

WINDOW = 8


def key_fragments(key: str) -> list[str]:
    """The whole key and every ``WINDOW``-character piece of it that holds random characters.

    The sentinel key is ``sk-m21-sentinel-<hex>``: pieces made only of the fixed prefix are
    left out (the word "sentinel" may legitimately appear in test names).
    """
    random_start = key.rfind("-") + 1
    pieces = {key}
    for i in range(len(key) - WINDOW + 1):
        if i + WINDOW > random_start:
            pieces.add(key[i : i + WINDOW])
    return sorted(pieces, key=len, reverse=True)


def leaks(text: str, key: str) -> list[str]:
    """Fragments of ``key`` found in ``text`` (empty when nothing leaked)."""
    return [piece for piece in key_fragments(key) if piece in text]


def assert_no_leak(text: str, key: str, where: str = "output") -> None:
    found = leaks(text, key)
    assert not found, f"the API key (or part of it: {found[:3]}) leaked into {where}"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost that can also serve as its CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m21 test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
