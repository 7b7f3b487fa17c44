"""A throw-away PKI for TLS tests: a CA, a server certificate for
``localhost`` and a client certificate, as PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_settings(self, require_client_cert: bool = True) -> dict[str, object]:
        """The ``tls:`` block of an MLLP source."""
        return {"cert": str(self.server_cert), "key": str(self.server_key), "client_ca": str(self.ca),
                "require_client_cert": require_client_cert}  # fmt: skip


def make_pki(folder: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(name: str, issuer_key=None, issuer_name=None, ca=False):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return key, builder.sign(issuer_key or key, hashes.SHA256())

    def write(name: str, key, crt) -> tuple[Path, Path]:
        k, c = folder / f"{name}.key", folder / f"{name}.crt"
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))  # fmt: skip
        c.write_bytes(crt.public_bytes(serialization.Encoding.PEM))
        return k, c

    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca = cert("Test CA", ca=True)
    sk, sc = write("server", *cert("localhost", ca_key, ca.subject))
    ck, cc = write("client", *cert("sender", ca_key, ca.subject))
    _, ca_file = write("ca", ca_key, ca)
    return Pki(ca=ca_file, server_cert=sc, server_key=sk, client_cert=cc, client_key=ck)
