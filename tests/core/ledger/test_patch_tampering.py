"""Tampered patches (issue 15): every kind of alteration is refused with a PatchError naming
what is wrong, before the model folder is touched or the output folder is written.

Forgeries "with consistent hashes" recompute every hash a patch carries (delta hashes, file
hashes, state fingerprints, the chain), as an attacker can; only the signature stops them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from core.edit.deltas import Delta, DenseUpdate, LowRankUpdate
from core.ledger import PatchError, read_patch
from core.ledger.patch_checks import seal
from core.ledger.patch_sign import PatchTrust, sign_manifest
from core.ledger.patches import apply_patch
from core.ledger.state import state_fingerprint
from core.model.loading import LoadOptions
from core.util.signing import KeyStore
from tests.core.ledger.helpers import PARAM, add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
OTHER_PARAM = PARAM.replace(".h.1.", ".h.2.")  # same shape, another layer


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_model_dir):
    """A workspace of three committed edits and its patch, signed by the trusted author key."""
    from core.ledger import Workspace

    root = tmp_path_factory.mktemp("tamper")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACTSMITH_CONFIG_DIR", str(root / "config"))
        keys = KeyStore.default()
        keys.init("alice")
        ws = Workspace.create(root / "edits.factsmith", tiny_model_dir("gpt2"), author="alice")
        add_run_approve(ws, make_facts(3))
        ws.commit("three")
        ws.checkout("HEAD", options=CPU)  # records the weights the patch then carries
        ws.export_patch(root / "good.patch")
        ws.close()
    attacker = KeyStore(root / "attacker")
    attacker.init("mallory")
    return {"root": root, "patch": root / "good.patch", "keys": keys, "attacker": attacker}


@pytest.fixture(autouse=True)
def _config(made, monkeypatch):
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(made["root"] / "config"))


@pytest.fixture
def model(tmp_path, tiny_model_dir):
    copy = tmp_path / "base"
    shutil.copytree(tiny_model_dir("gpt2"), copy)
    return copy


@pytest.fixture
def patch(made, tmp_path):
    path = tmp_path / "p.patch"
    shutil.copy(made["patch"], path)
    return path


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())}


def refused(patch: Path, model: Path, match: str, trust: PatchTrust | None = None) -> None:
    out, before = model.parent / "out", snapshot(model)
    with pytest.raises(PatchError, match=match):
        apply_patch(patch, model, out, CPU, trust=trust)
    assert snapshot(model) == before and not out.exists()


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write(path: Path, files: dict[str, bytes] | list[tuple[str, bytes]]) -> None:
    items = files.items() if isinstance(files, dict) else files
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in items:
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name.endswith(".json")
                             else zipfile.ZIP_STORED)


def edit_manifest(path: Path, change) -> None:
    files = members(path)
    manifest = json.loads(files["manifest.json"])
    change(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    write(path, files)


def forge(path: Path, change, signature: str, made) -> None:
    """Rewrite the edits with ``change`` [(entry, delta)] -> [(entry, delta)], every hash recomputed;
    ``signature``: keep (the author's, now stale), attacker (re-signed), strip."""
    files = members(path)
    manifest, deltas = read_patch(path)
    pairs = change(list(zip(manifest["edits"], deltas, strict=True)))
    blobs = {}
    for entry, delta in pairs:
        data = delta.to_bytes()
        entry.update(delta_sha256=delta.sha256, delta_file=f"deltas/{delta.sha256}.safetensors",
                     delta_file_sha256=hashlib.sha256(data).hexdigest(), delta_size=len(data))
        blobs[entry["delta_file"]] = data
    manifest["edits"] = [entry for entry, _ in pairs]
    hashes = manifest["from"]["delta_hashes"] + [e["delta_sha256"] for e in manifest["edits"]]
    manifest["to"]["state_fingerprint"] = state_fingerprint(manifest["base"]["fingerprint"], hashes)
    manifest["weights"] = []  # the records that would catch the forgery after replay
    seal(manifest)
    out = {"manifest.json": json.dumps(manifest).encode()}
    if signature == "keep":
        out["signature.json"] = files["signature.json"]
    elif signature in ("attacker", "author"):
        out["signature.json"] = sign_manifest(out["manifest.json"], made[signature if signature == "attacker"
                                                                           else "keys"])[0]
    write(path, {**out, **blobs})


def _updates(delta: Delta, fn) -> Delta:
    return replace(delta, updates=tuple(fn(u) for u in delta.updates))


FORGERIES = {
    "reordered": lambda pairs: pairs[::-1],
    "swapped": lambda pairs: [(pairs[0][0], pairs[1][1]), (pairs[1][0], pairs[0][1]), pairs[2]],
    "dropped": lambda pairs: [pairs[0], pairs[2]],
    "renamed layer": lambda pairs: [(e, _updates(d, lambda u: replace(u, param=OTHER_PARAM))) for e, d in pairs],
    "scaled x10": lambda pairs: [(e, _updates(d, lambda u: replace(u, left=u.left * 10))) for e, d in pairs],
}
SIGNATURES = {"keep": r"the signature does not match manifest\.json", "attacker": r"which you do not trust",
              "strip": r"is unsigned"}


@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("kind", FORGERIES)
def test_consistent_forgeries_are_refused(made, patch, model, kind, signature):
    forge(patch, FORGERIES[kind], signature, made)
    read_patch(patch)  # every hash inside is consistent: only the signature tells
    refused(patch, model, SIGNATURES[signature])


EDITS = {
    "method": lambda m: m["edits"][1].update(method="rome"),
    "target_new": lambda m: m["edits"][1]["facts"][0].update(target_new="Atlantis"),
    "hparams": lambda m: m["edits"][1]["hparams"].update(seed=9),
    "metrics": lambda m: m["edits"][1]["metrics"]["post"].update(efficacy=0.0),
    "reordered entries": lambda m: m["edits"].reverse(),
    "dropped entry": lambda m: m["edits"].pop(1),
}


@pytest.mark.parametrize("what", EDITS)
def test_edited_manifest_entries_are_refused_and_named(patch, model, what):
    edit_manifest(patch, EDITS[what])
    refused(patch, model, r"edit \d of \d \(.*\) breaks the patch's hash chain")


def test_edited_weights_records_break_the_chain(patch, model):
    edit_manifest(patch, lambda m: m["weights"][0].update(weights_fingerprint="0" * 64))
    refused(patch, model, r"weights records break the patch's hash chain")


def _edited_info(data: bytes) -> bytes:
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"]["info"] = json.dumps({"note": "forged"})
    raw = json.dumps(header, separators=(",", ":")).encode()
    assert len(raw) <= length
    raw = raw.ljust(length)  # the same header length: only the info differs
    return data[:8] + raw + data[8 + length :]


def test_edited_delta_info_is_refused_and_named(patch, model):
    files = members(patch)
    name = json.loads(files["manifest.json"])["edits"][0]["delta_file"]
    files[name] = _edited_info(files[name])
    write(patch, files)
    refused(patch, model, r"edit 1 of 3 .*: the delta file differs .*info was altered")


def test_edited_delta_info_with_its_hash_recomputed_fails_the_signature(patch, model):
    files = members(patch)
    manifest = json.loads(files["manifest.json"])
    entry = manifest["edits"][0]
    files[entry["delta_file"]] = _edited_info(files[entry["delta_file"]])
    entry["delta_file_sha256"] = hashlib.sha256(files[entry["delta_file"]]).hexdigest()
    seal(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    write(patch, files)
    refused(patch, model, r"the signature does not match")


def _member_offsets(path: Path) -> dict[str, tuple[int, int]]:
    with zipfile.ZipFile(path) as archive, path.open("rb") as fh:
        spans = {}
        for info in archive.infolist():
            fh.seek(info.header_offset + 26)
            name_len, extra_len = (int.from_bytes(fh.read(2), "little") for _ in range(2))
            spans[info.filename] = (info.header_offset + 30 + name_len + extra_len, info.compress_size)
    return spans


@pytest.mark.parametrize("where", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("member", ["manifest.json", "signature.json", "delta 1", "delta 3"])
def test_bit_flips_in_every_member_are_refused(patch, model, member, where):
    spans = _member_offsets(patch)
    deltas = sorted(n for n in spans if n.startswith("deltas/"))
    edits = [e["delta_file"] for e in read_patch(patch)[0]["edits"]]
    name = edits[int(member[-1]) - 1] if member.startswith("delta") else member
    assert name in deltas or not member.startswith("delta")
    start, size = spans[name]
    data = bytearray(patch.read_bytes())
    data[start + int(size * where)] ^= 0x10
    patch.write_bytes(bytes(data))
    refused(patch, model, rf"{name.replace('.', '[.]')} is corrupt")


@pytest.mark.parametrize("key", ["from", "edits", "to.state_fingerprint", "to.chain", "base.fingerprint",
                                 "from.delta_hashes", "edits.0.delta_sha256", "edits.0.link", "weights.0.dtype"])
def test_missing_manifest_keys_are_refused_and_named(patch, model, key):
    def drop(m):
        *parents, last = key.split(".")
        for p in parents:
            m = m[int(p)] if p.isdigit() else m[p]
        del m[last]

    edit_manifest(patch, drop)
    refused(patch, model, rf"has no '{key.split('.')[-1]}'; the file was altered")


@pytest.mark.parametrize("content, match", [(b"{not json", r"manifest\.json is not valid JSON"),
                                            (b"[1, 2]", r"is not a Factsmith patch"),
                                            (b"\xff\xfe", r"manifest\.json is not valid JSON"),
                                            (b"[" * 100000, r"manifest\.json is not valid JSON")])
def test_a_malformed_manifest_is_refused(patch, model, content, match):
    files = members(patch)
    files["manifest.json"] = content
    write(patch, files)
    refused(patch, model, match)


@pytest.mark.parametrize("change, match", [
    (lambda m: m["edits"].__setitem__(0, "x"), r"edit 1 of 3 is not an object"),
    (lambda m: m["edits"][0].update(delta_size="12"), r"edit 1 of 3\.delta_size is not a int"),
    (lambda m: m["edits"][0].update(delta_file="../../x"), r"names its delta '\.\./\.\./x'"),
    (lambda m: m["from"]["delta_hashes"].append(1), r"from\.delta_hashes\[0\] is not a sha256"),
    (lambda m: m.update(version=99), r"patch version 99"),
])
def test_a_wrongly_typed_or_newer_manifest_is_refused(patch, model, change, match):
    edit_manifest(patch, change)
    refused(patch, model, match)


def _with_delta(made, patch: Path, delta: Delta) -> None:
    """A patch (signed by the trusted author) whose second edit is ``delta``: the checks must hold anyway."""
    forge(patch, lambda pairs: [pairs[0], (pairs[1][0], delta), pairs[2]], "author", made)


def _lowrank(rows: int, cols: int, rank: int = 1, rank2: int | None = None) -> Delta:
    import torch

    update = LowRankUpdate(PARAM, torch.ones(rows, rank), torch.ones(rank2 or rank, cols))
    return Delta(method="hand", updates=(update,), hparams={"seed": 0})


@pytest.mark.parametrize("delta, match", [
    (lambda: _lowrank(20_000, 20_000), r"edit 2 of 3 .* has shape \(20000, 20000\), the model's is \(128, 32\)"),
    (lambda: _lowrank(300_000, 300_000), r"edit 2 of 3 .* would expand to 90000000000 elements"),
    (lambda: _lowrank(128, 32, 2, 3), r"edit 2 of 3 .*low-rank factors .* do not fit together"),
    (lambda: Delta("hand", (DenseUpdate(PARAM, __import__("torch").ones(32, 128)),)),
     r"edit 2 of 3 .* has shape \(32, 128\), the model's is \(128, 32\)"),
    (lambda: Delta("hand", (DenseUpdate("transformer.nope.weight", __import__("torch").ones(3)),)),
     r"edit 2 of 3 .* changes transformer\.nope\.weight, which this model does not have"),
])
def test_huge_or_misshapen_deltas_are_refused_before_multiplying(made, patch, model, delta, match):
    _with_delta(made, patch, delta())
    refused(patch, model, match)


def test_a_delta_header_lying_about_its_shape_is_refused(patch, model):
    files = members(patch)
    name = json.loads(files["manifest.json"])["edits"][0]["delta_file"]
    data = files[name]
    length = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + length].replace(b'"shape":[128,1]', b'"shape":[99999999,1]', 1)
    files[name] = (len(header)).to_bytes(8, "little") + header + data[8 + length :]
    write(patch, files)
    refused(patch, model, r"edit 1 of 3 .* the delta is corrupt \(tensor .* declares shape \[99999999, 1\]")


def _deflated(size: int) -> bytes:
    import zlib

    compressor = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    return b"".join(compressor.compress(chunk) for _ in range(size >> 20)) + compressor.flush()


def test_a_zip_bomb_manifest_is_refused_unread(patch, model):
    files = members(patch)
    files["manifest.json"] = b" " * (100 << 20)  # 100 MB of blanks deflates to ~100 kB
    write(patch, files)
    assert patch.stat().st_size < 2 << 20
    refused(patch, model, r"manifest\.json declares 104857600 bytes, over the limit")


def test_a_zip_bomb_lying_about_its_size_stops_at_the_declared_size(patch, model):
    files = members(patch)
    files["manifest.json"] = b" " * (100 << 20)
    write(patch, files)
    data = bytearray(patch.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first central directory entry: the manifest
    assert data[central + 46 : central + 46 + 13] == b"manifest.json"
    data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    patch.write_bytes(bytes(data))
    refused(patch, model, r"manifest\.json is corrupt")


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "deltas/../../evil.safetensors", "deltas/x.pkl",
                                  "data.pkl"])
def test_unexpected_members_are_refused(patch, model, name):
    files = members(patch)
    files[name] = b"payload"
    write(patch, files)
    refused(patch, model, rf"unexpected member '{name.replace('.', '[.]')}'")


def test_a_pickle_payload_as_a_delta_is_refused(patch, model):
    import pickle

    files = members(patch)
    name = json.loads(files["manifest.json"])["edits"][0]["delta_file"]
    files[name] = pickle.dumps({"__reduce__": "os.system('echo pwned')"})
    write(patch, files)
    refused(patch, model, r"edit 1 of 3 .* the delta is corrupt")


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_members_are_refused(patch, model):
    files = members(patch)
    write(patch, [*files.items(), ("manifest.json", files["manifest.json"])])
    refused(patch, model, r"some members appear twice")


def test_signature_faults_are_refused(made, patch, model, tmp_path):
    files = members(patch)
    body = json.loads(files["signature.json"])
    cases = {
        "wrong": {**body, "signature": body["signature"][:10] + ("A" if body["signature"][10] != "A" else "B")
                  + body["signature"][11:]},
        "other key": {**body, "public_key": made["attacker"].own().text},
        "malformed": {**body, "signature": "***"},
        "other algorithm": {**body, "algorithm": "rsa"},
    }
    matches = {"wrong": r"signature does not match", "other key": r"signature does not match",
               "malformed": r"signature\.json is malformed", "other algorithm": r"unknown algorithm 'rsa'"}
    for case, signature in cases.items():
        write(patch, {**files, "signature.json": json.dumps(signature).encode()})
        refused(patch, model, matches[case])


def test_untrusted_and_unsigned_patches_need_permission(made, patch, model, tmp_path):
    files = members(patch)
    write(patch, {**files, "signature.json": sign_manifest(files["manifest.json"], made["attacker"])[0]})
    refused(patch, model, r"signed by key \w+ \(mallory\), which you do not trust")
    allowed = apply_patch(patch, model, tmp_path / "untrusted-out", CPU, trust=PatchTrust(allow_untrusted=True))
    assert allowed.signer["trusted"] is False and allowed.signer["name"] == "mallory"
    write(patch, {k: v for k, v in files.items() if k != "signature.json"})
    refused(patch, model, r"is unsigned.*--allow-unsigned")
    assert apply_patch(patch, model, tmp_path / "unsigned-out", CPU, trust=PatchTrust(allow_unsigned=True)).verified


def test_a_trusted_signed_patch_applies_and_names_its_signer(made, patch, model, tmp_path):
    applied = apply_patch(patch, model, tmp_path / "out", CPU)
    assert applied.verified and applied.signer["name"] == "alice" and applied.signer["trusted"]
    assert applied.signer["fingerprint"] == made["keys"].own().fingerprint


def test_base_weights_changed_in_place_with_mtime_restored_are_refused(patch, model, tmp_path):
    from core.model.fingerprint import folder_fingerprint

    folder_fingerprint(model)  # the cache now holds the file's hash
    weights = model / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor: still a valid file of the same size
    with weights.open("r+b") as fh:
        fh.write(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert weights.stat().st_mtime_ns == before.st_mtime_ns and weights.stat().st_size == before.st_size
    refused(patch, model, r"model .* has fingerprint \w+, but this patch applies to base model")


def test_a_base_with_other_config_or_tokenizer_is_refused(patch, model):
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "layer_norm_epsilon": 0.5}))
    refused(patch, model, r"config\.json or tokenizer files differ")


def test_a_checkout_changed_in_place_is_refused(workspace, tmp_path):
    add_run_approve(workspace, make_facts(1))
    workspace.commit("one")
    add_run_approve(workspace, make_facts(1, start=1))
    workspace.commit("two")
    workspace.checkout("HEAD~1", tmp_path / "start", options=CPU)
    workspace.export_patch(tmp_path / "last.patch", from_ref="HEAD~1")
    weights = tmp_path / "start" / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    refused(tmp_path / "last.patch", tmp_path / "start", r"its weights changed since it was checked out")


@pytest.mark.parametrize("damage, match", [
    (lambda p: edit_manifest(p, lambda m: m.pop("from")), r"has no 'from'"),
    (lambda p: write(p, {k: v for k, v in members(p).items() if k != "signature.json"}), r"is unsigned"),
    (lambda p: p.write_bytes(p.read_bytes()[:200]), r"not a readable Factsmith patch"),
])
def test_the_cli_reports_one_line_and_no_traceback(patch, model, capsys, damage, match):
    import re

    from core.cli.main import main

    damage(patch)
    before = snapshot(model)
    assert main(["patch", "apply", str(patch), "--model", str(model), "--out", str(model.parent / "out"),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and re.search(match, err)
    assert snapshot(model) == before and not (model.parent / "out").exists()
