"""Issue 15, "bad input files": each case the fuzz campaign found, as a test.

Every one ends in FactsFileError (or FactError for a Fact built in code) naming the file, the
row and the field, never in a traceback and never silently accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.facts.fact import Fact, FactError
from core.facts.io import FactsFileError, inspect_facts, read_facts

SAMPLES = Path(__file__).parent / "data" / "facts_io_samples.json"
GOOD = {"subject": "France", "prompt": "The capital of France is", "target_new": "Rome", "target_true": "Paris"}
HEADER = "subject,prompt,target_new,target_true,locality_prompt,locality_answer\n"
ROW = "Nissan Skyline,Nissan Skyline is made by,Toyota,Nissan,Toyota Corolla is made by,Toyota\n"


def sample(name: str) -> dict:
    return json.loads(SAMPLES.read_text(encoding="utf-8"))[name]


def jsonl(path: Path, rows: list, ascii_only: bool = True) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in rows), encoding="utf-8")
    return path


def refusal(path: Path, **kwargs) -> FactsFileError:
    with pytest.raises(FactsFileError) as err:
        read_facts(path, **kwargs)
    return err.value


# --- crashes -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["subject", "prompt", "target_new", "target_true"])
def test_lone_surrogate_in_any_text_field_names_file_line_and_field(tmp_path, field):
    row = dict(GOOD, **{field: GOOD[field] + "\ud83d"})
    err = refusal(jsonl(tmp_path / "s.jsonl", [GOOD, row]))
    assert (err.line, err.field) == (2, field) and "s.jsonl line 2" in str(err) and "surrogate" in str(err)


def test_lone_surrogate_in_a_list_and_in_a_fact_built_in_code(tmp_path):
    err = refusal(jsonl(tmp_path / "s.jsonl", [dict(GOOD, paraphrases=["France's capital \udc00"])]))
    assert err.field == "paraphrases[0]"
    with pytest.raises(FactError, match="surrogate") as built:
        Fact("France\ud83d", "The capital of France is", "Rome")
    assert built.value.field == "subject"


@pytest.mark.parametrize("suffix", ["json", "jsonl"])
def test_json_nested_5000_deep_is_refused_with_a_line(tmp_path, suffix):
    deep = "[" * 5000 + "]" * 5000
    rows = [json.dumps(GOOD), json.dumps(GOOD)[:-1] + f', "paraphrases": {deep}}}']
    text = "\n".join(rows) + "\n" if suffix == "jsonl" else "[\n" + ",\n".join(rows) + "\n]\n"
    path = tmp_path / f"deep.{suffix}"
    path.write_text(text)
    err = refusal(path)
    assert (err.line, err.unit) == (2 if suffix == "jsonl" else 3, "line") and "deeper than" in str(err)


# --- accepted but wrong: CSV ---------------------------------------------------------


def test_csv_cut_off_mid_row_is_refused(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text(HEADER + ROW + ROW[:40])  # "...,Toyota,Niss"
    err = refusal(path)
    assert err.line == 3 and "cut off" in str(err)
    path.write_text(HEADER + ROW + ROW.rstrip("\n"))  # complete cells, but no line end: maybe cut
    assert refusal(path).line == 3


def test_csv_unterminated_quote_is_refused_not_merged(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(HEADER + ROW.replace("Toyota,Nissan", '"Toyota,Nissan', 1) + ROW + ROW)
    err = refusal(path)
    assert err.line == 2 and "never closed" in str(err)
    path.write_text(HEADER + ROW.replace(",Toyota,", ',"Toy"ota,', 1) + ROW)
    assert refusal(path).line == 2


def test_short_and_long_csv_rows_are_refused(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(HEADER + ROW + ROW.rsplit(",", 1)[0] + "\n")  # locality_answer missing
    err = refusal(path)
    assert err.line == 3 and "5 cells but the header has 6" in str(err)
    assert "line 3 of the file" not in str(err), "a row on its own line: the row number says it (trial 40)"
    path.write_text(HEADER + ROW.rstrip("\n") + ",extra\n")
    assert "7 cells" in str(refusal(path))


# --- accepted but wrong: text values --------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("target_new", "\u200b"), ("target_new", "\u0000"), ("target_true", "\u200b"),
    ("prompt", "\u200f\u202e"), ("target_new", "\u0301\u0302"), ("target_true", "\u0301"),
])
def test_invisible_or_control_values_are_refused(tmp_path, field, value):
    err = refusal(jsonl(tmp_path / "v.jsonl", [dict(GOOD, **{field: value})]))
    assert (err.line, err.field) == (1, field)


@pytest.mark.parametrize("new", ["Paris\u200b", "Pa\u00adris", "Ｐａｒｉｓ", "PARIS", "Pari\u0073"])
def test_new_answer_equal_to_old_in_disguise_is_refused(tmp_path, new):
    err = refusal(jsonl(tmp_path / "d.jsonl", [dict(GOOD, target_new=new)], ascii_only=False))
    assert err.field == "target_new"


def test_text_is_normalised_to_nfc(tmp_path):
    [fact] = read_facts(jsonl(tmp_path / "n.jsonl", [dict(GOOD, target_new="Mu\u0308nchen")]))
    assert fact.target_new == "M\u00fcnchen"


@pytest.mark.parametrize("value", [False, 0, True, {}, 1.5])
@pytest.mark.parametrize("field", ["paraphrases", "locality", "context"])
def test_false_or_zero_in_place_of_a_list_is_refused(tmp_path, field, value):
    err = refusal(jsonl(tmp_path / "t.jsonl", [dict(GOOD, **{field: value})]))
    assert err.field == field and "must be a list" in str(err)


def test_false_in_place_of_easyedit_locality_is_refused(tmp_path):
    row = dict(sample("easyedit"), locality_prompt=False, locality_ground_truth=False)
    assert refusal(jsonl(tmp_path / "e.jsonl", [row])).field == "locality_prompt"


# --- accepted but wrong: formats and keys ---------------------------------------------


def test_format_is_detected_from_every_row(tmp_path):
    bare = {k: v for k, v in sample("easyedit").items() if not k.startswith("locality")}
    rows = [bare] * 25 + [sample("easyedit")]  # beyond the 20 rows detection used to look at
    report = inspect_facts(jsonl(tmp_path / "e.jsonl", rows))
    assert report.format == "easyedit" and report.ok
    assert report.facts[-1].locality[0].answer == "French"


def test_a_file_mixing_formats_is_refused_at_the_first_row_that_differs(tmp_path):
    rows = [sample("factsmith"), sample("factsmith"), sample("easyedit"), sample("factsmith")]
    with pytest.raises(FactsFileError) as err:
        inspect_facts(jsonl(tmp_path / "m.jsonl", rows))
    assert err.value.line == 3 and "mixes formats" in str(err.value) and "locality_prompt" in str(err.value)


def test_duplicate_json_keys_are_refused(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:-1] + ', "target_new": "Lyon"}\n')
    err = refusal(path)
    assert (err.line, err.field) == (2, "target_new") and "twice" in str(err)
    path = tmp_path / "dup.json"
    path.write_text('[{"locality": [{"prompt": "a", "prompt": "b", "answer": "c"}], ' + json.dumps(GOOD)[1:] + "]")
    assert refusal(path).field == "locality[0].prompt"


# --- real files: fields kept, fields reported -------------------------------------------


def test_easyedit_fake_evidence_and_zsre_cond_become_context(tmp_path):
    evidence = "Danielle Darrieux grew up in London and speaks English."
    [fact] = read_facts(jsonl(tmp_path / "e.jsonl", [dict(sample("easyedit"), fake_evidence=evidence)]))
    assert fact.context == (evidence,)
    [fact] = read_facts(jsonl(tmp_path / "z.jsonl", [sample("zsre")]))
    assert fact.context == (sample("zsre")["cond"],)


def test_fields_with_no_place_are_reported_as_ignored(tmp_path):
    report = inspect_facts(jsonl(tmp_path / "cf.jsonl", [sample("counterfact")] * 2))
    assert dict(report.ignored) == {"case_id": 2, "pararel_idx": 2, "attribute_prompts": 2, "generation_prompts": 2}
    path = tmp_path / "c.csv"
    path.write_text("subject,prompt,target_new,note\nFrance,The capital of France is,Rome,checked\n")
    assert inspect_facts(path).ignored == (("note", 1),)
