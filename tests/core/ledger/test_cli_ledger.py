"""Every workspace command through the CLI, with --json, and its errors as one clear line."""

import json

import pytest

from core.cli import main
from tests.core.ledger.helpers import make_facts


def cli(capsys, *argv: str) -> object:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def cli_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


@pytest.fixture
def ws_env(tmp_path, tiny_model_dir, monkeypatch, capsys):
    path = tmp_path / "cli.factsmith"
    monkeypatch.setenv("FACTSMITH_AUTHOR", "erin")
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "config"))  # no author key: patches unsigned
    info = cli(capsys, "workspace", "init", str(path), "--model", str(tiny_model_dir("gpt2")))
    assert info["base"]["architecture"] == "gpt2" and info["commits"] == 0
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(path))
    facts = make_facts(4)
    (tmp_path / "facts.jsonl").write_text("".join(json.dumps(f.to_dict()) + "\n" for f in facts))
    return path, facts


def test_the_whole_command_set(ws_env, capsys, tmp_path, fake_editing, tiny_model_dir):
    _, facts = ws_env
    assert len(cli(capsys, "import", str(tmp_path / "facts.jsonl"))["added"]) == 4
    queue = cli(capsys, "queue")
    assert [(q["id"], q["status"]) for q in queue] == [(f.id, "pending") for f in facts]
    for fact in facts[:3]:
        assert cli(capsys, "review", fact.id[:10], "--approve")["to_status"] == "approved"
    assert cli(capsys, "review", facts[3].id, "--reject", "--note", "wrong")["note"] == "wrong"
    assert cli(capsys, "review", "--undo")["to_status"] == "pending"
    assert cli(capsys, "queue", "--status", "pending")[0]["id"] == facts[3].id
    runs = cli(capsys, "run", *(f.id[:8] for f in facts[:3]), "--method", "fake", "--set", "lr=0.5",
               "--device", "cpu")
    assert [r["hparams"]["lr"] for r in runs] == ["0.5"] * 3 and runs[0]["overrides"] == {"lr": "0.5"}
    assert len(set(fake_editing)) == 1  # each computed on HEAD's weights, left unchanged
    first = cli(capsys, "commit", "-m", "three facts")
    assert len(first["applied"]) == 3 and first["author"] == "erin"
    assert cli(capsys, "tag", "v1")[0]["commit_id"] == first["id"]
    assert [t["name"] for t in cli(capsys, "tag")] == ["v1"]
    log = cli(capsys, "log")
    assert log[0]["message"] == "three facts" and log[0]["tags"] == ["v1"]
    assert len(cli(capsys, "show", "v1")["runs"]) == 3
    reverted = cli(capsys, "revert", facts[1].id, "-m", "drop one", "--device", "cpu")
    assert reverted["runs"] == 2 and reverted["dropped"] == [runs[1]["id"]]
    diff = cli(capsys, "diff", "v1", "HEAD")
    assert [d["id"] for d in diff["removed"]] == [facts[1].id] and diff["added"] == []
    checkout = cli(capsys, "checkout", "HEAD", "--out", str(tmp_path / "model-out"), "--device", "cpu")
    assert checkout["verified"] and (tmp_path / "model-out" / "model.safetensors").is_file()
    exported = cli(capsys, "export", "--out", str(tmp_path / "approved.csv"), "--format", "csv")
    assert (exported["count"], exported["reverted_left_out"]) == (2, 1), "the reverted fact is not shipped"
    assert cli(capsys, "export", "--out", str(tmp_path / "a.csv"), "--include-reverted")["count"] == 3
    queue = {q["id"]: q for q in cli(capsys, "queue")}
    assert queue[facts[1].id]["reverted_in"] == cli(capsys, "log")[0]["id"] and queue[facts[0].id]["reverted_in"] == ""
    assert main(["queue"]) == 0 and "reverted     " in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "b.csv")]) == 0
    assert "left out 1 fact(s) whose edit was reverted (--include-reverted keeps them)" in capsys.readouterr().out
    assert cli(capsys, "export", "--out", str(tmp_path / "all.jsonl"), "--status", "all")["count"] == 4
    patch = cli(capsys, "patch", "export", "--out", str(tmp_path / "head.patch"))
    assert patch["edits"] == 2 and patch["signer"] is None
    applied = cli(capsys, "patch", "apply", str(tmp_path / "head.patch"), "--model", str(tiny_model_dir("gpt2")),
                  "--out", str(tmp_path / "patched"), "--device", "cpu", "--allow-unsigned")
    assert applied["weights_fingerprint"] == checkout["weights_fingerprint"] and applied["verified"]
    assert cli(capsys, "workspace", "info")["facts"] == {"approved": 3, "pending": 1}
    assert cli(capsys, "workspace", "check")["problems"] == []


def test_text_output(ws_env, capsys, tmp_path):
    path, facts = ws_env
    assert main(["import", str(tmp_path / "facts.jsonl"), "--workspace", str(path)]) == 0
    assert "imported 4 fact(s)" in capsys.readouterr().out
    assert main(["queue"]) == 0
    out = capsys.readouterr().out
    assert facts[0].id[:12] in out and "pending" in out and facts[0].prompt in out
    assert main(["log"]) == 0
    assert "root" in capsys.readouterr().out


def test_errors_are_one_clear_line(ws_env, capsys, tmp_path, monkeypatch):
    _, facts = ws_env
    main(["import", str(tmp_path / "facts.jsonl")])
    capsys.readouterr()
    assert "needs a note" in cli_error(capsys, "review", facts[0].id, "--reject")
    assert "give a fact id" in cli_error(capsys, "review", "--approve")
    assert "'nope' is not a commit id" in cli_error(capsys, "show", "nope")
    assert "nothing to commit" in cli_error(capsys, "commit", "-m", "x")
    (tmp_path / "bad.jsonl").write_text('{"subject": "X", "prompt": "no subject here", "target_new": "Y"}\n')
    assert "bad.jsonl line 1: field 'subject'" in cli_error(capsys, "import", str(tmp_path / "bad.jsonl"))
    # trial 33: only the first bad row was named; every one is, each on its own line
    (tmp_path / "bad3.jsonl").write_text('{"subject": "X", "prompt": "X is", "target_new": "Y"}\n'
                                         '{"subject": "X", "prompt": "X is"}\n{"prompt": "Z is", "target_new": "W"}\n'
                                         '{"subject": "Q", "prompt": "no subject", "target_new": "R"}\n')
    said = cli_error(capsys, "import", str(tmp_path / "bad3.jsonl")).splitlines()
    assert said[0].startswith("factsmith import: error: bad3.jsonl line 2: field 'target_new'"), said
    assert [line.split(":")[0] for line in said[1:]] == ["  also bad3.jsonl line 3", "  also bad3.jsonl line 4"]
    monkeypatch.delenv("FACTSMITH_WORKSPACE")
    assert "pass --workspace PATH or set FACTSMITH_WORKSPACE" in cli_error(capsys, "queue")
    assert "no workspace at" in cli_error(capsys, "queue", "--workspace", str(tmp_path / "missing.factsmith"))
