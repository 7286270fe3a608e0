"""Pieces the method tests share: requests for tiny models and target scoring."""

from __future__ import annotations

from core.facts.fact import Fact
from core.methods.keys import target_ids
from core.model.tokens import encode

# Two requests that tokenise cleanly on every tiny family (a multi-token subject, a one-token one).
TWO_FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
]


def target_nll(lm, fact: Fact) -> float:
    """Mean per-token NLL of the new target after the bare prompt, on the model as it is."""
    import torch

    prompt, target = encode(lm.tokenizer, fact.prompt), target_ids(lm.tokenizer, fact.prompt, fact.target_new)
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([prompt + target[:-1]], device=lm.device)).logits[0].float()
    logp = torch.log_softmax(logits[len(prompt) - 1 :], dim=-1)
    return float(-logp[range(len(target)), target].mean())


def sabotaging(lm, param: str):
    """A progress callback that scribbles on ``param`` and then fails, as a device error would."""
    from core.util.progress import Progress

    def sabotage(_event):
        dict(lm.model.named_parameters())[param].data.add_(1.0)
        raise RuntimeError("device lost")

    return Progress(sabotage)


def independent_reports(lm, method, facts, reference, options):
    """Each fact edited on its own from the model as it is, with the method's preset:
    (one evaluation report per fact, mean seconds of editing per fact)."""
    import time

    from core.metrics.evaluation import evaluate

    hp, reports, editing = method.preset(lm), [], 0.0
    for fact in facts:
        started = time.perf_counter()
        delta = method.compute(lm, [fact], hp)
        editing += time.perf_counter() - started
        reports.append(evaluate(lm, [fact], edit=delta, reference=reference, options=options))
    return reports, editing / len(facts)


def cli_sequential_report(capsys, model_dir, folder, method: str, hparams: dict) -> dict:
    """``factsmith edit --mode sequential --batch-size 2`` of TWO_FACTS and the first again (two
    batches; the facts written to ``folder/facts.jsonl``) with ``hparams`` set; its JSON report,
    asserted to say it ran two batches of two."""
    import json

    from core.cli.main import main

    facts = folder / "facts.jsonl"
    rows = [*TWO_FACTS, *TWO_FACTS[:1]]
    facts.write_text("\n".join(json.dumps({"subject": f.subject, "prompt": f.prompt, "target_new": f.target_new})
                               for f in rows) + "\n")
    sets = [f"--set={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in hparams.items()]
    code = main(["edit", "--model", str(model_dir), "--device", "cpu", "--facts", str(facts),
                 "--method", method, "--mode", "sequential", "--batch-size", "2", *sets, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["sequential"] == {"batch_size": 2, "steps": 2}
    return report
