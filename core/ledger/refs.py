"""Commit references and tags.

A reference is ``HEAD`` (the latest commit), ``ROOT`` (the bare base model), a tag, or a
commit id or unique prefix (4+ characters), optionally followed by ``~N`` (N commits
back; ``~`` alone is ``~1``). Tags are fixed once made: a name always means one commit.
"""

from __future__ import annotations

import re

from core.ledger.db import Store, now
from core.ledger.errors import LedgerError, RefError
from core.ledger.records import CommitRecord, TagRecord
from core.ledger.state import commit_at_seq, commit_from_row, head

KEYWORDS = ("HEAD", "ROOT")
_REF = re.compile(r"^(?P<name>[^~]+)(?P<tilde>~(?P<back>\d*))?$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_HEX = re.compile(r"^[0-9a-f]{4,64}$")


def _named(store: Store, name: str) -> CommitRecord:
    if name.upper() in KEYWORDS:
        return head(store) if name.upper() == "HEAD" else commit_at_seq(store, 0)
    tag = store.one("SELECT commit_id FROM tags WHERE name = ?", (name,))
    if tag is not None:
        return commit_from_row(store, store.one("SELECT * FROM commits WHERE id = ?", (tag["commit_id"],)))
    if _HEX.match(name.lower()):
        prefix = name.lower()
        rows = store.all("SELECT * FROM commits WHERE id >= ? AND id < ? ORDER BY id LIMIT 6", (prefix, prefix + "g"))
        if len(rows) == 1:
            return commit_from_row(store, rows[0])
        if len(rows) > 1:
            raise RefError(f"commit id {name!r} is ambiguous: it starts {', '.join(r['id'][:12] for r in rows)}")
    tags = [r["name"] for r in store.all("SELECT name FROM tags ORDER BY name LIMIT 20")]
    known = f"; tags: {', '.join(tags)}" if tags else ""
    raise RefError(f"{name!r} is not a commit id, a tag, HEAD or ROOT{known}")


def resolve(store: Store, ref: str) -> CommitRecord:
    """The commit a reference names; RefError saying why when it names none or several."""
    match = _REF.match((ref or "").strip())
    if match is None:
        raise RefError(f"{ref!r} is not a commit reference (an id, a tag, HEAD or ROOT, optionally ~N)")
    with store.reading():
        commit = _named(store, match["name"])
        back = int(match["back"]) if match["back"] else (1 if match["tilde"] else 0)
        if back > commit.seq:
            raise RefError(f"{ref!r} goes back {back} commits, but {match['name']} has only {commit.seq} before it")
        return commit if not back else commit_at_seq(store, commit.seq - back)


def create_tag(store: Store, name: str, ref: str = "HEAD") -> TagRecord:
    if not _TAG.match(name) or name.upper() in KEYWORDS:
        raise LedgerError(f"tag name {name!r} is not allowed: use letters, digits, '.', '_', '-', '/' "
                          f"(starting with a letter or digit), and not {' or '.join(KEYWORDS)}")
    with store.writing():
        existing = store.one("SELECT commit_id FROM tags WHERE name = ?", (name,))
        if existing is not None:
            raise LedgerError(f"tag {name!r} already names commit {existing['commit_id'][:12]}; tags never move")
        commit, at = resolve(store, ref), now()
        store.db.execute("INSERT INTO tags (name, commit_id, author, created_at) VALUES (?, ?, ?, ?)",
                         (name, commit.id, store.author, at))
    return TagRecord(name, commit.id, store.author, at)


def list_tags(store: Store) -> list[TagRecord]:
    return [TagRecord(**r) for r in store.all("SELECT name, commit_id, author, created_at FROM tags ORDER BY name")]


def tags_of(store: Store, commit_id: str) -> tuple[str, ...]:
    return tuple(r["name"] for r in store.all("SELECT name FROM tags WHERE commit_id = ? ORDER BY name", (commit_id,)))
