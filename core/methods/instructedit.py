"""InstructEdit: one MEND editor for several editing tasks, steered by task instructions
(Tian et al.; seed 001 §4; methods.md §3).

MEND (``core.methods.mend``: its network, gradient factors and training objective, reused)
trained on requests of several tasks at once, with the task's instruction
"Task: … Description: … Input: " (``core.methods.instructions``) prepended to each
request's edit input, at training and at edit time. The instruction steers the editor:
the gradient the editor transforms (u and δ at the target's tokens) is taken on
instruction + prompt + target_new, so the same network can tell the tasks apart. It
does not go into the edited model's use: the edit loss (prompt and paraphrases) and the
locality KL are measured on the plain prompts, as the edited model is asked without
instructions (the paper's Eq. 2 asks f_θ′(instruction, x) = y; here nobody prepends
instructions to questions after the edit). The update and its delta are MEND's: the model
is left bit-identical, previews, verdicts, commits, patches and revert work unchanged.

The task of a request at edit time (``resolve_tasks``; the delta's ``info["tasks"]``
says which, and how):
1. its ``relation`` field when present: the table's instruction for that relation, or one
   made from the relation's name for a relation the table lacks ("relation");
2. otherwise the editor's classifier: the task whose mean prompt state (the unedited
   model's last-layer state at the last prompt token, averaged over the training
   requests of that task) is nearest in cosine, if at least ``min_similarity``
   ("classified");
3. otherwise the generic instruction "Task: fact. Description: a fact about the
   subject." ("generic").

``plain_gradient`` (on in the small preset; the "paper" variant and the dataclass default
leave it off) adds the plain prompt + target_new beside the instructed sequence, so the
editor transforms both gradients and the update holds both: the instructed one steers
(it differs per task), the plain one's u are the MLP inputs the edited model actually sees
when asked without an instruction. With the instructed gradient alone, the u the update is
written against come from a context (~20 instruction tokens in front) that questions never
have, and the editor must learn to move them; on the demo model that costs a lot. The
editor keeps the value it was trained with (a loaded checkpoint's, whatever the edit's
hyperparameters say). Demo model, city → country held out, 120 steps, validation on the
first 10 of ``quality_dev.jsonl`` (training tasks):

| setting (120 steps)                   | val rel | val gen | val loc | last-20 loss |
|---------------------------------------|---------|---------|---------|--------------|
| instructed gradient only ("paper")    | 0.557   | 0.552   | 0.837   | 3.481        |
| instructed + plain (small preset)     | 0.905   | 0.903   | 0.952   | 1.211        |

The small preset's c_edit 2 and Adam 5e-4 for the network (MEND's small preset: c_edit 1,
1e-3) were chosen on validation on all 40 of ``quality_dev.jsonl`` (city → country held out
of training, plain gradient on), at ``factsmith train``'s default 600 steps; the test split
was measured once afterwards, with the chosen values (the README's *Trained editors*):

| setting                        | steps | val rel | val gen | val loc |
|--------------------------------|-------|---------|---------|---------|
| c_edit 1, lr 1e-3 (old preset) | 300   | 0.903   | 0.874   | 0.959   |
| c_edit 3, lr 1e-3              | 300   | 0.928   | 0.900   | 0.935   |
| c_edit 2, lr 1e-3              | 300   | 0.927   | 0.880   | 0.946   |
| c_edit 2, lr 1e-3              | 600   | 0.895   | 0.876   | 0.941   |
| c_edit 2, lr 5e-4 (preset)     | 300   | 0.934   | 0.921   | 0.928   |
| c_edit 2, lr 5e-4 (preset)     | 600   | 0.928   | 0.915   | 0.945   |

A heavier edit loss buys reliability at some locality; at 1e-3 validation reliability
wanders (0.885, 0.927, 0.915, 0.895 at steps 150-600), at 5e-4 it holds (0.923, 0.934,
0.920, 0.928), so the default 600 steps land on a good editor rather than a lucky one.

Task balance (seed 001, finding 3: task imbalance hurts multi-task training, and the paper
balances its tasks' data): with ``balance_tasks`` each training request's task is drawn
uniformly among the tasks with requests left, then a request of it. The demo model's
training data holds 57 capital requests against about 130 for each other training task,
and capital is the task where InstructEdit trails the single-task MEND editor, so it was
tried as the default (2026-12-06). quality_dev, 600 steps (`bench/trained_editors.py
--methods instructedit --split dev --steps 600 --set instructedit.seed=N --set
instructedit.balance_tasks=true`), reliability / generality / locality:

| sampling                            | all                   | capital               |
|-------------------------------------|-----------------------|-----------------------|
| by request, seeds 0 and 1 (mean)    | 0.923 / 0.892 / 0.948 | 0.863 / 0.838 / 0.949 |
| task-balanced ¹, seeds 0 and 1      | 0.934 / 0.899 / 0.943 | 0.866 / 0.863 / 0.957 |
| task-balanced, seed 0               | 0.932 / 0.896 / 0.936 | 0.844 / 0.826 / 0.949 |

¹ a first version that drew tasks with replacement and capped each at its requests left.
On test (600 steps, `--compare`) it left capital where it was (0.79 / 0.81 / 0.90, the
single-task editor 0.96 / 0.91 / 0.87) and overall 0.922 / 0.899 / 0.918 against 0.928 /
0.892 / 0.913; at 120 steps validation reliability fell from 0.930 to 0.802. Within the
noise of 8 requests per task, and no help to capital, so it stays off by default; it is
there for data whose tasks are far apart in size.

Training data on the demo model: ``editor_train.jsonl`` (subjects 0-b), each request's
task from its relation (capital, currency, language, continent, city_country).
``held_out`` names relations left out of training, to measure transfer to a task the
editor never saw (issue 17: ``--set held_out=city_country``); the default trains on all.

The seed's claims on 50 held-out requests per task instead of the test split's 8 (issue 17,
600 steps, ``bench/trained_editors.py --compare --split heldout``; the README's table): against a
single-task MEND per task, reliability 0.98 / 0.99 / 0.96 / 0.98 against 0.97 / 0.99 / 0.97 / 0.94
(capital, currency, language, continent) and locality 0.01-0.06 lower; on the unseen task
against multi-task MEND without instructions, generality 0.97 against 0.92 and locality 0.83
against 0.93.

Edit scale (issue 17, 2026-12-07): ``edit_scale`` multiplies the trained update at edit time,
and each trained editor's preset takes the largest of 1.0, 0.9 and 0.8 that meets every target
(reliability 0.9, generality 0.7, locality 0.9) on both dev splits, all 40 of ``quality_dev``
and the 157 requests of ``--split devheldout`` (the seed-0 editor of 600 steps; ``core/methods/
ke.py`` says more):

| edit_scale | quality_dev rel / gen / loc | devheldout rel / gen / loc |
|------------|-----------------------------|----------------------------|
| 1.0        | 0.928 / 0.915 / 0.945       | 0.967 / 0.961 / 0.884      |
| 0.9        | 0.933 / 0.901 / 0.953       | 0.967 / 0.936 / 0.910      |
| 0.8        | 0.915 / 0.871 / 0.970       | 0.955 / 0.928 / 0.914      |

so 0.9 (MEND by the same rule kept 1.0 there: 0.920 / 0.833 / 0.945 and 0.954 / 0.906 / 0.905;
on the present training data it took 0.9 too, ``mend.py``).
Measured once: on the 250 held-out requests (``--split heldout``) 0.972 / 0.933 / 0.892
against 0.981 / 0.949 / 0.869 at 1.0; on the test split's 40, 0.876 / 0.856 / 0.929 against
0.928 / 0.892 / 0.913. (A first version of the larger dev split took its locality prompts from
evaluation subjects by mistake and pointed to 0.8, measured then at 0.969 / 0.916 / 0.913
held out and 0.868 / 0.848 / 0.942 on test; the split was mended before the choice stood.)

Training round (issue 17, 2026-12-07, after the test miss above): KE's lever (a longer run,
a cosine decay of the rates, ``lr_decay``) and a heavier locality weight, each trained with
`factsmith train --method instructedit --facts editor_train.jsonl --val quality_dev.jsonl
--val-size 40 --set held_out=city_country --set KEY=VALUE` and measured on both dev splits
at scales 1.0, 0.9, 0.8 (`bench/trained_editors.py --checkpoint … --split dev|devheldout
--set instructedit.edit_scale=S`; `bench/results/trained_editors-20261207T154131Z…` to
`…T161815Z…`). One seed each, at each setting's best scale by the rule above
(quality_dev rel / gen / loc; devheldout rel / gen / loc):

| setting (seed 0)                       | scale | quality_dev           | devheldout            |
|----------------------------------------|-------|-----------------------|-----------------------|
| preset (600, Adam 5e-4)                | 0.9   | 0.933 / 0.901 / 0.953 | 0.967 / 0.936 / 0.910 |
| 600, cosine                            | 0.9   | 0.934 / 0.868 / 0.956 | 0.954 / 0.923 / 0.908 |
| 600, cosine, Adam 1e-3                 | 0.9   | 0.900 / 0.869 / 0.953 | 0.978 / 0.928 / 0.917 |
| 1,200                                  | 0.8   | 0.910 / 0.874 / 0.965 | 0.977 / 0.921 / 0.924 |
| 1,200, cosine, Adam 1e-3               | 1.0   | 0.922 / 0.903 / 0.935 | 0.986 / 0.951 / 0.902 |
| 1,200, c_loc 2                         | 0.9   | 0.922 / 0.878 / 0.954 | 0.980 / 0.920 / 0.907 |

Every difference is within what a training seed moves (the preset's seed 1 at 0.9: 0.894 /
0.852 / 0.962 on quality_dev), so the rule was written down before more seeds were measured:
three seeds (0, 1, 2) of the preset and of the most promising change (1,200 steps, cosine,
Adam 1e-3); each takes the largest scale whose seed-mean figures meet every target on both
splits; the larger smallest margin wins, and within 0.005 the cheaper. Seed means:

| setting (seeds 0-2)        | scale | quality_dev           | devheldout            | smallest margin |
|----------------------------|-------|-----------------------|-----------------------|-----------------|
| preset                     | 1.0   | 0.922 / 0.892 / 0.945 | 0.977 / 0.943 / 0.881 | -0.019          |
| preset                     | 0.9   | 0.911 / 0.879 / 0.957 | 0.976 / 0.928 / 0.910 | 0.010           |
| 1,200, cosine, Adam 1e-3   | 1.0   | 0.927 / 0.890 / 0.941 | 0.984 / 0.947 / 0.887 | -0.013          |
| 1,200, cosine, Adam 1e-3   | 0.9   | 0.912 / 0.867 / 0.957 | 0.983 / 0.937 / 0.912 | 0.012           |

Both land at 0.9, 0.002 apart: the preset stays (half the training). The preset's seeds 1 and 2
were then measured once on test, to see whether seed 0's test miss is its seed: 0.891 / 0.855 /
0.928 and 0.897 / 0.903 / 0.927 (seed 0: 0.876 / 0.856 / 0.929), so every seed misses test
reliability by 0.003-0.024, and on the 250 held-out requests 0.963 / 0.881 / 0.912 and 0.966 /
0.930 / 0.889 (seed 0: 0.972 / 0.933 / 0.892). The miss is in the test split's capital and
language requests (8 each; seeds 1 and 2: capital 0.73 and 0.79, language 0.79 and 0.76), in
every seed; nothing tried here moves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.facts.fact import Fact
from core.methods.base import EditError
from core.methods.instructions import GENERIC, TASK_NAMES, TASKS, Instruction, for_relation
from core.methods.mend import MENDHParams, MendMethod
from core.methods.trained import edited_params, task_balanced_batch
from core.model.loading import LoadedModel
from core.model.tokens import EncodedPair, encode_pair


@dataclass(frozen=True)
class InstructEditHParams(MENDHParams):
    held_out: tuple[str, ...] = ()  # relations never trained on (the unseen tasks)
    min_similarity: float = 0.9  # cosine to a task's mean prompt state to classify a request into it
    plain_gradient: bool = False  # also the plain prompt's gradient beside the instructed one (see above)
    balance_tasks: bool = False  # draw each training request's task uniformly (the paper's balancing; see above)


def instructed_pair(lm: LoadedModel, instruction: Instruction, fact: Fact) -> EncodedPair:
    """instruction + prompt, and target_new after it; ValueError if the model cannot hold it."""
    from core.model.generation import max_positions

    pair = encode_pair(lm.tokenizer, instruction.prefix() + fact.prompt, fact.target_new)
    limit = max_positions(lm.model.config)
    if limit is not None and len(pair.ids) > limit:
        raise ValueError(f"the instructed prompt takes {len(pair.ids)} tokens; the model holds {limit}")
    return pair


def edit_pairs(lm: LoadedModel, instruction: Instruction, fact: Fact, plain: bool) -> list[EncodedPair]:
    """The sequences whose gradient the editor transforms: the instructed one, and with
    ``plain`` (``plain_gradient``) the plain prompt's too."""
    pair = instructed_pair(lm, instruction, fact)
    return [pair, encode_pair(lm.tokenizer, fact.prompt, fact.target_new)] if plain else [pair]


def resolve_tasks(lm: LoadedModel, editor, facts: Sequence[Fact], hp) -> list[tuple[Instruction, str]]:
    """(instruction, how it was chosen: "relation", "classified" or "generic") per fact."""
    from core.methods.instructedit_net import prompt_states

    out: list[tuple[Instruction, str] | None] = [(for_relation(f.relation), "relation") if f.relation else None
                                                  for f in facts]
    missing = [i for i, got in enumerate(out) if got is None]
    if missing:
        states = prompt_states(lm, [facts[i].prompt for i in missing])
        for i, task in zip(missing, editor.classify(states, hp.min_similarity), strict=True):
            out[i] = (TASKS[TASK_NAMES[task]], "classified") if task is not None else (GENERIC, "generic")
    return [got for got in out if got is not None]


class InstructEditMethod(MendMethod):
    name = "instructedit"
    hparams_class = InstructEditHParams

    def new_editor(self, lm: LoadedModel, hp: InstructEditHParams):
        from core.methods.instructedit_net import InstructEditor

        params, shapes = edited_params(lm, hp.layers)
        editor = InstructEditor(params, shapes, hp.rank, hp.edit_lr, lm.info.hidden_size, len(TASK_NAMES))
        editor.plain_gradient = hp.plain_gradient  # as trained: a loaded editor gets its checkpoint's value
        return editor.to(lm.device)

    def batch(self, facts: Sequence[Fact], step: int, hp: InstructEditHParams) -> list[Fact]:
        pool = [f for f in facts if f.relation not in hp.held_out]
        if not pool:
            raise EditError(f"instructedit: every training request is of a held-out task ({', '.join(hp.held_out)})")
        if hp.balance_tasks:
            return task_balanced_batch(pool, step, hp.edits_per_step, hp.seed)
        return super().batch(pool, step, hp)

    def edit_inputs(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp) -> tuple[list[EncodedPair], dict]:
        tasks = resolve_tasks(lm, editor, facts, hp)
        encoded = [pair for (instruction, _), f in zip(tasks, facts, strict=True)
                   for pair in edit_pairs(lm, instruction, f, editor.plain_gradient)]
        return encoded, {"tasks": [{"task": i.task, "from": how} for i, how in tasks]}

    def train_step(self, lm: LoadedModel, editor, batch: Sequence[Fact], hp: InstructEditHParams) -> dict[str, float]:
        """MEND's step on instructed edit inputs; the tasks' prompt states are observed first."""
        from core.methods.instructedit_net import prompt_states
        from core.methods.mend_train import train_step

        known = [f for f in batch if f.relation in TASKS]
        if known:
            states = prompt_states(lm, [f.prompt for f in known])
            editor.observe_tasks([TASK_NAMES.index(f.relation) for f in known], states)
        plain = editor.plain_gradient
        return train_step(lm, editor, batch, hp, lambda f: edit_pairs(lm, for_relation(f.relation), f, plain))


INSTRUCTEDIT = InstructEditMethod()
