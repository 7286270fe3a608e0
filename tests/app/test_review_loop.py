"""The reviewer's whole loop on the demo model, driven through the window's widgets."""

import json
from html import escape

import pytest

from core import verdict_headline
from core.model.fingerprint import state_fingerprint
from core.util.paths import demo_edits_file
from tests.app.helpers import fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _import_demo_set(qtbot, window):
    dialog = window.open_import_dialog()
    dialog.path.setText(str(demo_edits_file()))
    dialog.inspect()
    assert dialog.detected.text().startswith("factsmith (jsonl), 60 rows, 60 facts read, 0 bad rows")
    assert dialog.preview.rowCount() == 5 and dialog.errors.count() == 0
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(window.session.facts_changed, timeout=60_000):
        dialog.accept()
    assert window.queue.model.rowCount() == 60


def _preview_and_approve(qtbot, window, subject):
    window.queue.search.setText(subject)
    assert window.queue.proxy.rowCount() == 1
    window.queue.select_row(0)
    fact_id = window.queue.selected_ids()[0]
    fast_rome(window)
    window.preview_panel.free_prompts.setPlainText("Lyon is a city in")
    job = wait_job(qtbot, window.preview_selected())
    assert job.state.value == "done", window.last_error.text()
    shown = window.preview_panel.generations.visible_rows()
    assert {row["kind"] for row in shown} >= {"prompt", "paraphrase", "locality", "free"}
    generations = window.preview_panel.generations
    generations.changed_only.setChecked(True)
    assert all(row["before"] != row["after"] for row in generations.visible_rows())
    assert len(generations.visible_rows()) == sum(row["before"] != row["after"] for row in shown)
    if generations.visible_rows():
        page = generations.browser.toHtml()
        colours = ("#c8ecc8", "#f6c6c6", "#fde9a9")  # generations_view's change colours
        assert any(f"background-color:{c}" in page for c in colours), "changed words are highlighted"
    generations.changed_only.setChecked(False)
    assert window.preview_panel.metrics.table.rowCount() >= 3
    verdict = window.preview_panel.run.metrics["verdict"]  # stored with the run
    assert verdict["verdict"] in ("took", "partial", "side effects", "failed")
    headline = escape(verdict_headline(verdict))
    assert headline in window.preview_panel.state.text(), "the verdict leads the result"
    assert window.preview_panel.loss.losses, "the live loss curve got the optimiser's losses"
    assert window.preview_panel.tokens.rowCount() >= 3
    window.review_bar.decide("approve")
    assert window.ws.fact(fact_id).status == "approved"
    return fact_id, window.preview_panel.run.id


def _tag_diff_and_patch(qtbot, window, head, tmp_path):
    window.tag(head.id, "v1")
    assert window.history.tree.topLevelItem(0).text(6) == "v1"
    root = window.ws.resolve("ROOT")
    window.history.select([head.id])
    diff = window.history.buttons["diff"]
    assert not diff.isEnabled() and "Select two commits" in diff.toolTip(), "trial 34: it did nothing, silently"
    assert window.history.buttons["checkout"].isEnabled()
    window.history.select([head.id, root.id])
    assert diff.isEnabled() and not window.history.buttons["checkout"].isEnabled()
    diff.click()
    assert "Added: United Kingdom → Bangui" in window.history.details.toPlainText()
    dialog = window.open_export_dialog()
    dialog.kind.setCurrentIndex(1)
    dialog.out.setText(str(tmp_path / "uk.fspatch"))
    jobs_before = window.lane.jobs
    dialog.accept()
    wait_job(qtbot, next(j for j in window.lane.jobs if j not in jobs_before))
    assert (tmp_path / "uk.fspatch").stat().st_size > 0


def test_whole_loop_import_preview_approve_commit_history_revert_export(qtbot, tmp_path):
    window = open_window(qtbot)
    assert window.live_status.toolTip().startswith("demo-model on cpu")
    _import_demo_set(qtbot, window)
    fact_id, run_id = _preview_and_approve(qtbot, window, "capital of United Kingdom")

    dialog = window.open_commit_dialog()
    assert [r.id for r in dialog.runs] == [run_id] and dialog.run_ids() == [run_id]
    assert not dialog.commit_button.isEnabled(), "a commit needs a message"
    dialog.message.setText("UK capital is Bangui")
    job_before = window.lane.jobs
    dialog.accept()
    commit_job = next(j for j in window.lane.jobs if j not in job_before)
    wait_job(qtbot, commit_job)
    head = window.ws.head()
    assert head.message == "UK capital is Bangui" and list(head.applied) == [run_id]
    assert window.session.live_commit.id == head.id

    assert window.history.tree.topLevelItemCount() == 2
    window.history.select([head.id])
    assert "UK capital is Bangui" in window.history.details.toPlainText()
    assert window.ws.fact(fact_id).committed
    _tag_diff_and_patch(qtbot, window, head, tmp_path)

    wait_job(qtbot, window.revert(head.id, "undo the UK edit"))
    reverted = window.ws.head()
    assert reverted.kind == "revert" and list(reverted.dropped) == [run_id]
    assert window.history.tree.topLevelItemCount() == 3
    assert window.session.live_commit.id == reverted.id
    reverted_weights = state_fingerprint(window.lm.model)

    wait_job(qtbot, window.checkout(head.id, confirmed=True))  # the edited weights back in the live model
    assert window.session.live_commit.id == head.id
    assert f"at checked-out commit {head.short_id}" in window.live_status.toolTip()
    assert state_fingerprint(window.lm.model) != reverted_weights

    out = tmp_path / "approved.jsonl"
    wait_job(qtbot, window.export_facts(out, "jsonl", ["approved"]))
    assert out.read_text() == "", "trial 34: the approved set does not ship the reverted edit"
    qtbot.waitUntil(lambda: "left out 1 whose edit was reverted" in window.message.text(), timeout=10_000)
    wait_job(qtbot, window.export_facts(out, "jsonl", []))  # every status: the fact, marked
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["subject"], r["reverted_in"]) for r in rows if r["status"] == "approved"] == \
        [("United Kingdom", reverted.id)]
    window.close()
