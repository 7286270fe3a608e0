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
