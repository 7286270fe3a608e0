"""Reading and writing edit requests in every supported format (core.facts.io)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.facts.fact import Fact, Probe
from core.facts.io import (
    FORMAT_NAMES,
    FactsFileError,
    export_csv,
    export_easyedit_json,
    export_knowedit_json,
    find_duplicates,
    inspect_facts,
    parse_column_mapping,
    read_facts,
    write_facts_jsonl,
)
from core.facts.io.writers import atomic_write

SAMPLES = Path(__file__).parent / "data" / "facts_io_samples.json"  # one row of each format
FORMATS = ("factsmith", "easyedit", "zsre", "counterfact", "knowedit", "ice", "mquake")


def sample(name: str) -> dict:
    return json.loads(SAMPLES.read_text(encoding="utf-8"))[name]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def full_fact(**changes) -> Fact:
    portability = [{"prompt": "Danielle Darrieux's films are in", "answer": "English"}]
    fields = {**sample("factsmith"), "portability": portability,
              "context": ["Danielle Darrieux's mother tongue is English."], **changes}
    return Fact.create(**fields)


# --- one test per format ---------------------------------------------------------------


def test_factsmith_jsonl_accepts_ground_truth_in_locality(tmp_path):
    [fact] = read_facts(write_jsonl(tmp_path / "f.jsonl", [sample("factsmith")]))
    assert fact == Fact.create(**sample("factsmith"))
    assert fact.locality == (Probe("The mother tongue of Léon Blum is", "French"),)
    assert fact.relation == "P103"


def test_easyedit_flat_counterfact(tmp_path):
    [fact] = read_facts(write_jsonl(tmp_path / "cf.jsonl", [sample("easyedit")]))
    assert (fact.subject, fact.target_new, fact.target_true) == ("Danielle Darrieux", "English", "French")
    assert fact.paraphrases == ("Danielle Darrieux speaks",)
    assert fact.locality == (Probe("The mother tongue of Léon Blum is", "French"),)


def test_zsre_edit_is_src_to_alt_and_loc_loses_its_tag(tmp_path):
    [fact] = read_facts(write_json(tmp_path / "zsre.json", [sample("zsre")]))
    assert fact.prompt == sample("zsre")["src"] and fact.target_new == "University of Michigan"
    assert fact.target_true == "Illinois Institute of Technology"
    assert fact.paraphrases == (sample("zsre")["rephrase"],)
    assert fact.locality == (Probe("who played desmond doss father in hacksaw ridge", "Hugo Weaving"),)


def test_zsre_variants(tmp_path):
    """Empty answers fall back on pred; the prompt's spelling of the subject wins; EasyEdit's
    portability question is kept."""
    row = {**sample("zsre"), "answers": [], "subject": "watts humphrey",
           "portability": {"New Question": "Which state is Watts Humphrey's university in?", "New Answer": "MI"}}
    [fact] = read_facts(write_json(tmp_path / "zsre.json", [row]))
    assert fact.target_true == "Trinity College"
    assert fact.subject == "Watts Humphrey"
    assert fact.portability == (Probe("Which state is Watts Humphrey's university in?", "MI"),)


def test_rome_counterfact(tmp_path):
    [fact] = read_facts(write_json(tmp_path / "counterfact.json", [sample("counterfact")]))
    assert fact.prompt == "The mother tongue of Danielle Darrieux is"
    assert (fact.target_new, fact.target_true, fact.relation) == ("English", "French", "P103")
    assert fact.paraphrases == tuple(sample("counterfact")["paraphrase_prompts"])
    assert fact.locality == tuple(Probe(p, "French") for p in sample("counterfact")["neighborhood_prompts"])


def test_knowedit_nested_ground_truths_and_grouped_probes(tmp_path):
    [fact] = read_facts(write_json(tmp_path / "knowedit.json", [sample("knowedit")]))
    assert fact.target_true == "Australia"
    assert fact.paraphrases == ("Kylie Minogue is a citizen of",)
    assert fact.portability == (
        Probe("The capital of Kylie Minogue's country is", "Damascus"),
        Probe("The country of citizenship of Kylie Ann Minogue is", "Syria"),
    )
    assert fact.locality == (Probe("The occupation of Kylie Minogue is", "singer"),)


def test_ice_adds_context(tmp_path):
    [fact] = read_facts(write_json(tmp_path / "ice.json", [sample("ice")]))
    assert fact.context == tuple(sample("ice")["context"])
    assert fact.portability and fact.locality


def test_mquake_one_fact_per_rewrite_with_the_questions_as_portability(tmp_path):
    first, second = read_facts(write_json(tmp_path / "mquake.json", [sample("mquake")]))
    assert (first.subject, first.target_new, first.target_true) == ("Ellie Kemper", "Croatia", "United States")
    assert first.prompt == "Ellie Kemper is a citizen of"
    assert first.paraphrases == ("What is the country of citizenship of Ellie Kemper?",)
    assert second.prompt == "The head of state of Croatia is" and second.paraphrases == ()
    expected = (Probe(sample("mquake")["questions"][0], "Kolinda"),)
    assert first.portability == expected and second.portability == expected


# --- containers, detection, override -----------------------------------------------------


@pytest.mark.parametrize("name", FORMATS)
def test_format_is_detected(tmp_path, name):
    report = inspect_facts(write_jsonl(tmp_path / "rows.jsonl", [sample(name)] * 2))
    assert report.format == name and report.ok
    assert report.preview == (sample(name),) * 2


@pytest.mark.parametrize("container", ["jsonl", "array", "wrapped", "single"])
def test_json_containers(tmp_path, container):
    path = tmp_path / "facts.json"
    if container == "jsonl":
        write_jsonl(path, [sample("knowedit"), sample("ice")])
    elif container == "array":
        write_json(path, [sample("knowedit"), sample("ice")])
    elif container == "wrapped":
        write_json(path, {"version": 2, "data": [sample("knowedit"), sample("ice")]})
    else:
        write_json(path, sample("knowedit"))
    facts = read_facts(path)
    assert len(facts) == (1 if container == "single" else 2)
    assert facts[0].target_new == "Syria"


def test_a_bad_first_row_does_not_hide_the_format(tmp_path):
    path = write_jsonl(tmp_path / "cf.jsonl", [{"case_id": 0}, sample("easyedit")])
    report = inspect_facts(path)
    assert report.format == "easyedit"
    assert [(e.line, e.field) for e in report.errors] == [(1, "subject")]


def test_override_by_name(tmp_path):
    flat = {k: v for k, v in sample("easyedit").items() if not k.startswith("locality")}
    path = write_jsonl(tmp_path / "flat.jsonl", [flat])
    assert inspect_facts(path).format == "knowedit"
    report = inspect_facts(path, format="easyedit")
    assert report.format == "easyedit" and report.facts[0].paraphrases == ("Danielle Darrieux speaks",)
    with pytest.raises(FactsFileError, match="field 'src'"):
        read_facts(path, format="zsre")


def test_unknown_format_name_lists_the_formats(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [sample("factsmith")])
    with pytest.raises(FactsFileError, match=r"unknown format 'rome'.*counterfact"):
        read_facts(path, format="rome")
    assert "csv" in FORMAT_NAMES


def test_unknown_format_lists_tried_formats_and_first_keys(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(FactsFileError) as caught:
        read_facts(path)
    text = str(caught.value)
    assert text.startswith("odd.jsonl: unknown format")
    assert all(name in text for name in FORMAT_NAMES if name != "csv")
    assert "question, answer" in text


# --- errors ------------------------------------------------------------------------------


def test_bad_rows_name_file_line_and_field(tmp_path):
    bad_subject = {**sample("factsmith"), "subject": "Paris"}
    no_target = {**sample("factsmith"), "target_new": ""}
    path = write_jsonl(tmp_path / "facts.jsonl", [sample("factsmith"), bad_subject, sample("factsmith"), no_target])
    with pytest.raises(FactsFileError) as caught:
        read_facts(path)
    err = caught.value
    assert str(err).startswith("facts.jsonl line 2: field 'subject': 'Paris' does not occur in the prompt")
    assert str(err).endswith("(and 1 more bad row)")
    assert (err.path, err.line, err.field) == (path, 2, "subject")
    assert [(e.line, e.field) for e in err.more] == [(4, "target_new")]
    report = inspect_facts(path)
    assert not report.ok and len(report.facts) == 2 and report.fact_lines == (1, 3)


def test_array_errors_count_by_index_and_name_the_source_field(tmp_path):
    no_slot = {**sample("counterfact")["requested_rewrite"], "prompt": "The mother tongue is"}
    rows = [sample("counterfact"), {**sample("counterfact"), "requested_rewrite": no_slot}]
    with pytest.raises(FactsFileError) as caught:
        read_facts(write_json(tmp_path / "cf.json", rows))
    assert str(caught.value).startswith("cf.json index 1: field 'requested_rewrite.subject': 'Danielle Darrieux'")


def _spoil_second_rewrite(row: dict) -> dict:
    first, second = row["requested_rewrite"]
    return {**row, "requested_rewrite": [first, {**second, "target_new": {"str": ""}}]}


@pytest.mark.parametrize(("name", "spoil", "field"), [
    ("zsre", lambda row: {**row, "alt": ""}, "alt"),
    ("knowedit", lambda row: {**row, "locality": {"Relation_Specificity": [{"prompt": "p"}]}},
     "locality.Relation_Specificity[0].ground_truth"),
    ("mquake", _spoil_second_rewrite, "requested_rewrite[1].target_new.str"),
    ("easyedit", lambda row: {**row, "locality_ground_truth": None}, "locality_ground_truth"),
    ("counterfact", lambda row: {**row, "requested_rewrite": "x"}, "requested_rewrite"),
])
def test_errors_use_the_source_field_names(tmp_path, name, spoil, field):
    report = inspect_facts(write_jsonl(tmp_path / "rows.jsonl", [spoil(sample(name))]), format=name)
    assert [(e.line, e.field) for e in report.errors] == [(1, field)]


def test_invalid_json_lines_are_bad_rows(tmp_path):
    path = tmp_path / "facts.jsonl"
    good = json.dumps(sample("factsmith"))
    path.write_text(good + "\n\n{not json\n" + good + "\n", encoding="utf-8")
    report = inspect_facts(path)
    assert len(report.facts) == 2
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [(3, "invalid JSON")]


def test_errors_are_capped_but_counted(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [sample("factsmith")] + [{**sample("factsmith"), "prompt": ""}] * 150)
    report = inspect_facts(path, max_errors=100)
    assert len(report.errors) == 100 and report.error_count == 150
    with pytest.raises(FactsFileError, match=r"\(and 149 more bad rows\)"):
        report.raise_for_errors()


@pytest.mark.parametrize(("content", "message"), [
    (b"", "facts.jsonl: the file is empty"),
    (b"  \n\n ", "the file is empty"),
    (b"[]", "holds no edit requests"),
    (b"hello world\n", "not JSON, JSON Lines or CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "rows must be JSON objects, the first is a int"),
    (b'[{"a": 1},', "invalid JSON"),
    (b"{nope\n{nope", r"facts.jsonl line 1: invalid JSON.*\(and 1 more bad row\)"),
])
def test_empty_and_garbage_files(tmp_path, content, message):
    path = tmp_path / "facts.jsonl"
    path.write_bytes(content)
    with pytest.raises(FactsFileError, match=message):
        inspect_facts(path)


def test_a_byte_that_is_not_utf8_is_one_bad_row_not_a_bad_file(tmp_path):
    """Trial 40: one Latin-1 "é" hid every other problem of the file, and skip-invalid could not
    skip it. Now that row is refused by line and field, and the others read."""
    good = [json.dumps({"subject": f"S{i}", "prompt": f"S{i} is in", "target_new": "Paris"}).encode() for i in range(4)]
    latin = json.dumps({"subject": "Sx", "prompt": "Sx is in", "target_new": "Rome"}).encode().replace(b"x is",
                                                                                                      b"x \xe9 is")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([*good[:2], latin, *good[2:], b'{"subject": ""}']) + b"\n")
    report = inspect_facts(path)
    assert len(report.facts) == 4
    bad = {e.line: e for e in report.errors}
    assert bad[3].field == "prompt" and "not UTF-8 text (byte 0xE9)" in bad[3].message and 6 in bad
    csv = tmp_path / "mixed.csv"
    csv.write_bytes(b"subject,prompt,target_new\nA,A is in,Paris\nB,B is \xe9 in,Rome\nC,C is in,Oslo\n")
    report = inspect_facts(csv)
    assert [f.subject for f in report.facts] == ["A", "C"]
    (error,) = report.errors
    assert (error.line, error.unit, error.field) == (3, "row", "prompt") and "byte 0xE9" in error.message
    header = tmp_path / "header.csv"  # a column name is shown and stored: refused, not passed on
    header.write_bytes(b"subject,prompt,target_new,not\xe9s\nA,A is in,Paris,x\nB,B is in,Rome,y\nC,C is in,Oslo,z\n")
    with pytest.raises(FactsFileError, match=r"row 1: the header row: not UTF-8 text \(byte 0xE9\)"):
        inspect_facts(header)
    key = tmp_path / "key.jsonl"
    key.write_bytes(b'{"subject": "A", "prompt": "A is in", "target_new": "Paris", "n\xe9": 1}\n'
                    + b"\n".join(good) + b"\n")
    (error,) = inspect_facts(key).errors
    assert error.line == 1 and error.field == "n\\udce9" and "byte 0xE9" in str(error)
    str(error).encode("utf-8")  # printable: no lone surrogate in the message
    latin1 = tmp_path / "latin1.csv"  # a whole file in another encoding is still said as one
    latin1.write_bytes("subject,prompt,target_new\nÉire,Éire is in,Europe\nÅland,Åland is in,Europe\n"
                       .encode("latin-1"))
    with pytest.raises(FactsFileError, match="is it a facts file"):
        inspect_facts(latin1)


def test_missing_file_is_named_by_its_whole_path(tmp_path):
    """Trial 46: "files: no such file" for a/files/b/files, beside an existing folder "files"."""
    with pytest.raises(FactsFileError) as raised:
        read_facts(tmp_path / "files" / "absent.jsonl")
    assert str(raised.value) == f"absent.jsonl: no such file: {tmp_path / 'files' / 'absent.jsonl'}"


# --- CSV ---------------------------------------------------------------------------------


def test_csv_with_field_named_columns(tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text(
        "subject,prompt,target_new,target_true,paraphrases,locality,note\n"
        'Danielle Darrieux,The mother tongue of Danielle Darrieux is,English,French,'
        'Danielle Darrieux speaks | Darrieux was born speaking,'
        '"[{""prompt"": ""The mother tongue of Léon Blum is"", ""answer"": ""French""}]",ignored\n',
        encoding="utf-8")
    [fact] = read_facts(path)
    assert fact.paraphrases == ("Danielle Darrieux speaks", "Darrieux was born speaking")
    assert fact.locality == (Probe("The mother tongue of Léon Blum is", "French"),)


def test_csv_with_a_mapping_and_paired_probe_columns(tmp_path):
    path = tmp_path / "facts.tsv"
    path.write_text("who\tquestion\tnew\told\tsame\tsame answer\n"
                    'Watts Humphrey\tWhere did Watts Humphrey study?\tMichigan\tIllinois\t["q1", "q2"]\ta1|a2\n',
                    encoding="utf-8")
    spec = "who=subject, question=prompt, new=target_new, old=target_true, same=locality_prompt, " \
           "same answer=locality_answer"
    assert parse_column_mapping(spec)["same answer"] == "locality_answer"
    [fact] = read_facts(path, mapping=spec)
    assert fact.target_true == "Illinois"
    assert fact.locality == (Probe("q1", "a1"), Probe("q2", "a2"))
    assert read_facts(path, mapping=parse_column_mapping(spec)) == [fact]


def test_csv_easyedit_columns_need_no_mapping(tmp_path):
    path = tmp_path / "cf.csv"
    row = sample("easyedit")
    path.write_text(",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n", encoding="utf-8")
    assert read_facts(path) == read_facts(write_jsonl(tmp_path / "cf.jsonl", [sample("easyedit")]))


def test_csv_bad_rows_count_like_a_spreadsheet(tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text("subject;prompt;target_new\nFrance;The capital of France is;Rome\n"
                    "Berlin;The capital of France is;Rome\n\nA;A is in;B;extra\n", encoding="utf-8")
    report = inspect_facts(path)
    assert report.format == report.container == "csv"
    assert [(e.line, e.field) for e in report.errors] == [(3, "subject"), (5, None)]
    assert str(report.errors[0]).startswith("facts.csv row 3: field 'subject'")


@pytest.mark.parametrize(("header", "mapping", "message"), [
    ("question,answer,who", None, "no column for field 'subject', 'prompt', 'target_new'.*question, answer, who"),
    ("question,answer,who", {"q": "prompt"}, "no column 'q'"),
    ("question,answer,who", {"question": "promt"}, "unknown field 'promt'"),
    ("question,answer,who", "question", "expected COLUMN=FIELD"),
    ("a,b,prompt,subject", {"a": "target_new", "b": "target_new"}, "several columns"),
])
def test_csv_mapping_errors(tmp_path, header, mapping, message):
    path = tmp_path / "facts.csv"
    path.write_text(header + "\n" + ",".join("x" * len(header.split(","))) + "\n", encoding="utf-8")
    with pytest.raises(FactsFileError, match=message):
        inspect_facts(path, mapping=mapping)


def test_a_mapping_is_for_csv_only(tmp_path):
    with pytest.raises(FactsFileError, match="CSV files only"):
        read_facts(write_jsonl(tmp_path / "f.jsonl", [sample("factsmith")]), mapping={"subject": "subject"})


# --- datasets folders --------------------------------------------------------------------


def test_datasets_folder_is_read_like_its_json_format(tmp_path):
    datasets = pytest.importorskip("datasets")
    # Rows with different probe kinds: Arrow fills the missing kinds with None.
    other = {**sample("knowedit"), "portability": {"Logical_Generalization": [{"prompt": "Kylie is",
                                                                               "ground_truth": "x"}]}}
    datasets.Dataset.from_list([sample("knowedit"), other]).save_to_disk(str(tmp_path / "ds"))
    report = inspect_facts(tmp_path / "ds")
    assert (report.format, report.container, report.unit) == ("knowedit", "datasets", "index")
    assert report.ok, report.errors
    assert report.facts[0] == read_facts(write_json(tmp_path / "k.json", [sample("knowedit")]))[0]
    assert report.facts[1].portability == (Probe("Kylie is", "x"),)


def test_datasets_dict_folders(tmp_path):
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_list([sample("factsmith")])
    datasets.DatasetDict({"train": split}).save_to_disk(str(tmp_path / "one"))
    assert read_facts(tmp_path / "one") == [Fact.create(**sample("factsmith"))]
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "two"))
    with pytest.raises(FactsFileError, match="splits train, test"):
        read_facts(tmp_path / "two")
    (tmp_path / "plain").mkdir()
    with pytest.raises(FactsFileError, match="not a dataset"):
        read_facts(tmp_path / "plain")


# --- writing, round trips, duplicates ----------------------------------------------------


def test_jsonl_round_trip_is_lossless_and_atomic(tmp_path):
    facts = [full_fact(), full_fact(target_new="German", prompt='Danielle Darrieux "quoted", spoke')]
    path = tmp_path / "out.jsonl"
    path.write_text("old content", encoding="utf-8")
    write_facts_jsonl(path, facts)
    assert read_facts(path) == facts
    assert [f.id for f in read_facts(path)] == [f.id for f in facts]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old content", encoding="utf-8")

    def write_half(out):
        out.write("half a line")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, write_half)
    assert path.read_text(encoding="utf-8") == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_knowedit_export_round_trip_with_extras(tmp_path):
    facts = [full_fact(relation=""), full_fact(relation="", context=[], target_new="German")]
    extras = {facts[0].id: {"status": "approved", "reviewer": "ann"}}
    export_knowedit_json(tmp_path / "k.json", facts, extras)
    rows = json.loads((tmp_path / "k.json").read_text(encoding="utf-8"))
    assert rows[0]["status"] == "approved" and "status" not in rows[1]
    assert rows[0]["locality"]["Relation_Specificity"][0]["ground_truth"] == "French"
    report = inspect_facts(tmp_path / "k.json")
    assert report.format == "ice" and list(report.facts) == facts


def test_easyedit_export_round_trip(tmp_path):
    row = {**sample("factsmith"), "relation": ""}
    facts = [Fact.create(**row), Fact.create(**{**row, "locality": [], "paraphrases": []})]
    export_easyedit_json(tmp_path / "e.json", facts, {facts[1].id: {"note": "n"}})
    rows = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert [r["case_id"] for r in rows] == [0, 1] and rows[1]["note"] == "n"
    report = inspect_facts(tmp_path / "e.json")
    assert report.format == "easyedit" and list(report.facts) == facts


def test_lossy_exports_say_so(tmp_path, caplog):
    fact = full_fact(paraphrases=["Danielle Darrieux speaks", "Darrieux speaks"])
    export_easyedit_json(tmp_path / "e.json", [fact])
    assert "1 of 1 facts lose paraphrases or locality probes beyond the first" in caplog.text
    assert read_facts(tmp_path / "e.json")[0].paraphrases == ("Danielle Darrieux speaks",)


def test_csv_export_round_trip_is_lossless(tmp_path):
    tricky = 'He said "no, | never"\nthen left and'
    facts = [full_fact(), full_fact(prompt=f"Danielle Darrieux: {tricky}", paraphrases=[tricky, "x | y"])]
    extras = {f.id: {"status": "approved", "score": 0.5} for f in facts}
    export_csv(tmp_path / "out.csv", facts, extras)
    header = (tmp_path / "out.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert header.endswith(",status,score")
    assert read_facts(tmp_path / "out.csv") == facts


def test_extras_may_not_overwrite_fields(tmp_path):
    fact = full_fact()
    with pytest.raises(ValueError, match="clash"):
        export_csv(tmp_path / "out.csv", [fact], {fact.id: {"subject": "x"}})
    assert not (tmp_path / "out.csv").exists()


def test_duplicates_are_reported_by_line(tmp_path):
    other = {**sample("factsmith"), "target_new": "German"}
    report = inspect_facts(write_jsonl(tmp_path / "f.jsonl", [sample("factsmith"), other, sample("factsmith")]))
    [group] = report.duplicates
    assert group.fact_id == Fact.create(**sample("factsmith")).id and group.lines == (1, 3)
    assert find_duplicates(list(report.facts))[0].lines == (0, 2)
    assert find_duplicates(report.facts[:2]) == ()


def test_a_null_or_wrongly_typed_field_is_named_in_plain_words(tmp_path):
    """Trial 34: "field 'locality[0].answer': must be non-empty text, got NoneType"."""
    from core.facts.fact import FactError, fact_from_dict

    row = {"subject": "Peru", "prompt": "Peru is in", "target_new": "Asia",
           "locality": [{"prompt": "Chile is in", "answer": None}]}
    with pytest.raises(FactError, match=r"is missing \(null\): it must be non-empty text") as missing:
        fact_from_dict(row)
    assert "NoneType" not in str(missing.value)
    with pytest.raises(FactError, match=r"must be non-empty text, not a number \(3\)"):
        fact_from_dict({**row, "locality": [{"prompt": "Chile is in", "answer": 3}]})
    with pytest.raises(FactError, match=r"must be text, not a list"):
        fact_from_dict({**row, "target_new": ["Asia"]})


def test_a_misspelt_field_is_said_when_the_file_is_read(tmp_path, caplog):
    """Trial 46: `edit` and `eval` dropped "paraphrase" (for "paraphrases") without a word; the
    import dialog said it. Our own files' extra fields (target_kind) are not taken for typos."""
    import logging

    path = tmp_path / "typo.jsonl"
    path.write_text(json.dumps({"subject": "France", "prompt": "The capital of France is", "target_new": "Lyon",
                                "paraphrase": ["France's capital is"], "target_kind": "other"}) + "\n")
    with caplog.at_level(logging.WARNING, logger="core.facts.io.reader"):
        [fact] = read_facts(path)
    assert fact.paraphrases == ()
    assert [r.getMessage() for r in caplog.records] == [
        "typo.jsonl: field 'paraphrase' (1 rows) is not read; did you mean 'paraphrases'?"]


def test_a_long_bad_value_is_shown_cut_with_an_ellipsis():
    """Trial 47: a 60-digit target_new was shown as its first 40 digits, nothing saying the rest
    was left out."""
    from core.facts.fact import FactError, fact_from_dict

    number = int("1234567890" * 6)
    with pytest.raises(FactError) as raised:
        fact_from_dict({"subject": "Japan", "prompt": "Japan pays with the", "target_new": number})
    assert "must be text, not a number (123456789012345678901234567890123456789…)" in str(raised.value)
    with pytest.raises(FactError, match=r"not a number \(12\)$"):
        fact_from_dict({"subject": "Japan", "prompt": "Japan pays with the", "target_new": 12})
