"""Broken model folders, each built from a tiny saved GPT-2: the loader refuses every one
with ModelLoadError naming the file, and `eval` / `generate` exit 2 with one clear line."""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main
from core.model.loading import LoadOptions, ModelLoadError, load_model

TOKENIZER_NAMES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                   "merges.txt", "added_tokens.json", "chat_template.jinja")

REMEDIES = ("Replace it with an intact copy", "Replace the folder with an intact copy", "use the config.json that "
            "came with", "Use the config.json that came with", "Copy the tokenizer files", "Do not use this file")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _header(folder: Path) -> tuple[int, bytes, bytes]:
    data = (folder / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return n, data[8 : 8 + n], data[8 + n :]


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def truncated(folder: Path) -> str:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "model.safetensors"


def flipped_header(folder: Path) -> str:
    n, header, data = _header(folder)
    header = header[:12] + b"\x01" + header[13:]  # a control character inside the JSON
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", n) + header + data)
    return "model.safetensors"


def flipped_shape(folder: Path) -> str:
    n, header, data = _header(folder)
    fixed = header.replace(b'"shape":[32', b'"shape":[92', 1)  # still valid JSON, same length
    assert fixed != header and len(fixed) == len(header)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", n) + fixed + data)
    return "model.safetensors"


def huge_header_length(folder: Path) -> str:
    _, header, data = _header(folder)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 2**62) + header + data)
    return "model.safetensors"


def empty_weights(folder: Path) -> str:
    (folder / "model.safetensors").write_bytes(b"")
    return "model.safetensors"


def config_shape_mismatch(folder: Path) -> str:
    _edit_config(folder, n_embd=48)
    return "config.json"


def config_claims_more(folder: Path) -> str:
    _edit_config(folder, n_layer=400)  # every tensor in the file matches; 100x the layers claimed
    return "config.json"


def config_claims_70b(folder: Path) -> str:
    _edit_config(folder, n_layer=80, n_embd=8192, n_head=64, vocab_size=32000)
    return "config.json"


def unknown_model_type(folder: Path) -> str:
    _edit_config(folder, model_type="no-such-architecture")
    return "config.json"


def missing_tokenizer(folder: Path) -> str:
    for name in TOKENIZER_NAMES:
        (folder / name).unlink(missing_ok=True)
    return "tokenizer"


def damaged_tokenizer(folder: Path) -> str:
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"')
    return "tokenizer"


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


def _to_pickle(folder: Path, extra=None) -> None:
    import torch
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    if extra is not None:
        state["payload"] = extra
    torch.save(state, folder / "pytorch_model.bin")


def malicious_pickle(folder: Path) -> str:
    _to_pickle(folder, _Evil())
    return "pytorch_model.bin"


def truncated_pickle(folder: Path) -> str:
    _to_pickle(folder)
    path = folder / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return "pytorch_model.bin"


def pickle_claims_70b(folder: Path) -> str:
    _to_pickle(folder)
    config_claims_70b(folder)
    return "config.json"


CASES = {f.__name__: f for f in (
    truncated, flipped_header, flipped_shape, huge_header_length, empty_weights, config_shape_mismatch,
    config_claims_more, config_claims_70b, unknown_model_type, missing_tokenizer, damaged_tokenizer,
    malicious_pickle, truncated_pickle, pickle_claims_70b,
)}
PICKLE_CASES = {"malicious_pickle", "truncated_pickle", "pickle_claims_70b"}


@pytest.fixture
def broken(tiny_model_dir, tmp_path, monkeypatch):
    """broken(case) -> (folder, the file name the message must mention)."""
    monkeypatch.chdir(tmp_path)

    def make(case: str):
        folder = _copy(tiny_model_dir("gpt2"), tmp_path / case)
        return folder, CASES[case](folder)

    return make


def _options(case: str) -> LoadOptions:
    return LoadOptions(device="cpu", allow_pickle=case in PICKLE_CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_loader_refuses_with_the_file_named(broken, case, one_torch_thread):
    folder, named = broken(case)
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder, _options(case))
    message = str(caught.value)
    assert named in message and str(folder) in message
    assert any(remedy in message for remedy in REMEDIES)
    assert not (Path.cwd() / "PWNED").exists()


def _cli(command: str, folder: Path, case: str) -> list[str]:
    argv = [command, "--model", str(folder), "--device", "cpu"]
    if case in PICKLE_CASES:
        argv.append("--allow-pickle")
    return argv + (["--limit", "2"] if command == "eval" else ["--max-new-tokens", "3", "Paris is"])


@pytest.mark.parametrize("command", ["eval", "generate"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_exits_2_with_one_clear_line(broken, case, command, capsys, one_torch_thread):
    folder, named = broken(case)
    assert main(_cli(command, folder, case)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    line = next(x for x in captured.err.splitlines() if x.startswith(f"factsmith {command}: error: "))
    assert named in line and any(remedy in line for remedy in REMEDIES)
    assert not (Path.cwd() / "PWNED").exists()


def test_intact_copy_still_loads_and_runs(broken, tiny_model_dir, tmp_path, capsys, one_torch_thread):
    folder = _copy(tiny_model_dir("gpt2"), tmp_path / "intact")
    assert load_model(folder, LoadOptions(device="cpu")).info.layers == 4
    assert main(["generate", "--model", str(folder), "--device", "cpu", "--max-new-tokens", "2", "Paris"]) == 0
    assert main(["eval", "--model", str(folder), "--device", "cpu", "--limit", "1"]) == 0


def test_intact_pickle_still_loads_when_allowed(tiny_model_dir, tmp_path, one_torch_thread):
    folder = _copy(tiny_model_dir("gpt2"), tmp_path / "plain-pickle")
    _to_pickle(folder)
    assert load_model(folder, LoadOptions(device="cpu", allow_pickle=True)).info.layers == 4


def test_70b_config_is_refused_before_any_allocation(broken, one_torch_thread):
    folder, _ = broken("config_claims_70b")
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(ModelLoadError, match="does not belong to these weights"):
        load_model(folder, LoadOptions(device="cpu", ignore_memory_check=True))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 512 * 1024 and time.perf_counter() - started < 30


def test_config_claiming_more_is_refused_even_with_the_memory_check_off(broken, one_torch_thread):
    folder, _ = broken("config_claims_more")
    with pytest.raises(ModelLoadError, match=r"describes a model of .* parameters, but the weights"):
        load_model(folder, LoadOptions(device="cpu", ignore_memory_check=True))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["truncated", "malicious_pickle"])
def test_real_cli_process_prints_no_traceback(broken, case, tmp_path):
    folder, named = broken(case)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "core.cli.main", *_cli("generate", folder, case)],
                            capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and named in result.stderr
    assert not (tmp_path / "PWNED").exists()
