"""The README's Python API example runs as written, and its commands are the CI's."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_api_example_runs_and_says_what_it_says():
    """The France → Lyon example: ROME's edit does not take on the demo model (the README
    says so); FT-M's default takes the prompt, keeps the other capitals and France's other
    facts, and its verdict is honest about the half-taken paraphrase."""
    block = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S).group(1)
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)
    assert names["report"].summary()["reliability"] <= 0.5
    rome = names["compute_edit"](names["lm"], [names["fact"]], "rome")
    assert rome.verdict.verdict == "failed" and rome.verdict.advice, rome.verdict.summary
    outcome = names["outcome"]
    post = outcome.metrics()["post"]
    assert post["reliability"] == 1.0 and post["locality"] == 1.0, post
    assert post["generality"] == 0.5 and outcome.verdict.verdict == "partial", outcome.verdict.summary


def test_ci_runs_the_readme_test_command():
    command = "python3 packaging/bootstrap.py test"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _edit_log_lines() -> list[str]:
    block = re.search(r"## The edit log.*?```\n(.*?)```", README, re.S) or re.search(
        r"```\n(export FACTSMITH_WORKSPACE=.*?)```", README, re.S)
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_edit_log_example_runs_as_written(tmp_path):
    """Each line of the README's edit-log example, in order, in a fresh home: the commands exist,
    succeed, and the patch exported before the revert carries the edit and applies."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path), "FACTSMITH_CONFIG_DIR": str(tmp_path / "config"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "FACTSMITH_DATA_DIR": str(tmp_path / "data")}
    fact_id = None
    for line in _edit_log_lines():
        if line.startswith("export "):
            name, value = line[len("export "):].split("=", 1)
            env[name] = value.replace("~", str(tmp_path))
            continue
        line = line.replace("FACT_ID …", fact_id or "").replace("COMMIT_OR_FACT_OR_run:N", fact_id or "")
        line = line.replace("FACT_ID", fact_id or "").replace("~", str(tmp_path))
        done = subprocess.run(line, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, done.stderr
        if line.startswith("factsmith queue") and fact_id is None:
            fact_id = json.loads(done.stdout)[0]["id"]
    assert fact_id and (tmp_path / "fixes.fspatch").is_file()
    assert any((tmp_path / "models" / "patched").glob("*.safetensors"))


def test_readme_lists_the_system_packages_the_platform_check_asks_for():
    """Each distribution's row names real packages of that distribution (the check's own
    table) and the three whose absence stopped the first start (issue 14, item 1)."""
    from app.platform_check import FAMILIES, LIBRARY_PACKAGES

    for family, (index, command, _names) in FAMILIES.items():
        match = re.search(re.escape(command) + r" ([^`]+)`", README)
        assert match, f"the README has no `{command} …` line"
        listed = set(match.group(1).split())
        known = {packages[index] for packages in LIBRARY_PACKAGES.values()}
        assert listed <= known, f"{family}: not in the platform check's table: {sorted(listed - known)}"
        first_start = {LIBRARY_PACKAGES[f"libxcb-{name}"][index] for name in ("cursor.so.0", "icccm.so.4",
                                                                             "keysyms.so.1")}
        assert first_start <= listed, f"{family}: the README misses {sorted(first_start - listed)}"
