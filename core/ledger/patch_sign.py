"""Patch signatures: the author's Ed25519 signature over ``manifest.json``, in ``signature.json``.

The manifest binds everything else (each delta file's sha256 and size, every edit's facts,
method and hyperparameters through the hash chain), so one signature over its exact bytes
covers the whole patch. Without a signature anyone can rewrite a patch and recompute every
hash; with one, only the holder of the key can.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.ledger.errors import PatchError
from core.util.signing import KeyStore, PublicKey, SigningError, parse_public_key

log = logging.getLogger(__name__)

SIGNATURE_FORMAT = "factsmith-signature"
_CONTEXT = b"factsmith-patch-signature-v1\0"  # a signature over a patch is not one over anything else


@dataclass(frozen=True)
class PatchTrust:
    """What ``apply_patch`` accepts besides patches signed by a trusted key."""

    allow_unsigned: bool = False
    allow_untrusted: bool = False
    keys: KeyStore | None = None  # None: the user's (FACTSMITH_CONFIG_DIR or the config folder)


@dataclass(frozen=True)
class Signer:
    fingerprint: str
    name: str  # the trusted name, else the name the key claims
    public_key: str
    trusted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sign_manifest(manifest: bytes, keys: KeyStore | None = None) -> tuple[bytes, Signer] | None:
    """``signature.json``'s bytes and the signer, or None when the user has no author key."""
    keys = keys or KeyStore.default()
    signed = keys.sign(_CONTEXT + manifest)
    if signed is None:
        return None
    public, signature = signed
    body = {"format": SIGNATURE_FORMAT, "algorithm": "ed25519", "public_key": public.text,
            "signature": base64.b64encode(signature).decode("ascii")}
    return json.dumps(body, indent=1).encode(), Signer(public.fingerprint, public.name, public.text, True)


def _parse(path: Path, data: bytes) -> tuple[PublicKey, bytes]:
    where = f"{path.name}: signature.json"
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("format") != SIGNATURE_FORMAT:
            raise ValueError("not a Factsmith signature")
        if body.get("algorithm") != "ed25519":
            raise ValueError(f"unknown algorithm {body.get('algorithm')!r}")
        return parse_public_key(str(body["public_key"])), base64.b64decode(str(body["signature"]), validate=True)
    except (KeyError, ValueError, RecursionError, binascii.Error, SigningError) as exc:
        raise PatchError(f"{where} is malformed ({exc}); the file was altered") from None


def check_signature(path: Path, manifest: bytes, signature: bytes | None, trust: PatchTrust) -> Signer | None:
    """The verified signer; refuses a bad signature, and unsigned or untrusted patches unless allowed."""
    if signature is None:
        if not trust.allow_unsigned:
            reason = f"{path.name} is unsigned, so nothing shows who made it or that it is unaltered"
            raise PatchError(f"{reason}; pass --allow-unsigned to apply it anyway", "unsigned", reason)
        return None  # allowed: the caller that applies it says so
    public, sig = _parse(path, signature)
    if not public.verify(sig, _CONTEXT + manifest):
        raise PatchError(f"{path.name}: the signature does not match manifest.json; the patch was altered after "
                         f"key {public.fingerprint[:16]} signed it (or the signature is forged)")
    try:
        name = (trust.keys or KeyStore.default()).trusted_name(public)
    except SigningError as exc:
        raise PatchError(f"cannot read the trusted keys: {exc}") from None
    if name is None and not trust.allow_untrusted:
        reason = (f"{path.name} is signed by key {public.fingerprint[:16]} ({public.name or 'no name'}), "
                  "which you do not trust")
        raise PatchError(f"{reason}; check it with its author, then `factsmith keys trust KEY`, or pass "
                         "--allow-untrusted", "untrusted", reason)
    signer = Signer(public.fingerprint, name or public.name, public.text, name is not None)
    log.info("%s is signed by %s (%s)%s", path.name, signer.name or "unnamed key", signer.fingerprint[:16],
             "" if signer.trusted else ", not trusted")
    return signer
