"""References (HEAD, HEAD~N, ROOT, ids and prefixes, tags) and tags that never move."""

import pytest

from core.ledger import LedgerError, RefError
from tests.core.ledger.helpers import add_run_approve, make_facts


@pytest.fixture
def three_commits(workspace):
    for i in range(3):
        add_run_approve(workspace, make_facts(1, start=i))
        workspace.commit(f"commit {i}")
    return workspace


def test_head_root_and_ancestors(three_commits):
    ws = three_commits
    log = ws.log()
    assert ws.resolve("HEAD") == log[0]
    assert ws.resolve("HEAD~2") == log[2] and ws.resolve("HEAD~") == log[1]
    assert ws.resolve("ROOT") == log[-1] == ws.resolve("HEAD~3")
    with pytest.raises(RefError, match=r"goes back 4 commits.*only 3"):
        ws.resolve("HEAD~4")


def test_ids_and_unique_prefixes(three_commits):
    ws = three_commits
    commit = ws.log()[1]
    assert ws.resolve(commit.id) == commit == ws.resolve(commit.id[:8]) == ws.resolve(commit.id[:8].upper())
    assert ws.resolve(f"{commit.id[:10]}~1") == ws.log()[2]
    with pytest.raises(RefError, match=r"'nonsense' is not a commit id, a tag, HEAD or ROOT"):
        ws.resolve("nonsense")


def test_an_ambiguous_prefix_is_named(three_commits):
    ws = three_commits
    head = ws.head()
    for seq, (commit_id, parent) in enumerate([("abcd" + "0" * 60, head.id), ("abcd" + "1" * 60, "abcd" + "0" * 60)]):
        ws._store.db.execute("INSERT INTO commits VALUES (?, ?, ?, 1, 'commit', 'x', 'm', 'now', ?, 0, 0)",
                             (commit_id, head.seq + 1 + seq, parent, head.state_fingerprint))
    with pytest.raises(RefError, match=r"'abcd' is ambiguous: it starts abcd00000000, abcd11111111"):
        ws.resolve("abcd")
    assert ws.resolve("abcd1").seq == head.seq + 2


def test_tags_name_one_commit_forever(three_commits):
    ws = three_commits
    tag = ws.tag("release-1", "HEAD~1")
    assert ws.resolve("release-1") == ws.log()[1] and tag.author == "alice"
    assert ws.resolve("release-1~1") == ws.log()[2]
    with pytest.raises(LedgerError, match=r"already names commit"):
        ws.tag("release-1", "HEAD")
    for bad in ("HEAD", "root", "-x", "a b", "v~1"):
        with pytest.raises(LedgerError, match=r"not allowed"):
            ws.tag(bad)
    assert [t.name for t in ws.tags()] == ["release-1"]
