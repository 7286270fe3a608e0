import importlib
import sys
import types

import pytest

from tests.core.ledger.helpers import hand_delta


@pytest.fixture
def workspace(tmp_path, tiny_model_dir):
    """A fresh workspace on the tiny GPT-2, author alice."""
    from core.ledger import Workspace

    ws = Workspace.create(tmp_path / "edits.factsmith", tiny_model_dir("gpt2"), author="alice")
    yield ws
    ws.close()


@pytest.fixture
def ws_path(workspace):
    return workspace.path


@pytest.fixture
def fake_editing(monkeypatch):
    """core.workflows.editing (and edit_choice) stand-in: hand-made deltas, and a record of
    the weights each edit saw."""
    from core.model.fingerprint import state_fingerprint

    seen = []

    def compute_edit(lm, facts, method_name, overrides=None, hparams=None, progress=None):
        seen.append(state_fingerprint(lm.model))
        return types.SimpleNamespace(
            facts=tuple(facts), method=method_name, hparams={"layer": 1, **(overrides or {})},
            delta=hand_delta(facts[0]),
            metrics={"protocol": "fake", "pre": {"efficacy": 0.0}, "post": {"efficacy": 1.0}, "per_fact": []},
            previews={"after": facts[0].target_new}, seconds=0.5,
            environment={"seed": 7, "device": "cpu", "dtype": "float32", "torch": "x"})

    def compute_chosen_edit(lm, facts, method_name, overrides=None, preset=None, cache=None, progress=None):
        return compute_edit(lm, facts, method_name, overrides=overrides, progress=progress)

    # the real modules that import editing at their top first: then the test passes run alone too
    for name in ("core.workflows.runs", "core.workflows.auto_layer"):
        importlib.import_module(name)

    monkeypatch.setitem(sys.modules, "core.workflows.editing", types.SimpleNamespace(compute_edit=compute_edit))
    monkeypatch.setitem(sys.modules, "core.workflows.edit_choice",
                        types.SimpleNamespace(compute_chosen_edit=compute_chosen_edit))
    return seen


@pytest.fixture
def author_key(tmp_path, monkeypatch):
    """Patches are signed (and applied) with a test author key in a temporary config folder."""
    from core.util.signing import KeyStore

    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "config"))
    return KeyStore.default().init("alice")
