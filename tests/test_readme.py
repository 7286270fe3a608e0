"""The README's Python API example runs as written, and its commands are the CI's."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_api_example_runs():
    block = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    command = "python3 packaging/bootstrap.py test"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
