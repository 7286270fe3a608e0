"""Diff of two commits: facts added, removed and re-run; mean post-edit metrics per protocol."""

from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, make_facts, record_hand_run


def test_diff_reports_facts_and_metric_changes(workspace):
    a, b, c = make_facts(3)
    workspace.add_facts([a, b, c])
    for fact, score in ((a, 1.0), (b, 0.5)):
        record_hand_run(workspace, fact, efficacy=score)
        workspace.review(fact.id, "approve")
    first = workspace.commit("a, b")
    workspace.revert([b.id], "drop b", options=LoadOptions(device="cpu"))
    workspace.review(c.id, "approve")
    record_hand_run(workspace, c, efficacy=0.0)
    workspace.commit("c")
    report = workspace.diff(first.id, "HEAD")
    assert (report.added, report.removed, report.rerun) == ((c.id,), (b.id,), ())
    (change,) = report.metrics
    assert (change.protocol, change.name, change.a, change.b, change.change) == \
        ("test-protocol", "efficacy", 0.75, 0.5, -0.25)
    assert workspace.diff("HEAD", "HEAD").added == ()


def test_diff_from_root_has_no_metrics_on_the_left(workspace):
    add_run_approve(workspace, make_facts(1))
    workspace.commit("one")
    (change,) = workspace.diff("ROOT", "HEAD").metrics
    assert change.a is None and change.change is None
