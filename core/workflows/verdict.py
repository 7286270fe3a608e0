"""The verdict of a computed edit: did it take, and what did it cost?

Every computed edit gets one, in core, so the CLI, the report JSON and the app say the
same thing. Per fact, from the teacher-forced scores of the edited model (the default
protocol) and the fluency of its free text:

- *failed*: the new answer is not produced on the edit prompt (reliability under target);
- *side effects*: it is produced, but locality fell or the free text repeats itself more;
- *partial*: it is produced with no side effect, but paraphrases do not follow;
- *took*: reliability and generality at target, locality held.

An edit of several facts is *took* only when every fact took, *failed* when every fact
failed; otherwise the worst of side effects / partial, with the counts. A metric that was
not measured (no paraphrases, no locality prompts) counts neither way and is said so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TOOK, PARTIAL, FAILED, SIDE_EFFECTS = "took", "partial", "failed", "side effects"
VERDICTS = (TOOK, PARTIAL, SIDE_EFFECTS, FAILED)


@dataclass(frozen=True)
class VerdictRules:
    """The targets a verdict is decided by (teacher-forced values in [0, 1])."""

    reliability: float = 0.95  # every target token of the new answer is the top prediction, near enough
    generality: float = 0.8
    locality: float = 0.9
    fluency_drop: float = 0.05  # relative fall of the n-gram diversity (or entropy) that counts as damage


DEFAULT_RULES = VerdictRules()


@dataclass(frozen=True)
class Check:
    """One number that decided a verdict: the metric, its value, the bound and whether it held.
    ``generated``: for reliability and generality, the share of prompts whose greedy text is the
    new answer (exact match), which must meet the bound too: a teacher-forced 0.80 can be four of
    five tokens right on every paraphrase, none of which then says the answer. For locality, the
    share of locality prompts whose greedy answer is unchanged."""

    metric: str
    value: float | None  # None: not measured
    bound: float
    held: bool | None  # None: not measured
    generated: float | None = None  # None: not measured, or no exact-match part to this check

    def __str__(self) -> str:
        return check_text(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        found = {"metric": self.metric, "value": self.value, "bound": self.bound, "held": self.held}
        return found | ({} if self.generated is None else {"generated": self.generated})


def check_text(check: Mapping[str, Any]) -> str:
    """"generality 0.80 ≥ 0.80", or "generality 0.80 token by token, but generated 0.00 < 0.80"
    when the greedy text did not follow; from a stored check (``Check.to_dict``)."""
    metric, value, bound = check["metric"], check.get("value"), check["bound"]
    if value is None:
        return f"{metric} not measured"
    generated = check.get("generated")
    if check.get("held") is False and value >= bound and generated is not None and generated < bound:
        if metric == "locality":
            return (f"locality {value:.2f} token by token, but the generated answer changed on {1 - generated:.0%} "
                    f"of the locality prompts (kept {generated:.2f} < {bound:.2f})")
        return f"{metric} {value:.2f} token by token, but generated {generated:.2f} < {bound:.2f}"
    return f"{metric} {value:.2f} {'≥' if check.get('held') else '<'} {bound:.2f}"


@dataclass(frozen=True)
class FactVerdict:
    fact_id: str
    verdict: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()  # what a held check does not show (it held before the edit too)
    label: str = ""  # "Australia → Sydney": how a verdict of several facts names this one

    def to_dict(self) -> dict[str, Any]:
        found = {"fact_id": self.fact_id, "verdict": self.verdict, "checks": [c.to_dict() for c in self.checks],
                 "notes": list(self.notes)}
        return found | ({"label": self.label} if self.label else {})


@dataclass(frozen=True)
class Verdict:
    """The edit's verdict, the facts' own, and what to try next when it did not take."""

    verdict: str
    facts: tuple[FactVerdict, ...]
    summary: str
    advice: tuple[str, ...] = ()  # phrased for the CLI (CLI_TERMS)
    advice_templates: tuple[str, ...] = ()  # the same with {term} placeholders: ``phrase_advice``

    @property
    def took(self) -> bool:
        return self.verdict == TOOK

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "summary": self.summary, "advice": list(self.advice),
                "advice_templates": list(self.advice_templates), "facts": [f.to_dict() for f in self.facts]}


def _check(metric: str, value: float | None, bound: float, generated: float | None = None) -> Check:
    if value is None:
        return Check(metric, None, bound, None)
    held = value >= bound and (generated is None or generated >= bound)
    return Check(metric, float(value), bound, held, None if generated is None else float(generated))


def _fluency_check(pre: Mapping[str, Any], post: Mapping[str, Any], rules: VerdictRules) -> Check:
    """Damage to how the model writes: its free text repeats itself more than before. Judged on
    the n-gram diversity (fluency over its ceiling for the text's length) where measured: raw
    fluency grows with length, so a new answer that ends the sentence sooner read as damage
    (audit of 2026-12-06). Runs stored before it are judged on raw fluency, as they were."""
    diverse = "fluency.diversity" in pre or "fluency.diversity" in post
    metric = "fluency.diversity" if diverse else "fluency"  # one side short of three words: not measured
    before, after = pre.get(metric), post.get(metric)
    if before is None or after is None or before <= 0:
        return Check("fluency", None, 0.0, None)
    floor = before * (1 - rules.fluency_drop)
    return Check(metric, float(after), floor, after >= floor)


def fact_verdict(fact_id: str, pre: Mapping[str, Any], post: Mapping[str, Any],
                 rules: VerdictRules = DEFAULT_RULES) -> FactVerdict:
    """One fact's verdict from its pre- and post-edit metric summaries (flat names)."""
    reliability = _check("reliability", post.get("reliability"), rules.reliability,
                         post.get("generation.reliability"))
    generality = _check("generality", post.get("generality"), rules.generality, post.get("generation.generality"))
    # as reliability: the greedy answers count too (trial 40: "took" at locality 0.92 beside a locality
    # prompt now answering the new answer, said only in a note)
    locality = _check("locality", post.get("locality"), rules.locality, post.get("generation.locality"))
    fluency = _fluency_check(pre, post, rules)
    checks = (reliability, generality, locality, fluency)
    if not reliability.held:
        verdict = FAILED
    elif locality.held is False or fluency.held is False:
        verdict = SIDE_EFFECTS
    elif generality.held is False:
        verdict = PARTIAL
    else:
        verdict = TOOK
    notes = (_not_the_old_answer(pre) + _strayed(post) + _already_held(pre, (reliability, generality))
             + _locality_changes(post, locality) + _garbled(post))
    return FactVerdict(fact_id, verdict, checks, notes)


def _not_the_old_answer(pre: Mapping[str, Any]) -> tuple[str, ...]:
    """The model's own answer before the edit was not the fact's old answer
    (``core.workflows.editing.said_before``): the edit replaced an answer it did not give."""
    if not pre.get("said_first"):
        return ()
    return (f"before the edit the model answered “{pre['said_first']}”, not the old answer "
            f"“{pre['old_answer']}”: check the old answer",)


def _strayed(post: Mapping[str, Any]) -> tuple[str, ...]:
    """Paraphrases the edit sent to a third answer (``core.workflows.editing.post_summary``): worse
    than not following, and a "partial" alone does not say it."""
    return tuple(f"the paraphrase “{prompt}” now answers “{said}”: neither the new nor the old answer"
                 for prompt, said in post.get("strayed") or ())


def _garbled(post: Mapping[str, Any]) -> tuple[str, ...]:
    """PPL_r above 1: the edited model's text after the new answer is, per token, less likely to
    the unedited model than the prompt and answer themselves; of the audit's 132 edits only two
    passed it, both after the answer "Cluj-Napoca" (ICE's "Cluj-Napoca Ricoaf Pet" at 33.67, and
    FT-M's at 3.07); the rest stayed under 0.26."""
    ratio = post.get("ppl_r")
    if ratio is None or ratio <= 1.0:
        return ()
    return (f"the text after the new answer may be garbled: the unedited model finds it less likely than the prompt "
            f"itself (PPL_r {ratio:.2f} > 1); read the generations",)


def _locality_changes(post: Mapping[str, Any], locality: Check) -> tuple[str, ...]:
    """The check holds with up to a tenth of the locality prompts' greedy answers changed (0.90),
    so the share that changed is said beside it."""
    kept = post.get("generation.locality")
    if not locality.held or kept is None or kept >= 1.0:
        return ()
    return (f"the generated answer changed on {1 - kept:.0%} of the locality prompts",)


def _already_held(pre: Mapping[str, Any], checks: Sequence[Check]) -> tuple[str, ...]:
    """A reliability or generality that held before the edit as well says nothing about it
    (a paraphrase the model already answered with the new answer)."""
    return tuple(f"{c.metric} was {pre[c.metric]:.2f} before the edit too, so it shows nothing about this edit"
                 for c in checks if c.held and pre.get(c.metric) is not None and pre[c.metric] >= c.bound)


def combine(facts: Sequence[FactVerdict]) -> str:
    kinds = {f.verdict for f in facts}
    if not facts or kinds == {FAILED}:
        return FAILED
    if kinds == {TOOK}:
        return TOOK
    return SIDE_EFFECTS if SIDE_EFFECTS in kinds else PARTIAL


def _summary(verdict: str, facts: Sequence[FactVerdict]) -> str:
    stored = [f.to_dict() for f in facts]
    if len(facts) == 1:
        failing = [c for c in facts[0].checks if c.held is False]
        shown = failing or [c for c in facts[0].checks if c.held]
        return f"{verdict}: " + ", ".join(str(c) for c in shown) + _notes(stored)
    return f"{verdict}: {_counts(stored)}" + _notes(stored)


def _counts(facts: Sequence[Mapping[str, Any]]) -> str:
    counts = {v: sum(f.get("verdict") == v for f in facts) for v in VERDICTS}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) + f" of {len(facts)} facts"


NOT_MEASURED_WHY = {"generality": "no paraphrases", "locality": "no locality prompts"}


def not_measured_text(metric: str, some: str = "") -> str:
    """"locality not measured (no locality prompts)": one wording for the verdict, the gate and the app."""
    why = NOT_MEASURED_WHY.get(metric)
    return f"{metric} not measured{some}" + (f" ({why})" if why else "")


def facts_without(facts: Sequence[Mapping[str, Any]], metric: str) -> int:
    """How many of the stored fact verdicts could not measure ``metric`` (no paraphrases, no locality prompts)."""
    return sum(any(c.get("metric") == metric and c.get("held") is None for c in f.get("checks") or ())
               for f in facts)


def unchecked(verdict: Mapping[str, Any]) -> tuple[str, ...]:
    """The checks a stored verdict (``Verdict.to_dict``, or one fact's) could not make on some of
    its facts: a "took" with these reads as unchecked, not as safe (trial 47)."""
    facts = verdict.get("facts") or (verdict,)
    return tuple(metric for metric in NOT_MEASURED_WHY if facts_without(facts, metric))


def _notes(facts: Sequence[Mapping[str, Any]]) -> str:
    """"; locality not measured (no locality prompts)" (with a count when only some facts lack it)
    and, for one fact, what a held check does not show: a verdict never reads as if an unmeasured
    check had held. From stored verdicts (``FactVerdict.to_dict``), so older runs get it too."""
    notes = []
    for metric in NOT_MEASURED_WHY:
        if missing := facts_without(facts, metric):
            some = f" for {missing} of {len(facts)} facts" if len(facts) > 1 and missing < len(facts) else ""
            notes.append(not_measured_text(metric, some))
    notes += list(facts[0].get("notes") or ()) if len(facts) == 1 else []
    return "".join(f"; {note}" for note in notes)


def headline(verdict: Mapping[str, Any]) -> str:
    """The verdict as one line naming every failing criterion (of every fact), from a stored
    ``Verdict.to_dict()``: "did not take: reliability 0.12 < 0.95; locality 0.71 < 0.90"."""
    kind = verdict.get("verdict") or "no verdict"
    facts = verdict.get("facts") or []
    failing = [_check_text(c, (f.get("label") or f.get("fact_id", "")[:8]) if len(facts) > 1 else "")
               for f in facts for c in f.get("checks") or [] if c.get("held") is False]
    label = "did not take" if kind == FAILED else kind
    if not failing:
        return verdict.get("summary") or label
    counts = f" ({_counts(facts)})" if len(facts) > 1 else ""
    return f"{label}{counts}: " + "; ".join(failing) + _notes(facts)


def _check_text(check: Mapping[str, Any], name: str) -> str:
    """A failing check, named by its fact in a verdict of several (older runs stored no label: the id's start)."""
    text = check_text(check)
    return f"{name}: {text}" if name else text


# Advice names controls as {placeholders}; each interface phrases them in its own terms.
CLI_TERMS: Mapping[str, str] = {"layer_auto": "--layer auto", "tune": "factsmith tune", "train": "factsmith train"}


def phrase_advice(verdict: Mapping[str, Any], terms: Mapping[str, str]) -> list[str]:
    """A stored verdict's advice in an interface's ``terms`` (keys as in ``CLI_TERMS``); a
    verdict stored before templates existed has its CLI terms replaced."""
    templates = verdict.get("advice_templates")
    if templates is not None:
        return [t.format_map({**CLI_TERMS, **terms}) for t in templates]
    said = []
    for tip in verdict.get("advice") or []:
        for key, cli in CLI_TERMS.items():
            tip = tip.replace(cli, terms.get(key, cli))
        said.append(tip)
    return said


def advice_for(method: str, facts: Sequence[FactVerdict]) -> tuple[str, ...]:
    """What to try next, from what went wrong, as templates (``phrase_advice``); nothing when
    every fact took."""
    kinds = {f.verdict for f in facts}
    tips: list[str] = []
    if FAILED in kinds:
        tips += _FAILED_ADVICE.get(method, _FAILED_ADVICE["*"])
    if SIDE_EFFECTS in kinds:
        tips += _SIDE_EFFECT_ADVICE.get(method, _SIDE_EFFECT_ADVICE["*"])
    both = any(f.verdict == SIDE_EFFECTS and _missed(f, "generality") for f in facts)
    if both and method in _TRADE_OFF:  # loosening for paraphrases undoes tightening for side effects
        tips.append(_TRADE_OFF_TIP)
    elif PARTIAL in kinds or both:
        tips += _PARTIAL_ADVICE.get(method, _PARTIAL_ADVICE["*"])
    return tuple(dict.fromkeys(tips))


# Methods whose paraphrase advice loosens the very setting their side-effect advice tightens.
_TRADE_OFF = ("grace", "ice", "comeba-hk")
_TRADE_OFF_TIP = ("paraphrases missed as well: the setting that reaches them would widen the side effects, so "
                  "change it in small steps and preview again, or try another method")


def _missed(fact: FactVerdict, metric: str) -> bool:
    return any(c.metric == metric and c.held is False for c in fact.checks)


_OUT_OF_REACH = ("ROME and MEMIT rewrite what the model recalls about the subject, so an answer of "
                 "another kind than the relation's usual ones (a city that is no capital) is often out "
                 "of their reach: try FT-M, whose default keeps other knowledge, or GRACE")
_TRAIN_LONGER = "an editor trained for more steps, or on requests like these ({train})"
_OTHER_METHOD = "another method: ROME, FT-M or GRACE"
_FAILED_ADVICE: dict[str, list[str]] = {
    "rome": [_OUT_OF_REACH, "the traced layer ({layer_auto})", "more optimisation steps or a larger step "
             "(v_steps, v_lr)", "a preset tuned on your facts ({tune})"],
    "memit": [_OUT_OF_REACH, "the traced layers ({layer_auto})", "more optimisation steps or a larger step "
              "(v_steps, v_lr)", "a smaller mom2_weight", "a preset tuned on your facts ({tune})"],
    "alphaedit": [_OUT_OF_REACH, "the traced layers ({layer_auto})", "more optimisation steps or a larger step "
                  "(v_steps, v_lr)", "a larger nullspace_threshold (more directions free to change) or a "
                  "smaller l2"],
    "grace": ["more steps or a larger lr for the value (steps, lr)", "another layer (layer)",
              "a preset tuned on your facts ({tune})"],
    "comeba-hk": [_OUT_OF_REACH, "more optimisation steps or a larger step (v_steps, v_lr)",
                  "a smaller mom2_weight", "a lower threshold_init (the hook layers answer more tokens)"],
    # trained editors: what one edit does is what training taught the network
    "mend": [_TRAIN_LONGER, _OTHER_METHOD],
    "instructedit": [_TRAIN_LONGER, _OTHER_METHOD],
    "ke": [_TRAIN_LONGER, _OTHER_METHOD],
    "recipe": ["more refine_steps or a larger refine_lr (each new prompt is tuned on its edit)", _TRAIN_LONGER,
               _OTHER_METHOD],
    "*": ["more steps or a larger learning rate (steps, lr)", "a looser norm_constraint or a higher "
          "loss_threshold", "another method: ROME, MEMIT or GRACE", "a preset tuned on your facts ({tune})"],
}
_SIDE_EFFECT_ADVICE: dict[str, list[str]] = {
    "ft-m": ["more retain_samples or a larger retain_factor keeps other knowledge",
             "a norm_constraint or a smaller lr", "ROME, MEMIT or GRACE change less"],
    "ft-l": ["a tighter norm_constraint or a smaller lr", "ROME, MEMIT or GRACE change less"],
    "ice": ["a tighter norm_constraint or a smaller lr", "GRACE leaves other inputs untouched"],
    "grace": ["a smaller eps_init keeps the edit's radius off other inputs", "another layer (layer)"],
    "comeba-hk": ["a higher threshold_init keeps the hook layers off unrelated inputs", "a larger mom2_weight"],
    # trained editors: the app's Train dialog takes no hyperparameters, so no training knob is named
    **{name: ["an editor trained for more steps, on requests whose locality prompts are like these ({train})",
              "GRACE leaves other inputs untouched"] for name in ("mend", "instructedit", "ke")},
    "recipe": ["an editor trained for more steps, on requests whose locality prompts are like these ({train})",
               "fewer refine_steps"],
    "*": ["a smaller step or fewer steps", "GRACE leaves other inputs untouched"],
}
_PARTIAL_ADVICE: dict[str, list[str]] = {
    "grace": ["a larger eps_init lets paraphrases fall inside the edit's radius"],
    "comeba-hk": ["a lower threshold_init lets the hook layers answer paraphrases too"],
    **{name: ["an editor trained on requests with paraphrases ({train})"] for name in ("mend", "instructedit", "ke",
                                                                                       "recipe")},
    "ice": ["more steps or a larger lr (steps, lr)", "a looser norm_constraint"],
    # FT-M and FT-L train on the prompt alone; ICE's context states the fact in each paraphrase's words
    "*": ["ICE carries an edit to paraphrases more often: its context states the fact in each paraphrase's words"],
}


def edit_verdict(method: str, fact_ids: Sequence[str], pre: Sequence[Mapping[str, Any]],
                 post: Sequence[Mapping[str, Any]], rules: VerdictRules = DEFAULT_RULES,
                 labels: Mapping[str, str] | None = None) -> Verdict:
    """The verdict of one edit of ``fact_ids`` from each fact's pre/post summaries, in order;
    ``labels`` (fact id → "Australia → Sydney") name the facts in the headline of several."""
    facts = tuple(dataclasses.replace(fact_verdict(f, a, b, rules), label=(labels or {}).get(f, ""))
                  for f, a, b in zip(fact_ids, pre, post, strict=True))
    verdict = combine(facts)
    templates = advice_for(method, facts)
    return Verdict(verdict, facts, _summary(verdict, facts), tuple(t.format_map(CLI_TERMS) for t in templates),
                   templates)
