"""`workspace check` finds ROME batch runs stored with one fact's update (before each update had
a slot of its own in the delta file: trial 45)."""

import dataclasses

from tests.core.ledger.helpers import hand_delta, make_facts


def test_workspace_check_names_a_rome_batch_stored_with_one_facts_update(workspace):
    """A ROME batch stored before the slots kept its last fact's update only: `workspace check`
    says which run, so its facts can be previewed again."""
    facts = make_facts(3)
    workspace.add_facts(facts)
    one = dataclasses.replace(hand_delta(facts[0]), method="rome", fact_ids=tuple(f.id for f in facts))
    every = dataclasses.replace(one, updates=tuple(u for f in facts for u in hand_delta(f).updates))
    runs = [workspace.record_run(facts=facts, delta=delta, computed_on=workspace.head().state_fingerprint,
                                 metrics={}, previews={}, seconds=0.0, environment={}) for delta in (one, every)]
    assert workspace.check() == [f"run {runs[0].id} (rome, 3 facts) holds 1 fact's update: stored by an earlier "
                                 "version, it edits only its last fact; preview its facts again"]
