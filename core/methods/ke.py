"""KnowledgeEditor (KE): a hypernetwork conditioned on the edit (De Cao et al., EMNLP 2021;
the lecture, seed 002; methods.md §3).

An edit is one forward and backward pass of the fine-tuning loss (teacher-forced NLL of
``target_new`` after the prompt) on the unedited model, capturing per edited MLP output
matrix (by default the last three blocks, as MEND; ``core.methods.mend_net``'s gradient
factors, reused) the rank-one factors u_i, δ_i of the gradient ∇W = Σ_i δ_i u_iᵀ. A
trained network (``core.methods.ke_net``) reads the condition (x, y, a) = (prompt, old
answer, new answer) and predicts per matrix the gated update

    ΔW = −s_W · σ(η) · (α̂ ⊙ ∇W + β̂),  α̂ = σ̂(α) γᵀ,  β̂ = σ̂(β) δᵀ,

returned as an ordinary low-rank ``Delta`` (rank = target tokens + 1 per fact), so previews,
verdicts, commits, patches and revert work unchanged; the model is left bit-identical.
The old answer y is the request's ``target_true``, or the model's own greedy answer when
it has none (the paper conditions on the model's prediction). Several facts in one edit
are edited each on its own and their updates added.

Training (``factsmith train --method ke``): the paper's constrained problem

    min_φ Σ_{x̂ ∈ {x} ∪ P^x} NLL(a | x̂; θ′)   s.t.   KL(p_θ(·|x′) ‖ p_θ′(·|x′)) ≤ m  on other inputs x′

solved, as the paper does, through its Lagrangian L = NLL + λ·(KL − m) with λ = exp(ρ) ≥ 0
ascended by Adam (``lr_lambda``) while the editor descends: λ grows while the edits
disturb the locality prompts by more than m (nats per answer token) and shrinks once they
stay within it. Why not a fixed weight (MEND's c_loc): the NLL's scale moves by orders of
magnitude during training while the KL does not, so a weight right at the start is wrong
at the end, and m says what is wanted (a locality budget) where a weight does not.
``lr_lambda=0`` gives the fixed penalty with weight ``kl_weight`` for comparison.

``checkpoint`` names the trained editor (empty: the default path ``factsmith train`` writes
for this model); the record's fingerprint must match the loaded model's.

Presets (``core.methods.presets``): for small models (< 100M) s_W starts at 20, Adam 2e-3 for
the network decayed to ~0 by a cosine over the run (``lr_decay``; until issue 17's tuning
round a constant 1e-3) and 1e-2 for log s_W, 4 requests per step (set by hand on dev
validation in short runs), and a fixed KL weight (``lr_lambda=0``, λ = 1) instead of the Lagrangian: in
runs of a few hundred steps λ keeps rising while the edits exceed m, and reliability falls
with it (the "constrained" variant keeps the Lagrangian, and the constant 1e-3). Demo model, ``editor_train.jsonl``
(subjects 0-b), 300 steps, validation on all 40 of ``quality_dev.jsonl`` at the last step:

| setting (300 steps)                            | val rel | val gen | val loc |
|------------------------------------------------|---------|---------|---------|
| Lagrangian, m = 0.01, lr_lambda 1e-2           | 0.740   | 0.662   | 0.962   |
| Lagrangian, network lr 3e-4                    | 0.838   | 0.759   | 0.937   |
| fixed weight λ = 2                             | 0.798   | 0.724   | 0.951   |
| fixed weight λ = 1 (the then preset)           | 0.859   | 0.848   | 0.906   |

At ``factsmith train``'s default 600 steps (issue 17's tuning round, ``bench/trained_editors.py
--split dev --steps 600``; validation on all 40 of ``quality_dev.jsonl`` at steps 150 / 300 /
450 / 600, reliability / generality / locality at 600 in the columns):

| setting (600 steps)               | val rel | val gen | val loc | val rel at 150/300/450 |
|-----------------------------------|---------|---------|---------|------------------------|
| old preset (λ = 1, lr 1e-3)       | 0.917   | 0.883   | 0.901   | 0.758 / 0.859 / 0.892  |
| λ = 1.5                           | 0.808   | 0.748   | 0.940   | 0.719 / 0.879 / 0.846  |
| 8 requests per step               | 0.781   | 0.701   | 0.936   | 0.850 / 0.851 / 0.927  |
| network lr 5e-4                   | 0.934   | 0.900   | 0.863   | 0.815 / 0.872 / 0.897  |
| network lr 5e-4, λ = 1.25         | 0.934   | 0.892   | 0.899   | 0.746 / 0.806 / 0.885  |
| network lr 5e-4, λ = 1.5          | 0.879   | 0.827   | 0.922   | 0.706 / 0.834 / 0.879  |
| cosine decay (lr 1e-3 → 0)        | 0.872   | 0.830   | 0.918   | 0.675 / 0.859 / 0.859  |
| cosine, lr 5e-4, λ = 1.25         | 0.848   | 0.805   | 0.924   | 0.765 / 0.852 / 0.873  |
| cosine, lr 2e-3 (small preset)    | 0.909   | 0.857   | 0.930   | 0.783 / 0.909 / 0.909  |
| Lagrangian m = 0.15 (cosine 2e-3) | 0.801   | 0.764   | 0.947   | 0.758 / 0.884 / 0.771  |
| Lagrangian m = 0.25 (cosine 2e-3) | 0.847   | 0.781   | 0.946   | 0.829 / 0.879 / 0.771  |
| λ = 0.75 (cosine 2e-3)            | 0.879   | 0.839   | 0.889   | 0.776 / 0.922 / 0.904  |

The first six rows (a constant rate) are the previous round: only the then preset (λ = 1,
constant 1e-3) met the targets (reliability 0.9, generality 0.7, locality 0.9) on dev,
locality with no margin. Reliability and locality trade against each other along every
knob tried there (a heavier KL weight, a slower network), and single runs swing by several
points between validations (a 40-request split). The next three decay every rate of the
optimiser to ~0 by the last step (``lr_decay="cosine"``; ``--set ke.lr_decay=cosine``, with
``--set ke.lr=5e-4 --set ke.kl_weight=1.25`` and ``--set ke.lr=2e-3``), one run each, tried
in this order, stopping at the first meeting the targets with locality and reliability near
0.91: the decay alone holds locality (0.918) but, halving the rate's integral, costs
reliability; doubling the peak rate restores that integral and meets all three, reliability
by 0.009, and its validation no longer swings (reliability 0.909 at 300, 450 and 600
steps), so it is the small preset. On the test split, once: 0.898 / 0.875 / 0.929 (the
README), reliability 0.002 short of the target. Its mean KL per answer token over the last
50 steps is 0.20 nats (λ = 1), twenty times the constrained variant's budget m = 0.01.

The last three rows (issue 17's margin round) looked on dev for more reliability margin
(reliability ≥ ~0.93, locality ≥ ~0.92, generality ≥ 0.75), one run each in this order,
stopping at the first meeting it, all with the preset's cosine decay and lr 2e-3
(``bench/trained_editors.py --methods ke --steps 600 --split dev`` plus): the Lagrangian
(λ from 1) with lr_lambda 1e-2 and a budget near that KL (``--set ke.lr_lambda=1e-2 --set
ke.kl_margin=0.15``, then ``0.25``), and a lighter fixed weight (``--set ke.kl_weight=0.75``).
None did, so the preset is unchanged. The Lagrangian raised λ (mean over the last 50
steps 2.39 at m = 0.15, 1.93 at m = 0.25; KL 0.110 and 0.130 nats) and bought locality
(0.947, 0.946) with reliability (0.801, 0.847), its validation reliability falling from
0.88 at 300 steps to 0.77 at 450; λ = 0.75 (KL 0.227) lost locality (0.889) without gaining
reliability (0.879 at 600 steps, 0.922 at 300). Each is one run; its gaps to the preset's
row are of the size one run on 40 requests swings between validations.

Issue 17's third KE round asked whether the preset wants a longer run rather than other rates:
the same preset trained for 1,200 steps instead of 600 (the cosine then spans 1,200), two
training seeds each (``--split dev --steps 1200``, ``--set ke.seed=1``), dev validation on all 40:

| budget (preset)  | seed 0 rel / gen / loc | seed 1 rel / gen / loc | mean rel / gen / loc  |
|------------------|------------------------|------------------------|-----------------------|
| 600 steps        | 0.909 / 0.857 / 0.930  | 0.877 / 0.841 / 0.914  | 0.893 / 0.849 / 0.922 |
| 1,200 steps      | 0.947 / 0.878 / 0.914  | 0.877 / 0.821 / 0.912  | 0.912 / 0.850 / 0.913 |

On the mean only 1,200 steps meets all three targets, so it is the small preset's training
budget (``presets.training_steps``: ``factsmith train`` and the Train dialog use it unless told
otherwise; 347-545 s on one core here). The seeds differ by up to 0.07 in reliability, more
than the budgets do. On the test split, once (seed 0): 0.927 / 0.895 / 0.887: reliability now
meets its target, locality falls 0.013 short (600 steps: 0.898 / 0.875 / 0.929).

Keeping the validated editor that best met the verdict's targets instead of the last (``factsmith train
--keep best``, issue 17's fourth KE round; 1,200 steps, dev validation on all 40 every 100 steps, the kept
and the last checkpoint measured once each on test): seed 0 keeps its last step (0.927 / 0.895 / 0.887);
seed 1 keeps step 800, 0.923 / 0.929 / 0.903 against its last step's 0.923 / 0.915 / 0.885. Not the
default: on InstructEdit it kept an undertrained editor (``core.workflows.train_keep``).

Issue 17's fifth KE round: every round above moved locality only by trading reliability in
training, and a heavier fixed KL weight does not move it at 1,200 steps (λ = 1.5: 0.975 / 0.896
/ 0.884 against λ = 1's 0.971 / 0.898 / 0.889, on a first version of the larger dev split whose
locality prompts were, by mistake, about evaluation subjects). The edit itself can be smaller:
``edit_scale`` multiplies the trained update at edit time (the training loss never sees it;
validation during training measures edits as they will be made, so with it). Each trained
editor's preset takes the largest scale meeting every target on both dev splits, all 40 of
``quality_dev`` and the 157 requests about tuning subjects, with tuning subjects' locality
prompts, outside every demo set and the training requests (``bench/trained_editors.py --split
devheldout``); where none does, the one missing by least. The seed-0 editor of 1,200 steps:

| edit_scale | quality_dev (40) rel / gen / loc | devheldout (157) rel / gen / loc |
|------------|----------------------------------|----------------------------------|
| 1.0        | 0.947 / 0.878 / 0.914            | 0.974 / 0.924 / 0.875            |
| 0.9        | 0.934 / 0.878 / 0.931            | 0.959 / 0.905 / 0.893            |
| 0.8        | 0.884 / 0.797 / 0.943            | 0.932 / 0.877 / 0.915            |
| 0.7        | 0.764 / 0.690 / 0.947            | 0.927 / 0.844 / 0.933            |

None meets all three on both (down to 0.9 locality on the larger split stays under 0.9; from 0.8
reliability on ``quality_dev`` falls under it); 0.9 misses by least (0.007 of locality), so it
is the small preset's.
Then measured once: test 0.940 / 0.880 / 0.909 (1.0: 0.927 / 0.895 / 0.887); 250 held-out
requests about evaluation subjects (``--split heldout``) 0.951 / 0.879 / 0.903 (1.0: 0.960 /
0.895 / 0.889).

Held-out test split figures: the README's *Trained editors* table (``bench/trained_editors.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.facts.fact import Fact
from core.methods.trained import TrainedEditorMethod, edited_params
from core.model.loading import LoadedModel
from core.model.tokens import encode_pair, encode_text


@dataclass(frozen=True)
class KEHParams:
    # The seeds give no values for KE on decoder models; these defaults are MEND's where the
    # role is the same and otherwise our choice (untuned for large models).
    layers: tuple[int, ...] = ()  # (): the last three blocks (as MEND)
    checkpoint: str = ""  # the trained editor; "": the default path for this model
    hidden: int = 128  # the conditioner's LSTM width per direction
    cond_dim: int = 256  # the condition vector's size
    head_hidden: int = 128  # each matrix head's hidden width
    edit_lr: float = 1e-4  # the step s_W's initial value (as MEND's α)
    lr: float = 1e-5  # Adam's rate for the network
    lr_step: float = 1e-3  # Adam's rate for log s_W
    kl_margin: float = 0.01  # m: allowed KL per answer token of a locality prompt
    kl_weight: float = 1.0  # λ's initial value
    lr_lambda: float = 1e-2  # Adam's rate for log λ (ascent); 0: a fixed penalty
    edits_per_step: int = 10  # edit requests per training step, each edited on its own
    lr_decay: str = "none"  # the rates' schedule over the run: "none", "cosine" or "linear" (to ~0 at the end)
    max_paraphrases: int = 3  # paraphrases in each request's edit loss
    max_locality: int = 4  # locality prompts in each request's KL
    seed: int = 0
    edit_scale: float = 1.0  # the trained update times this, at edit time and in validation (not in the loss)


def old_answer(lm: LoadedModel, fact: Fact, tokens: int) -> str:
    """y: the request's old answer, or the model's greedy one."""
    if fact.target_true:
        return fact.target_true
    from core.model.generation import SamplingOptions, continuation

    return continuation(lm, fact.prompt, SamplingOptions(max_new_tokens=tokens)).strip()


def condition_tokens(lm: LoadedModel, fact: Fact) -> tuple[list[int], list[int]]:
    """(ids, segment ids) of x, y, a: the prompt, then each answer as it follows the prompt."""
    new = encode_pair(lm.tokenizer, fact.prompt, fact.target_new).target_ids
    old_text = old_answer(lm, fact, len(new))
    old = encode_pair(lm.tokenizer, fact.prompt, old_text).target_ids if old_text else ()
    prompt = encode_text(lm.tokenizer, fact.prompt.rstrip())
    return [*prompt, *old, *new], [0] * len(prompt) + [1] * len(old) + [2] * len(new)


def ke_updates(lm: LoadedModel, net, facts: Sequence[Fact]) -> dict:
    """{param: (left, right)}: the sum of each fact's update (differentiable in ``net``)."""
    import torch

    from core.methods.ke_net import condition_vector
    from core.methods.mend_net import gradient_factors, update_matrix

    modules = [p.removesuffix(".weight") for p in net.params]
    rows: dict[str, list] = {p: [] for p in net.params}
    for fact in facts:
        edit = encode_pair(lm.tokenizer, fact.prompt, fact.target_new)
        factors = gradient_factors(lm, modules, net.params, [edit])
        c = condition_vector(lm, net, *condition_tokens(lm, fact))
        for p, pair in net.factors(factors, c).items():
            rows[p].append(pair)
    return {p: update_matrix(torch.cat([i for i, _ in got]), torch.cat([o for _, o in got]), lm.spec.weight_layout)
            for p, got in rows.items()}


class KEMethod(TrainedEditorMethod):
    name = "ke"
    hparams_class = KEHParams

    def new_editor(self, lm: LoadedModel, hp: KEHParams):
        from core.methods.ke_net import KnowledgeEditorNet

        params, shapes = edited_params(lm, hp.layers)
        emb_dim = lm.model.get_input_embeddings().weight.shape[1]
        return KnowledgeEditorNet(params, shapes, emb_dim, hp.hidden, hp.cond_dim, hp.head_hidden, hp.edit_lr,
                                  hp.kl_weight).to(lm.device)

    def optimizer(self, editor, hp: KEHParams):
        import torch

        rest = [p for n, p in editor.named_parameters() if n not in ("log_steps", "log_lambda")]
        return torch.optim.Adam([{"params": rest, "lr": hp.lr}, {"params": [editor.log_steps], "lr": hp.lr_step},
                                 {"params": [editor.log_lambda], "lr": hp.lr_lambda, "maximize": True}])

    def edit_updates(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp) -> tuple[dict, dict]:
        return ke_updates(lm, editor, facts), {}

    def train_step(self, lm: LoadedModel, editor, batch: Sequence[Fact], hp: KEHParams) -> dict[str, float]:
        """Backward of the Lagrangian over one step's requests; their mean figures."""
        from core.methods.edit_objective import accumulate

        return accumulate(batch, lambda fact: self.request_loss(lm, editor, fact, hp))

    def request_loss(self, lm: LoadedModel, editor, fact: Fact, hp: KEHParams) -> tuple:
        from core.methods.edit_objective import edited_figures

        got = edited_figures(lm, ke_updates(lm, editor, [fact]), fact, hp.max_paraphrases, hp.max_locality)
        weight = editor.log_lambda.exp()
        loss = got.nll + weight * (got.kl - hp.kl_margin)
        return loss, {"edit_nll": float(got.nll.detach()), "edit_acc": got.accuracy, "kl": float(got.kl.detach()),
                      "kl_weight": float(weight.detach())}


KE = KEMethod()
