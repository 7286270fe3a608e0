"""The CLI as a shell user meets it: piped into `head`, told the workspace by the environment,
and quiet on stderr at the default log level."""

import json
import os
import subprocess
import sys
from pathlib import Path

from core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _factsmith(*argv: str, env: dict[str, str], pipe_to_head: bool = False) -> subprocess.CompletedProcess:
    code = f"import sys; from core.cli import main; sys.exit(main({list(argv)!r}))"
    command = [sys.executable, "-c", code]
    if not pipe_to_head:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    writer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    head = subprocess.run(["head", "-n", "1"], stdin=writer.stdout, capture_output=True, timeout=300)
    writer.stdout.close()  # only head holds the pipe now: it closes it after one line
    _, err = writer.communicate(timeout=300)
    return subprocess.CompletedProcess(command, writer.returncode, head.stdout.decode(), err.decode())


def test_output_piped_into_head_ends_without_a_traceback(tmp_path, tiny_model_dir):
    env = {**os.environ, "FACTSMITH_WORKSPACE": str(tmp_path / "w.factsmith"), "HOME": str(tmp_path)}
    assert _factsmith("workspace", "init", env["FACTSMITH_WORKSPACE"], "--model", str(tiny_model_dir("gpt2")),
                      env=env).returncode == 0
    facts = [{"subject": f"S{i}", "prompt": f"The capital of S{i} is", "target_new": f"T{i}"} for i in range(400)]
    (tmp_path / "f.jsonl").write_text("".join(json.dumps(f) + "\n" for f in facts))
    assert _factsmith("import", str(tmp_path / "f.jsonl"), env=env).returncode == 0
    done = _factsmith("queue", "--json", env=env, pipe_to_head=True)
    assert done.stdout == "[\n" and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_loading_a_model_prints_no_progress_bars_or_library_warnings(tmp_path, tiny_model_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")}
    done = _factsmith("generate", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "Hello", env=env)
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "attention_mask" not in done.stderr, done.stderr


def test_workspace_recover_reads_the_workspace_from_the_environment(tmp_path, tiny_model_dir, capsys, monkeypatch):
    path = tmp_path / "w.factsmith"
    assert main(["workspace", "init", str(path), "--model", str(tiny_model_dir("gpt2"))]) == 0
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(path))
    assert main(["workspace", "recover", "--out", str(tmp_path / "copy.factsmith")]) == 0, capsys.readouterr().err
    assert (tmp_path / "copy.factsmith").is_file()
    monkeypatch.delenv("FACTSMITH_WORKSPACE")
    assert main(["workspace", "recover", "--out", str(tmp_path / "again.factsmith")]) == 2
    assert "--workspace PATH (or FACTSMITH_WORKSPACE)" in capsys.readouterr().err
