"""A trace of an answer the model no longer gives (an edited fact's old answer) traces the
model's top answer instead; a trace too weak to mean anything chooses no layer."""

from __future__ import annotations

import dataclasses

from core import Fact, TraceOptions, trace_fact
from core.cli.commands_trace import _fact_lines
from core.metrics.tracing import MIN_CLEAN_P
from core.workflows import auto_layer

# the demo model says " Italy" here; " Japan" stands for an old answer an edit replaced
EDITED = Fact.create(subject="Catania", prompt="Catania can be found in", target_new="Spain",
                     target_true="Japan")


def test_an_answer_the_model_does_not_give_traces_its_top_answer(demo_lm):
    result = trace_fact(demo_lm, EDITED, TraceOptions(samples=2, kinds=("mlp",)))
    assert result.replaced_answer.strip() == "Japan" and result.replaced_p < MIN_CLEAN_P
    assert result.answer.strip() != "Japan" and result.clean_p >= MIN_CLEAN_P
    lines = "\n".join(_fact_lines(result.to_dict()))
    assert "top answer" in lines and "traced instead" in lines


def test_a_weak_trace_chooses_no_layer_and_auto_keeps_the_preset(demo_lm, monkeypatch):
    real = trace_fact(demo_lm, EDITED, TraceOptions(samples=2, kinds=("mlp",)))
    weak = dataclasses.replace(real, clean_p=0.01)
    assert not weak.meaningful and weak.layer is None
    assert "no layer chosen" in "\n".join(_fact_lines(weak.to_dict()))
    monkeypatch.setattr(auto_layer, "trace_fact", lambda *a, **k: weak)
    layers, sources = auto_layer.traced_layers(demo_lm, [EDITED])
    assert layers == (None,) and sources == ("uninformative",)
