"""Helpers shared by the row formats: turn a source row's values into Fact fields.

Errors are raised as ``FactError`` naming the field as the *source* file spells it, so a
user can find it in their file; the reader adds the file and row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from core.facts.fact import Fact, FactError, fact_from_dict

log = logging.getLogger(__name__)


def as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FactError(where, f"must be an object, got {type(value).__name__}")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """A list; None or "" (missing values in datasets and CSV) count as empty."""
    if value is None or value == "":
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, list | tuple):
        raise FactError(where, f"must be a list, got {type(value).__name__}")
    return list(value)


def is_missing(value: Any) -> bool:
    """None, "" or [] (how datasets and CSV leave a value out); ``false`` or ``0`` are values,
    wrong ones, and must reach validation rather than pass as "missing"."""
    return value is None or (isinstance(value, str | list | tuple) and len(value) == 0)


def either(*values: Any) -> Any:
    """The first value that is not missing, else "" (an optional text left out)."""
    return next((value for value in values if not is_missing(value)), "")


def texts(value: Any) -> Any:
    """A text or list of texts; empty values mean none (datasets fill gaps with None)."""
    if value is None or value == "":
        return []
    return value


def first_leaf(value: Any) -> Any:
    """The first element of possibly nested lists: answers are often lists of aliases."""
    while isinstance(value, list | tuple):
        if not value:
            return None
        value = value[0]
    return value


def str_or_field(value: Any, key: str = "str") -> Any:
    """ROME-style targets are ``{"str": ..., "id": ...}``; accept a bare string too."""
    # An object without the key stays an object, so that validation refuses it (not "missing").
    return value[key] if isinstance(value, Mapping) and key in value else value


def probe(prompt: Any, answer: Any, prompt_field: str, answer_field: str) -> dict[str, Any]:
    """A {prompt, answer} probe, checked under the source's field names."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise FactError(prompt_field, "must be non-empty text")
    if not isinstance(answer, str) or not answer.strip():
        raise FactError(answer_field, "must be non-empty text")
    return {"prompt": prompt, "answer": answer}


def source_probe(item: Any, where: str, answer_key: str = "ground_truth") -> dict[str, Any]:
    """A probe from a source object such as KnowEdit's {prompt, ground_truth}."""
    item = as_object(item, where)
    return probe(item.get("prompt"), first_leaf(item.get(answer_key)), f"{where}.prompt", f"{where}.{answer_key}")


def align_subject(subject: Any, prompt: Any) -> Any:
    """Take the prompt's spelling of the subject when the two differ only in case.

    Benchmark rows (zsRE questions especially) sometimes capitalise them differently; the
    prompt's spelling is what the model reads, so it is the one to locate.
    """
    if not isinstance(subject, str) or not isinstance(prompt, str) or subject.strip() in prompt:
        return subject
    needle, haystack = subject.strip().lower(), prompt.lower()
    at = haystack.find(needle)
    if not needle or at < 0 or len(haystack) != len(prompt) or len(needle) != len(subject.strip()):
        return subject
    log.debug("subject %r taken as %r, as spelled in the prompt", subject, prompt[at:at + len(needle)])
    return prompt[at:at + len(needle)]


def rename_field(field: str, names: Mapping[str, str]) -> str:
    """``locality[2].answer`` -> ``neighborhood_prompts[2].answer`` given {"locality": ...}."""
    root = field.split("[", 1)[0].split(".", 1)[0]
    return names[root] + field[len(root):] if root in names else field


def build_fact(fields: dict[str, Any], names: Mapping[str, str] | None = None, align: bool = True) -> Fact:
    """Validate Fact fields; errors name the field as the source calls it (``names``)."""
    if align:
        fields = {**fields, "subject": align_subject(fields.get("subject"), fields.get("prompt"))}
    try:
        return fact_from_dict(fields)
    except FactError as err:
        raise FactError(rename_field(err.field, names or {}), err.message) from None
