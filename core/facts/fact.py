"""Edit requests: the frozen ``Fact`` type, its validation and its content-hash id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


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
        object.__setattr__(self, "_id", hashlib.sha256(self.canonical_json().encode()).hexdigest())

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


def _text(data: dict, name: str, required: bool) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FactError(name, f"must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise FactError(name, "is required and must not be empty")
    return value.strip()


def _texts(data: dict, name: str) -> tuple[str, ...]:
    value = data.get(name) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise FactError(name, f"must be a list of texts, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise FactError(f"{name}[{i}]", "must be non-empty text")
        out.append(item.strip())
    return tuple(out)


def _probes(data: dict, name: str) -> tuple[Probe, ...]:
    value = data.get(name) or []
    if not isinstance(value, list | tuple):
        raise FactError(name, "must be a list of {prompt, answer} objects")
    probes = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise FactError(f"{name}[{i}]", "must be an object with prompt and answer")
        prompt, answer = item.get("prompt"), item.get("answer", item.get("ground_truth"))
        if not isinstance(prompt, str) or not prompt.strip():
            raise FactError(f"{name}[{i}].prompt", "must be non-empty text")
        if not isinstance(answer, str) or not answer.strip():
            raise FactError(f"{name}[{i}].answer", "must be non-empty text")
        probes.append(Probe(prompt.strip(), answer.strip()))
    return tuple(probes)


def fact_from_dict(data: dict[str, Any]) -> Fact:
    """Validate and normalise a mapping into a Fact; raises FactError naming the field."""
    if not isinstance(data, dict):
        raise FactError("(row)", f"must be a JSON object, got {type(data).__name__}")
    subject, prompt = _text(data, "subject", True), _text(data, "prompt", True)
    target_new, target_true = _text(data, "target_new", True), _text(data, "target_true", False)
    if subject not in prompt:
        raise FactError("subject", f"{subject!r} does not occur in the prompt {prompt!r}")
    if target_true and target_new.casefold() == target_true.casefold():
        raise FactError("target_new", f"{target_new!r} is the same as the old answer")
    return Fact(
        subject=subject,
        prompt=prompt,
        target_new=target_new,
        target_true=target_true,
        paraphrases=_texts(data, "paraphrases"),
        locality=_probes(data, "locality"),
        portability=_probes(data, "portability"),
        context=_texts(data, "context"),
        relation=_text(data, "relation", False),
    )
