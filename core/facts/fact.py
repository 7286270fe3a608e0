"""Edit requests: the frozen ``Fact`` type, its validation and its content-hash id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from core.facts.text import TextProblem, clean_text, comparable, is_blank


class FactError(ValueError):
    """An edit request is invalid; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str, where: str = "") -> None:
        self.field = field_name
        self.message = message
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}field {field_name!r}: {message}")

    def at(self, where: str) -> FactError:
        return FactError(self.field, self.message, where)


@dataclass(frozen=True)
class Probe:
    """A prompt with the answer expected after the edit (locality: the unchanged answer)."""

    prompt: str
    answer: str

    def to_dict(self) -> dict[str, str]:
        return {"prompt": self.prompt, "answer": self.answer}


@dataclass(frozen=True)
class Fact:
    """One edit request (methods.md §1). Build with ``Fact.create`` to validate."""

    subject: str
    prompt: str
    target_new: str
    target_true: str = ""
    paraphrases: tuple[str, ...] = ()
    locality: tuple[Probe, ...] = ()
    portability: tuple[Probe, ...] = ()
    context: tuple[str, ...] = ()
    relation: str = ""
    _id: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        try:
            canonical = self.canonical_json().encode()
        except UnicodeEncodeError:  # built directly, bypassing fact_from_dict's checks
            raise FactError(self._unencodable_field(), "holds a lone surrogate (a broken \\u escape): "
                                                        "it cannot be stored or hashed") from None
        object.__setattr__(self, "_id", hashlib.sha256(canonical).hexdigest())

    def _unencodable_field(self) -> str:
        for name, value in self.to_dict().items():
            try:
                json.dumps(value, ensure_ascii=False).encode()
            except UnicodeEncodeError:
                return name
        return "(fact)"

    @property
    def id(self) -> str:
        """sha256 of the canonical JSON: equal content, equal id."""
        return self._id

    @property
    def short_id(self) -> str:
        return self._id[:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "prompt": self.prompt,
            "target_new": self.target_new,
            "target_true": self.target_true,
            "paraphrases": list(self.paraphrases),
            "locality": [p.to_dict() for p in self.locality],
            "portability": [p.to_dict() for p in self.portability],
            "context": list(self.context),
            "relation": self.relation,
        }

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def create(cls, **fields: Any) -> Fact:
        return fact_from_dict(fields)


def _clean(value: str, name: str) -> str:
    try:
        return clean_text(value)
    except TextProblem as problem:
        raise FactError(name, str(problem)) from None


def _text(data: dict, name: str, required: bool) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FactError(name, f"must be text, not {_JSON_KINDS.get(type(value), type(value).__name__)} "
                              f"({_shown(value)})")
    value = _clean(value, name)
    if not value and not required:
        return ""  # left out
    if is_blank(value):
        problem = "is required and must not be empty" if not value else "holds only invisible characters or marks"
        raise FactError(name, problem)
    return value


def _shown(value: Any, room: int = 40) -> str:
    """A bad value as it was given, cut with "…" where longer than ``room`` (trial 47: a 60-digit
    number was shown as 40 digits, nothing saying that the rest was left out)."""
    text = repr(value)
    return text if len(text) <= room else text[: room - 1] + "…"


_JSON_KINDS = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}


def _non_empty(item: Any, name: str) -> str:
    if item is None:
        raise FactError(name, "is missing (null): it must be non-empty text")
    if not isinstance(item, str):
        raise FactError(name, f"must be non-empty text, not {_JSON_KINDS.get(type(item), type(item).__name__)} "
                              f"({_shown(item)})")
    item = _clean(item, name)
    if is_blank(item):
        raise FactError(name, "must be non-empty text (it is blank or only invisible characters)")
    return item


def _listed(data: dict, name: str) -> list[Any] | tuple[Any, ...]:
    """The list under ``name``; missing or None is empty, but ``false``, ``0`` or ``{}`` are errors,
    not "missing": a wrong type usually means a broken export."""
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise FactError(name, f"must be a list, got {type(value).__name__} {_shown(value)}")
    return value


def _texts(data: dict, name: str) -> tuple[str, ...]:
    value = data.get(name)
    if isinstance(value, str):
        data = {name: [value] if value.strip() else []}
    return tuple(_non_empty(item, f"{name}[{i}]") for i, item in enumerate(_listed(data, name)))


def _probes(data: dict, name: str) -> tuple[Probe, ...]:
    probes = []
    for i, item in enumerate(_listed(data, name)):
        if not isinstance(item, dict):
            raise FactError(f"{name}[{i}]", "must be an object with prompt and answer")
        answer = item.get("answer", item.get("ground_truth"))
        probes.append(Probe(_non_empty(item.get("prompt"), f"{name}[{i}].prompt"),
                            _non_empty(answer, f"{name}[{i}].answer")))
    return tuple(probes)


def _between_fields(subject: str | None, prompt: str | None, target_new: str | None,
                    target_true: str | None) -> list[FactError]:
    """The problems of fields that are each valid but do not agree (None: a field that is not)."""
    problems = []
    if subject is not None and prompt is not None and subject not in prompt:
        problems.append(FactError("subject", f"{subject!r} does not occur in the prompt {prompt!r}"))
    if target_new is not None and target_true and comparable(target_new) == comparable(target_true):
        problems.append(FactError("target_new", f"{target_new!r} is the same as the old answer {target_true!r} "
                                                "(compared ignoring case, width and invisible characters)"))
    return problems


_TEXT_FIELDS = (("subject", True), ("prompt", True), ("target_new", True), ("target_true", False))
_LIST_FIELDS = (("paraphrases", _texts), ("locality", _probes), ("portability", _probes), ("context", _texts))


def _read_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list[FactError]]:
    """Each field of ``data`` read (by Fact's field name) and every problem found, in the order
    ``fact_from_dict`` reports them: each field's own, then fields that disagree, then lists."""
    if not isinstance(data, dict):
        return {}, [FactError("(row)", f"must be a JSON object, got {type(data).__name__}")]
    values, problems = {}, []

    def read(name: str, reader) -> None:
        try:
            values[name] = reader(data, name)
        except FactError as problem:
            problems.append(problem)

    for name, required in _TEXT_FIELDS:
        read(name, partial(_text, required=required))
    problems += _between_fields(*(values.get(name) for name, _ in _TEXT_FIELDS))
    for name, reader in (*_LIST_FIELDS, ("relation", partial(_text, required=False))):
        read(name, reader)
    return values, problems


def fact_problems(data: dict[str, Any]) -> list[FactError]:
    """Every field ``fact_from_dict`` would refuse ``data`` for (it stops at the first; a form
    shows them all at once, trial 42): each field's own problem, the first of each list, and
    fields that disagree. Empty when ``data`` makes a valid fact."""
    return _read_fields(data)[1]


def fact_from_dict(data: dict[str, Any]) -> Fact:
    """Validate and normalise a mapping into a Fact; raises FactError naming the field (the
    first of ``fact_problems``)."""
    values, problems = _read_fields(data)
    if problems:
        raise problems[0]
    return Fact(**values)
