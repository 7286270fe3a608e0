"""Task instructions for InstructEdit (Tian et al.; seed 001 §4.1).

An instruction is [Task], [Description] and [Input] concatenated (the paper's Table 2:
"Task: CounterFact / Description: A dataset designed to challenge and assess models
on ... / Input: The official language of ..."); the edit request's prompt is the input.
The paper's tasks are datasets, its descriptions written by GPT-4 (ten per task, one
drawn per request); here a task is a relation family, the ``relation`` field of an edit
request, with one hand-written description each. On the demo model (its knowledge base,
``core.demo_build.knowledge``) relation → task is:

| relation       | [Task]    | [Description]                         |
|----------------|-----------|---------------------------------------|
| capital        | capital   | the capital city of a country         |
| currency       | currency  | the money people pay with in a country |
| language       | language  | the main language spoken in a country |
| continent      | continent | the continent a country lies on       |
| city_country   | city      | the country a city is in              |

(city_country is the task held out of training to measure transfer to an unseen task,
issue 17.) Another relation gets an instruction made from its name ("Task: birth place.
Description: the birth place of the subject."); a request without one is classified or
gets ``GENERIC`` (``core.methods.instructedit``). Descriptions use words the demo model
knows: it has 64 positions and spells unknown words out letter by letter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Instruction:
    task: str
    description: str

    def prefix(self) -> str:
        """What goes before the prompt: "Task: … Description: … Input: "."""
        return f"Task: {self.task}. Description: {self.description}. Input: "


TASKS: Mapping[str, Instruction] = {
    "capital": Instruction("capital", "the capital city of a country"),
    "currency": Instruction("currency", "the money people pay with in a country"),
    "language": Instruction("language", "the main language spoken in a country"),
    "continent": Instruction("continent", "the continent a country lies on"),
    "city_country": Instruction("city", "the country a city is in"),
}
TASK_NAMES = tuple(TASKS)  # the classifier's classes, in this order (the checkpoint's rows)
GENERIC = Instruction("fact", "a fact about the subject")


def for_relation(relation: str) -> Instruction:
    """The instruction of a relation: the table's, or one made from the relation's name."""
    if relation in TASKS:
        return TASKS[relation]
    words = " ".join(relation.replace("_", " ").split())
    return Instruction(words, f"the {words} of the subject") if words else GENERIC
