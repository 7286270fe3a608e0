"""Author keys: an Ed25519 key pair per user, and the public keys they trust.

Keys live in the user's config folder (``FACTSMITH_CONFIG_DIR`` overrides, so tests use a
temporary one): ``keys/author.key`` (PKCS#8 PEM, mode 0600), ``keys/author.pub`` and
``keys/trusted.json``. A public key travels as one line of text,
``factsmith-ed25519 <base64 of the 32 raw bytes> [name]``; its fingerprint is the sha256
of the raw bytes. The user's own key is always trusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from core.util.atomic import replacing

log = logging.getLogger(__name__)

CONFIG_ENV = "FACTSMITH_CONFIG_DIR"
KEY_PREFIX = "factsmith-ed25519"


class SigningError(ValueError):
    """A key is missing, unreadable or malformed, or a signature cannot be made."""


def config_dir() -> Path:
    """The user's Factsmith config folder (override with FACTSMITH_CONFIG_DIR)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("factsmith", appauthor=False))


@dataclass(frozen=True)
class PublicKey:
    raw: bytes  # the 32 raw Ed25519 bytes
    name: str = ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def text(self) -> str:
        encoded = base64.b64encode(self.raw).decode("ascii")
        return f"{KEY_PREFIX} {encoded} {self.name}".rstrip()

    def verify(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_public_key(text: str, name: str | None = None) -> PublicKey:
    """A public key from its one-line text form; ``name`` replaces the one in the text."""
    parts = text.strip().split(maxsplit=2)
    if len(parts) < 2 or parts[0] != KEY_PREFIX:
        raise SigningError(f"not a Factsmith public key (expected '{KEY_PREFIX} BASE64 [name]'): {text[:60]!r}")
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise SigningError("the public key's base64 is malformed") from None
    if len(raw) != 32:
        raise SigningError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return PublicKey(raw, name if name is not None else (parts[2] if len(parts) > 2 else ""))


@dataclass(frozen=True)
class KeyStore:
    folder: Path

    @classmethod
    def default(cls) -> KeyStore:
        return cls(config_dir() / "keys")

    @property
    def private_path(self) -> Path:
        return self.folder / "author.key"

    @property
    def public_path(self) -> Path:
        return self.folder / "author.pub"

    @property
    def trusted_path(self) -> Path:
        return self.folder / "trusted.json"

    def init(self, name: str, force: bool = False) -> PublicKey:
        """Make the author key pair; refuses to replace one unless ``force``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if self.private_path.exists() and not force:
            raise SigningError(f"an author key already exists at {self.private_path} (pass --force to replace it)")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self.folder.mkdir(parents=True, exist_ok=True)
        with replacing(self.private_path, durable=True, private=True) as temp:  # 0600 before any byte is written
            temp.write_bytes(pem)
        public = PublicKey(_raw_public(key), name)
        with replacing(self.public_path) as temp:
            temp.write_text(public.text + "\n", encoding="utf-8")
        return public

    def own(self) -> PublicKey | None:
        try:
            return parse_public_key(self.public_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def sign(self, data: bytes) -> tuple[PublicKey, bytes] | None:
        """(own public key, signature of ``data``), or None when there is no author key."""
        from cryptography.hazmat.primitives import serialization

        try:
            pem = self.private_path.read_bytes()
        except FileNotFoundError:
            return None
        if stat.S_IMODE(self.private_path.stat().st_mode) & 0o077:
            log.warning("the author key %s is readable by other users; chmod 600 it", self.private_path)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningError(f"the author key {self.private_path} is unreadable: {exc}") from None
        own = self.own()
        public = PublicKey(_raw_public(key), own.name if own else "")
        return public, key.sign(data)

    def trusted(self) -> list[PublicKey]:
        try:
            entries = json.loads(self.trusted_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            entries = []
        except ValueError as exc:
            raise SigningError(f"{self.trusted_path} is not valid JSON: {exc}") from None
        keys = [parse_public_key(e["key"], e.get("name", "")) for e in entries]
        own = self.own()
        return ([own] if own else []) + [k for k in keys if not own or k.raw != own.raw]

    def trust(self, key: PublicKey) -> PublicKey:
        keys = [k for k in self.trusted() if k.raw != key.raw and k != self.own()]
        keys.append(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        with replacing(self.trusted_path) as temp:
            temp.write_text(json.dumps([{"key": k.text, "name": k.name} for k in keys], indent=1), encoding="utf-8")
        return key

    def trusted_name(self, key: PublicKey) -> str | None:
        """The name the user trusts ``key`` under ("" when unnamed), or None when it is not trusted."""
        return next((k.name for k in self.trusted() if k.raw == key.raw), None)


def _raw_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def author_key() -> PublicKey | None:
    """The user's own public key, or None when there is none (or it is unreadable)."""
    try:
        return KeyStore.default().own()
    except (OSError, SigningError):
        return None
