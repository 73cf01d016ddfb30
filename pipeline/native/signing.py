"""Ed25519 keys and signatures for the manifest ledger (the ``cryptography`` package)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.common.i18n import _

# ``cryptography`` (a twentieth of a second to import) only where a key is made, loaded or checked:
# an archive without a signing key seals every run without it.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyFileError(ValueError):
    """A key file is missing, unreadable or not an Ed25519 key."""


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey
    public_hex: str

    def sign(self, data: bytes) -> str:
        return self.key.sign(data).hex()


def _raw_public(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def generate(private_path: Path, public_path: Path) -> str:
    """Write a new private key (PEM, mode 0600, never overwriting) and its public key; return the public hex."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(public_pem)
    return _raw_public(key.public_key())


def load_signer(path: str | os.PathLike) -> Signer:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise KeyFileError(_("cannot read signing key {path}: {strerror}").format(
                               path=path, strerror=exc.strerror)) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(_("{path} is not an unencrypted PEM private key: {exc}").format(path=path, exc=exc)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(_("{path} is not an Ed25519 key (make one with `fieldrec keygen`)").format(path=path))
    return Signer(key, _raw_public(key.public_key()))


def load_public_hex(path: str | os.PathLike) -> str:
    """The raw public key (hex) from a PEM public key, or from a private key's public half."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise KeyFileError(_("cannot read key {path}: {strerror}").format(path=path, strerror=exc.strerror)) from None
    if b"PRIVATE KEY" in data:
        return load_signer(path).public_hex
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(_("{path} is not a PEM public key: {exc}").format(path=path, exc=exc)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(_("{path} is not an Ed25519 public key").format(path=path))
    return _raw_public(key)


def verify(public_hex: str, data: bytes, signature_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        key.verify(bytes.fromhex(signature_hex), data)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False
