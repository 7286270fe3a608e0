"""The JSON row formats (methods.md §4): how each is recognised and mapped to Facts.

Detection looks at one row's keys; the first format in ``JSON_FORMATS`` whose rule
matches wins, so the more specific formats come first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.facts.fact import Fact, FactError
from core.facts.io.rows import (
    as_list,
    as_object,
    build_fact,
    either,
    first_leaf,
    is_missing,
    probe,
    source_probe,
    str_or_field,
    texts,
)

Converter = Callable[[Any], list[Fact]]

_NQ_PREFIX = "nq question:"


@dataclass(frozen=True)
class RowFormat:
    name: str
    title: str
    rule: str  # the detection rule, in words, for error messages and docs
    detect: Callable[[Mapping[str, Any]], bool]
    convert: Converter
    reads: frozenset[str] = frozenset()  # the keys the converter takes a value from
    known: frozenset[str] = frozenset()  # keys of the format with no place in a Fact: ignored, reported


def _row(row: Any) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise FactError("", f"the row must be a JSON object, got {type(row).__name__}")
    return row


def _factsmith(row: Any) -> list[Fact]:
    row = _row(row)
    fields = dict(row)
    for name in ("locality", "portability"):
        # Datasets fill keys missing from some probes with None; drop them so that
        # "answer" / "ground_truth" fall back on each other.
        if isinstance(row.get(name), list):
            fields[name] = [{k: v for k, v in p.items() if v is not None} if isinstance(p, Mapping) else p
                            for p in row[name]]
    return [build_fact(fields, align=False)]


def _flat_probes(row: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """EasyEdit's ``locality_prompt`` / ``locality_ground_truth``: one text each, or parallel lists."""
    prompts, answers = row.get(f"{kind}_prompt"), row.get(f"{kind}_ground_truth")
    if is_missing(prompts) and is_missing(answers):
        return []
    if isinstance(prompts, str):
        return [probe(prompts, first_leaf(answers), f"{kind}_prompt", f"{kind}_ground_truth")]
    prompts, answers = as_list(prompts, f"{kind}_prompt"), as_list(answers, f"{kind}_ground_truth")
    if len(prompts) != len(answers):
        raise FactError(f"{kind}_ground_truth", f"has {len(answers)} answers for {len(prompts)} prompts")
    return [probe(p, first_leaf(a), f"{kind}_prompt[{i}]", f"{kind}_ground_truth[{i}]")
            for i, (p, a) in enumerate(zip(prompts, answers, strict=True))]


def _easyedit(row: Any) -> list[Fact]:
    row = _row(row)
    fields = {
        "subject": row.get("subject"),
        "prompt": row.get("prompt"),
        "target_new": row.get("target_new"),
        "target_true": first_leaf(row.get("ground_truth")),
        "paraphrases": texts(row.get("rephrase_prompt")),
        "locality": _flat_probes(row, "locality"),
        "portability": _flat_probes(row, "portability"),
        "context": texts(row.get("fake_evidence")),  # natural-language evidence of the new fact: ICE context
    }
    names = {"target_true": "ground_truth", "paraphrases": "rephrase_prompt", "context": "fake_evidence"}
    return [build_fact(fields, names)]


def _zsre(row: Any) -> list[Fact]:
    row = _row(row)
    locality = []
    if not is_missing(row.get("loc")) or not is_missing(row.get("loc_ans")):
        loc = row.get("loc")
        if isinstance(loc, str) and loc.lower().startswith(_NQ_PREFIX):
            loc = loc[len(_NQ_PREFIX):].strip()  # MEND's task tag, not part of the question
        locality = [probe(loc, first_leaf(row.get("loc_ans")), "loc", "loc_ans")]
    portability, extra = [], row.get("portability")
    # EasyEdit's zsRE adds a one-hop question.
    if isinstance(extra, Mapping) and not is_missing(extra.get("New Question")):
        portability = [probe(extra.get("New Question"), first_leaf(extra.get("New Answer")),
                             "portability.New Question", "portability.New Answer")]
    fields = {
        "subject": row.get("subject"),
        "prompt": row.get("src"),
        "target_new": first_leaf(row.get("alt")),
        "target_true": either(first_leaf(row.get("answers")), row.get("pred")),
        "paraphrases": texts(row.get("rephrase")),
        "locality": locality,
        "portability": portability,
        "context": texts(row.get("cond")),  # MEND's conditioning text "old >> new || question"
    }
    names = {"prompt": "src", "target_new": "alt", "target_true": "answers", "paraphrases": "rephrase",
             "context": "cond"}
    return [build_fact(fields, names)]


def _rewrite_fields(rewrite: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Fields of a ROME-style requested_rewrite: the prompt holds "{}" for the subject."""
    rewrite = as_object(rewrite, where)
    subject, template = rewrite.get("subject"), rewrite.get("prompt")
    prompt = template.replace("{}", subject, 1) if isinstance(template, str) and isinstance(subject, str) else template
    fields = {
        "subject": subject,
        "prompt": prompt,
        "target_new": str_or_field(rewrite.get("target_new")),
        "target_true": either(str_or_field(rewrite.get("target_true"))),
        "relation": either(rewrite.get("relation_id")),
    }
    names = {"target_new": "target_new.str", "target_true": "target_true.str", "relation": "relation_id"}
    return fields, {key: f"{where}.{names.get(key, key)}" for key in fields}


def _counterfact(row: Any) -> list[Fact]:
    row = _row(row)
    fields, names = _rewrite_fields(row.get("requested_rewrite"), "requested_rewrite")
    neighbours = as_list(row.get("neighborhood_prompts"), "neighborhood_prompts")
    if neighbours and not fields["target_true"]:
        raise FactError("requested_rewrite.target_true.str", "is needed as the answer of neighborhood_prompts")
    fields["paraphrases"] = texts(row.get("paraphrase_prompts"))
    fields["locality"] = [{"prompt": p, "answer": fields["target_true"]} for p in neighbours]
    names |= {"paraphrases": "paraphrase_prompts", "locality": "neighborhood_prompts"}
    return [build_fact(fields, names)]


def _mquake(row: Any) -> list[Fact]:
    """One Fact per rewrite. Each carries the case's multi-hop questions as portability:
    their new answer holds only once all of the case's rewrites are applied together."""
    row = _row(row)
    rewrites = as_list(row.get("requested_rewrite"), "requested_rewrite")
    if not rewrites:
        raise FactError("requested_rewrite", "must list at least one rewrite")
    questions = as_list(row.get("questions"), "questions")
    new_answer = first_leaf(row.get("new_answer"))
    if questions and not (isinstance(new_answer, str) and new_answer.strip()):
        raise FactError("new_answer", "must be non-empty text: it answers the questions")
    portability = [{"prompt": q, "answer": new_answer} for q in questions]
    facts = []
    for i, rewrite in enumerate(rewrites):
        where = f"requested_rewrite[{i}]"
        fields, names = _rewrite_fields(rewrite, where)
        fields["paraphrases"] = texts(rewrite.get("question"))
        fields["portability"] = portability
        names |= {"paraphrases": f"{where}.question", "portability": "questions"}
        facts.append(build_fact(fields, names))
    return facts


def _grouped_probes(value: Any, where: str) -> list[dict[str, Any]]:
    """KnowEdit groups probes by kind ({"Reasoning": [...], ...}); flatten in file order."""
    if value is None or isinstance(value, list):
        return [source_probe(item, f"{where}[{i}]") for i, item in enumerate(value or [])]
    probes = []
    for kind, items in as_object(value, where).items():
        items = as_list(items, f"{where}.{kind}")
        probes += [source_probe(item, f"{where}.{kind}[{i}]") for i, item in enumerate(items)]
    return probes


def _knowedit(row: Any) -> list[Fact]:
    row = _row(row)
    fields = {
        "subject": row.get("subject"),
        "prompt": row.get("prompt"),
        "target_new": first_leaf(row.get("target_new")),
        "target_true": either(first_leaf(row.get("ground_truth"))),
        "paraphrases": texts(row.get("rephrase_prompt")),
        "portability": _grouped_probes(row.get("portability"), "portability"),
        "locality": _grouped_probes(row.get("locality"), "locality"),
        "context": texts(row.get("context")),
    }
    return [build_fact(fields, {"target_true": "ground_truth", "paraphrases": "rephrase_prompt"})]


def _is_knowedit(row: Mapping[str, Any]) -> bool:
    grouped = isinstance(row.get("locality"), Mapping) or isinstance(row.get("portability"), Mapping)
    return "target_new" in row and ("ground_truth" in row or "rephrase_prompt" in row or grouped)


def _keys(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FACTSMITH_KEYS = _keys("subject prompt target_new target_true paraphrases locality portability context relation")
_KNOWEDIT_KEYS = _keys("subject prompt target_new ground_truth rephrase_prompt portability locality context")

JSON_FORMATS: tuple[RowFormat, ...] = (
    RowFormat("mquake", "MQuAKE", "requested_rewrite is a list",
              lambda r: isinstance(r.get("requested_rewrite"), list), _mquake,
              _keys("requested_rewrite questions new_answer"),
              _keys("case_id answer answer_alias new_answer_alias single_hops new_single_hops orig")),
    RowFormat("counterfact", "ROME CounterFact", "requested_rewrite is an object",
              lambda r: isinstance(r.get("requested_rewrite"), Mapping), _counterfact,
              _keys("requested_rewrite paraphrase_prompts neighborhood_prompts"),
              _keys("case_id pararel_idx attribute_prompts generation_prompts")),
    RowFormat("zsre", "zsRE (MEND split)", "has src and alt",
              lambda r: "src" in r and "alt" in r, _zsre,
              _keys("subject src pred rephrase alt answers loc loc_ans cond portability"), _keys("case_id")),
    RowFormat("easyedit", "EasyEdit CounterFact (flat)", "has target_new and locality_prompt",
              lambda r: "target_new" in r and ("locality_prompt" in r or "locality_ground_truth" in r), _easyedit,
              _keys("prompt subject target_new ground_truth rephrase_prompt locality_prompt locality_ground_truth "
                    "portability_prompt portability_ground_truth fake_evidence"), _keys("case_id")),
    RowFormat("ice", "ICE (KnowEdit with context)", "KnowEdit-like with context",
              lambda r: _is_knowedit(r) and "context" in r, _knowedit, _KNOWEDIT_KEYS),
    RowFormat("knowedit", "KnowEdit", "has target_new and ground_truth, rephrase_prompt or grouped probes",
              _is_knowedit, _knowedit, _KNOWEDIT_KEYS),
    RowFormat("factsmith", "Factsmith JSONL", "has target_new (the fields of Fact.to_dict())",
              lambda r: "target_new" in r, _factsmith, _FACTSMITH_KEYS),
)
# Every key some format gives a meaning to: a row holding one its format lacks belongs elsewhere.
# (case_id is everywhere, so it tells nothing.)
KNOWN_KEYS = frozenset().union(*(f.reads | f.known for f in JSON_FORMATS)) - {"case_id"}


def json_format(name: str) -> RowFormat | None:
    return next((f for f in JSON_FORMATS if f.name == name), None)


def detect_json_format(rows: Iterable[Any]) -> RowFormat | None:
    """The format of the first row that any format recognises (a bad first row should not
    hide the format of the rest: it is then reported with its field)."""
    for row in rows:
        if isinstance(row, Mapping):
            match = next((f for f in JSON_FORMATS if f.detect(row)), None)
            if match:
                return match
    return None
