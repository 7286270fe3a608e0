"""Author keys and patch signatures: `factsmith keys`, and what `patch export` / `patch apply` do with them."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from core.cli.main import main
from core.util.signing import KeyStore, SigningError, parse_public_key
from tests.core.ledger.helpers import add_run_approve, make_facts


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def cli(capsys, *argv: str):
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_keys_init_show_trust_list(config, capsys, tmp_path):
    made = cli(capsys, "keys", "init", "--name", "alice")
    private = config / "keys" / "author.key"
    assert made["private_key_file"] == str(private) and stat.S_IMODE(private.stat().st_mode) == 0o600
    shown = cli(capsys, "keys", "show")
    assert shown["fingerprint"] == made["fingerprint"] and shown["public_key"].startswith("factsmith-ed25519 ")
    assert main(["keys", "init"]) == 2 and "already exists" in capsys.readouterr().err
    other = KeyStore(tmp_path / "bob").init("bob")
    (tmp_path / "bob.pub").write_text(other.text + "\n")
    assert cli(capsys, "keys", "trust", str(tmp_path / "bob.pub"), "--name", "Bob B.")["name"] == "Bob B."
    listed = cli(capsys, "keys", "list")
    assert [(k["name"], k["own"]) for k in listed] == [("alice", True), ("Bob B.", False)]
    assert main(["keys", "trust", "factsmith-ed25519 AAAA"]) == 2
    assert "32 bytes" in capsys.readouterr().err


def test_show_without_a_key_says_how_to_make_one(config, capsys):
    assert main(["keys", "show"]) == 2
    assert "factsmith keys init" in capsys.readouterr().err


def test_public_key_text_round_trips_and_verifies(tmp_path):
    store = KeyStore(tmp_path)
    key = store.init("carol")
    assert parse_public_key(key.text) == key
    public, signature = store.sign(b"data")
    assert public.verify(signature, b"data") and not public.verify(signature, b"other")
    with pytest.raises(SigningError, match="not a Factsmith public key"):
        parse_public_key("ssh-ed25519 AAAA")


def test_export_signs_when_a_key_exists_and_apply_names_the_signer(config, workspace, tiny_model_dir, capsys,
                                                                    tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(workspace.path))
    add_run_approve(workspace, make_facts(2))
    workspace.commit("two")
    unsigned = cli(capsys, "patch", "export", "--out", str(tmp_path / "unsigned.patch"))
    assert unsigned["signer"] is None
    assert "applying" not in caplog.text  # exporting applies nothing (it once said "applying it as allowed")
    assert main(["patch", "export", "--out", str(tmp_path / "u2.patch")]) == 0
    assert "unsigned: there is no author key" in capsys.readouterr().out
    cli(capsys, "keys", "init", "--name", "alice")
    signed = cli(capsys, "patch", "export", "--out", str(tmp_path / "signed.patch"))
    assert signed["signer"]["name"] == "alice" and signed["signer"]["trusted"]
    model = tmp_path / "base"
    shutil.copytree(tiny_model_dir("gpt2"), model)
    applied = cli(capsys, "patch", "apply", str(tmp_path / "signed.patch"), "--model", str(model), "--out",
                  str(tmp_path / "out"), "--device", "cpu", "--verify-weights")
    assert applied["signer"]["fingerprint"] == signed["signer"]["fingerprint"]
    assert main(["patch", "apply", str(tmp_path / "signed.patch"), "--model", str(model), "--out",
                 str(tmp_path / "out2"), "--device", "cpu"]) == 0
    assert "signed by alice" in capsys.readouterr().out
    assert main(["patch", "apply", str(tmp_path / "unsigned.patch"), "--model", str(model), "--out",
                 str(tmp_path / "out3"), "--device", "cpu"]) == 2
    assert "is unsigned" in capsys.readouterr().err and not (tmp_path / "out3").exists()


def test_an_untrusted_signer_needs_allow_untrusted(config, workspace, tiny_model_dir, capsys, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(workspace.path))
    add_run_approve(workspace, make_facts(1))
    workspace.commit("one")
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "mallory"))
    cli(capsys, "keys", "init", "--name", "mallory")
    cli(capsys, "patch", "export", "--out", str(tmp_path / "m.patch"))
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(config))
    base = ["patch", "apply", str(tmp_path / "m.patch"), "--model", str(tiny_model_dir("gpt2")), "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "o1")]) == 2
    assert "which you do not trust" in capsys.readouterr().err
    applied = cli(capsys, *base, "--out", str(tmp_path / "o2"), "--allow-untrusted")
    assert applied["signer"]["name"] == "mallory" and not applied["signer"]["trusted"]
    cli(capsys, "keys", "trust", (tmp_path / "mallory" / "keys" / "author.pub").read_text())
    assert cli(capsys, *base, "--out", str(tmp_path / "o3"))["signer"]["trusted"]
