"""``factsmith keys``: the author key that signs exported patches, and the keys trusted to sign them."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from core.cli.errors import CommandError
from core.util.signing import KeyStore, PublicKey, SigningError, parse_public_key


def register(sub) -> None:
    keys = sub.add_parser("keys", help="your patch-signing key, and the keys you trust")
    ksub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    init = ksub.add_parser("init", help="make your author key pair (Ed25519) in the config folder")
    init.add_argument("--name", help="the name others see for your key (default: your user name)")
    init.add_argument("--force", action="store_true", help="replace an existing key (old patches stay valid)")
    init.set_defaults(handler=init_key, render=_render_key)
    show = ksub.add_parser("show", help="print your public key and its fingerprint, to give to others")
    show.set_defaults(handler=show_key, render=_render_key)
    trust = ksub.add_parser("trust", help="trust patches signed by a key")
    trust.add_argument("key", metavar="PUBKEY_FILE_OR_TEXT", help="a public key file, or its one-line text")
    trust.add_argument("--name", help="a name for the key (default: the name it carries)")
    trust.set_defaults(handler=trust_key, render=_render_key)
    listing = ksub.add_parser("list", help="the keys you trust (yours first)")
    listing.set_defaults(handler=list_keys, render=_render_list)
    for parser in (init, show, trust, listing):
        parser.add_argument("--json", action="store_true", help="print JSON")


def _key_dict(key: PublicKey, store: KeyStore) -> dict[str, Any]:
    own = store.own()
    return {"name": key.name, "fingerprint": key.fingerprint, "public_key": key.text,
            "own": own is not None and own.raw == key.raw}


def init_key(args: argparse.Namespace) -> dict[str, Any]:
    store = KeyStore.default()
    try:
        key = store.init(args.name or getpass.getuser(), force=args.force)
    except SigningError as exc:
        raise CommandError(str(exc)) from None
    return {**_key_dict(key, store), "private_key_file": str(store.private_path)}


def show_key(args: argparse.Namespace) -> dict[str, Any]:
    store = KeyStore.default()
    key = store.own()
    if key is None:
        raise CommandError(f"no author key in {store.folder}; make one with `factsmith keys init`")
    return _key_dict(key, store)


def _read_key(text: str, name: str | None) -> PublicKey:
    path = Path(text)
    try:
        if len(text) < 4096 and path.is_file():
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the key file {path}: {exc}") from None
    try:
        return parse_public_key(text, name)
    except SigningError as exc:
        raise CommandError(str(exc)) from None


def trust_key(args: argparse.Namespace) -> dict[str, Any]:
    store = KeyStore.default()
    key = store.trust(_read_key(args.key, args.name))
    return _key_dict(key, store)


def list_keys(args: argparse.Namespace) -> list[dict[str, Any]]:
    store = KeyStore.default()
    try:
        return [_key_dict(k, store) for k in store.trusted()]
    except SigningError as exc:
        raise CommandError(str(exc)) from None


def _render_key(r: dict[str, Any]) -> str:
    where = f"\nprivate key: {r['private_key_file']} (keep it secret)" if "private_key_file" in r else ""
    return f"{r['public_key']}\nfingerprint: {r['fingerprint']}{where}\n"


def _render_list(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no trusted keys (make your own with `factsmith keys init`)\n"
    return "".join(f"{r['fingerprint'][:16]}  {r['name'] or '(unnamed)'}{'  (yours)' if r['own'] else ''}\n"
                   for r in rows)
