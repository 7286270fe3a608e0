import json
import subprocess
import sys

from core.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.startswith("factsmith ")


def test_generate_json_on_tiny_model(tiny_model_dir, capsys):
    model = str(tiny_model_dir("gpt2"))
    assert main(["generate", "--model", model, "--json", "--max-new-tokens", "3", "Paris is"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["prompt"] == "Paris is"


def test_bad_model_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path), "x"]) == 2
    err = capsys.readouterr().err
    assert "config.json" in err and str(tmp_path) in err


def test_console_script_dispatches_to_cli():
    result = subprocess.run([sys.executable, "-m", "app.launcher", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("factsmith ")


def test_eval_prints_a_row_per_fact_not_only_the_means(capsys):
    """Trial 41: which fact failed could only be found in --json."""
    from core.cli import main
    from core.util.paths import demo_edits_file

    assert main(["eval", "--facts", str(demo_edits_file()), "--limit", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "reli  gene  loca" in out and "United Kingdom" in out and "Mayotte" in out


def test_an_edit_without_its_trained_editor_is_a_clear_error(tiny_model_dir, tmp_path, capsys):
    """Trial 45: `edit --method ke` with no checkpoint (or another model's) ended in a traceback."""
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps({"subject": "Paris", "prompt": "Paris is in", "target_new": "Rome"}) + "\n")
    missing = tmp_path / "ke.safetensors"
    code = main(["edit", "--model", str(tiny_model_dir("gpt2")), "--method", "ke", "--facts", str(facts),
                 "--set", f"checkpoint={missing}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith("factsmith edit: error: no trained ke editor at") and str(missing) in err


def test_an_empty_prompt_to_generate_is_refused_before_loading(tmp_path, capsys):
    """Trial 45: `factsmith generate ""` generated from nothing without a word."""
    assert main(["generate", "--model", str(tmp_path / "never-read"), "Paris is", " "]) == 2
    assert "prompt 2 is empty" in capsys.readouterr().err

