"""``factsmith trace`` and ``edit --layer auto`` on a tiny model: JSON, text and valid PNG heatmaps."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from core.cli import main
from core.facts.fact import Fact
from core.metrics.tracing import TraceOptions, trace_fact
from core.util.png import PNG_SIGNATURE

FACTS = [
    {"subject": "France", "prompt": "The capital of France is", "target_new": "Seattle", "relation": "capital"},
    {"subject": "Berlin", "prompt": "Berlin is a city in", "target_new": "Japan", "relation": "city_country"},
]


@pytest.fixture
def facts_file(tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in FACTS), encoding="utf-8")
    return path


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of an RGB PNG, after checking its signature, chunk CRCs and pixel data."""
    assert data.startswith(PNG_SIGNATURE)
    pos, chunks = len(PNG_SIGNATURE), {}
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body, crc = data[pos + 8:pos + 8 + length], data[pos + 8 + length:pos + 12 + length]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6) and b"IEND" in chunks  # RGB or RGBA
    data = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    assert len(zlib.decompress(data)) == height * (1 + (3 if colour == 2 else 4) * width)
    return width, height


def _chunks(data: bytes):
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        yield data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length


def test_trace_json_and_one_png_per_fact(tiny_model_dir, facts_file, tmp_path, capsys, one_torch_thread):
    out = tmp_path / "maps" / "trace.png"
    code = main(["trace", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts", str(facts_file),
                 "--samples", "2", "--json", "--out", str(out)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kinds"] == ["state", "mlp"] and len(result["facts"]) == 2
    first = result["facts"][0]
    assert len(first["scores"]["mlp"]) == first["layers"] == 4
    assert all(len(row) == len(first["tokens"]) for row in first["scores"]["state"])
    assert result["png"] == [str(tmp_path / "maps" / "trace-1.png"), str(tmp_path / "maps" / "trace-2.png")]
    for path in result["png"]:
        width, height = _png_size(Path(path).read_bytes())
        assert width >= 700 and height >= 400, "a readable figure, not a few pixels a cell"


def _accept_any_trace(monkeypatch) -> None:
    """A random model's traces are not meaningful; these tests check the layout of a meaningful one."""
    from core.metrics import tracing

    monkeypatch.setattr(tracing, "MIN_CLEAN_P", float("-inf"))
    monkeypatch.setattr(tracing, "MIN_EFFECT", float("-inf"))


def test_trace_text_one_kind_one_png(tiny_model_dir, facts_file, tmp_path, capsys, one_torch_thread, monkeypatch):
    _accept_any_trace(monkeypatch)
    out = tmp_path / "one.png"
    code = main(["trace", "--model", str(tiny_model_dir("llama")), "--device", "cpu", "--facts", str(facts_file),
                 "--limit", "1", "--kind", "state", "--samples", "2", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "state top layers" in text and "mlp " not in text and "chosen layer:" in text
    assert "(the answer's first token, which a trace follows)" in text, "trial 38: read as the whole answer"
    assert f"heatmap: {out}" in text
    width, height = _png_size(out.read_bytes())
    assert width >= 600 and height >= 400


def test_trace_figure_has_labelled_axes_a_colour_bar_and_the_chosen_cell(tiny_model_dir, one_torch_thread,
                                                                        monkeypatch):
    _accept_any_trace(monkeypatch)
    from core.metrics.trace_figure import token_labels, trace_figure
    from core.model.loading import LoadOptions, load_model

    lm = load_model(tiny_model_dir("gpt2"), LoadOptions(device="cpu"))
    fact = Fact.create(subject="France", prompt="The capital of France is", target_new="Seattle")
    result = trace_fact(lm, fact, TraceOptions(samples=2))
    figure = trace_figure(result)
    panels = [a for a in figure.axes if a.get_xlabel().startswith("token")]
    bars = [a for a in figure.axes if a.get_ylabel() == "P(answer) once restored"]
    assert len(panels) == len(result.scores) == len(bars) == 2
    for axes in panels:
        assert axes.get_ylabel() == "layer"
        assert [t.get_text() for t in axes.get_xticklabels()] == token_labels(result)
        assert len(axes.get_yticks()) == result.n_layers
    assert "France*" in token_labels(result)
    chosen = panels[list(result.scores).index(result.chosen_kind)]
    assert [p.get_label() for p in chosen.patches] == ["chosen layer"]


def test_trace_bad_options_are_clear_errors(tiny_model_dir, facts_file, capsys):
    code = main(["trace", "--model", str(tiny_model_dir("gpt2")), "--facts", str(facts_file), "--samples", "0"])
    assert code == 2
    assert "samples must be at least 1" in capsys.readouterr().err


def test_edit_layer_auto_traces_each_fact(facts_file, capsys, one_torch_thread):
    """On the demo model, which knows both facts: each is edited at its own traced layer."""
    from core.facts.io import read_facts
    from core.metrics.tracing import TraceOptions
    from core.model.loading import LoadOptions, load_model
    from core.util.paths import demo_model_dir

    code = main(["edit", "--device", "cpu", "--facts", str(facts_file), "--method", "ft-m",
                 "--layer", "auto", "--set", "steps=2", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hparams"]["layers"] == "auto" and len(report["edits"]) == 2
    lm = load_model(demo_model_dir(), LoadOptions(device="cpu"))
    traces = [trace_fact(lm, f, TraceOptions(kinds=("mlp",))) for f in read_facts(facts_file)]
    assert [round(t.chosen_effect, 1) for t in traces] == [1.0, 0.2]  # measured: 0.99 and 0.18, informative
    assert [c["layers"] for c in report["auto_layer"]] == [[t.chosen_layer] for t in traces]
    assert [c["sources"] for c in report["auto_layer"]] == [["trace"], ["trace"]]


def test_edit_layer_auto_on_a_model_that_knows_nothing_keeps_the_preset(tiny_model_dir, facts_file, capsys,
                                                                        one_torch_thread):
    code = main(["edit", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts", str(facts_file),
                 "--method", "ft-m", "--layer", "auto", "--set", "steps=2"])
    assert code == 0
    text = capsys.readouterr().out
    assert text.count("the preset's layer (no informative trace)") == 2


def test_edit_set_layers_auto_in_batch_mode_shares_one_layer(tiny_model_dir, facts_file, capsys, one_torch_thread):
    code = main(["edit", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts", str(facts_file),
                 "--method", "ft-l", "--mode", "batch", "--set", "layers=auto", "--set", "steps=2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "layer auto: traced [" in text


def test_edit_layer_auto_refuses_ice(tiny_model_dir, facts_file, capsys):
    code = main(["edit", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts", str(facts_file),
                 "--method", "ice", "--layer", "auto"])
    assert code == 2
    assert "layer auto is not available for 'ice'" in capsys.readouterr().err
