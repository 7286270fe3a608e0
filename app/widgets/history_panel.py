"""History: commits and tags, a commit's details, diff of two commits, revert, checkout, export,
and a chart of the recorded metrics across commits."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.widgets.flow_row import flow_row
from app.widgets.steady_tree import SteadyTree
from core import (
    DEFAULT_THRESHOLDS,
    DIFF_NOTE,
    CommitDetail,
    CommitRecord,
    DiffReport,
    recorded_gate,
    verdict_failures,
)

LIVE_MARKER = "◀ live model · "
DRIFT_TITLE = "Mean over live edits"
DRIFT_TIP = ("Reliability and locality: the mean over the edits live at each commit.\n"
             "Each point is the mean of the recorded metrics over the edits live in that commit's state, "
             "each as last measured there (a commit that landed edits together measured them again). "
             "A revert takes edits out, so the mean moves because fewer edits are averaged, "
             "not because the revert made the remaining edits better or worse.")
# the message before the kind: at 1366×768 the list's pane shows about the first three columns (trial 41)
COLUMNS = ("#", "Commit", "Message", "Kind", "Author", "When", "Tags", "Edits")
MESSAGE, KIND = COLUMNS.index("Message"), COLUMNS.index("Kind")


COPY_ID_SCHEME = "copy-commit-id:"
RECOMPUTE_SCHEME = "recompute-runs:"  # + run ids, comma-separated


def when_text(created_at: str) -> str:
    """"2026-12-07 16:40:12 UTC" in the machine's time zone (trial 45: the raw ISO text with its
    microseconds); the stored text as it is if it does not parse."""
    try:
        stamp = datetime.fromisoformat(created_at)
    except ValueError:
        return created_at
    local = stamp.astimezone() if stamp.tzinfo is not None else stamp
    return local.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def detail_html(detail: CommitDetail, notes: Mapping[str, str] | None = None,
                built_on_dropped: Mapping[int, Sequence[int]] | None = None) -> str:
    """A commit: message, id, author, whether it was forced past the commit gate, and the edits in
    its state with each fact's review note (``notes``: fact id → "reviewer: note"); for a revert,
    the kept edits computed on a state that held a dropped one (``built_on_dropped``, core's)."""
    c, notes = detail.commit, notes or {}
    facts = {f.id: f.fact for f in detail.facts}
    rows = "".join(
        f"<tr><td>{r.id}</td><td>{r.method}</td><td>{html.escape(_facts_text(r.fact_ids, facts))}</td>"
        f"{_figure_cells(detail.figures.get(r.id), r)}<td>{html.escape(_verdict_text(r))}</td>"
        f"<td>{html.escape(_notes_text(r.fact_ids, notes))}</td></tr>" for r in detail.runs)
    tags = f" · tags: {', '.join(detail.tags)}" if detail.tags else ""
    # 16 hex digits name the commit for every CLI command; the whole 64 only fit a wide pane
    return (f"<h3>{html.escape(c.message)}</h3><p>commit <code>{c.id[:16]}</code> "
            f"(<a href='{COPY_ID_SCHEME}{c.id}'>copy full id</a>) ({c.kind}){tags}<br>"
            f"{html.escape(c.author)} · {when_text(c.created_at)}<br>state <code>{c.state_fingerprint[:16]}</code> · "
            f"adds runs {list(c.applied) or '—'} · drops runs {list(c.dropped) or '—'}</p>{_gate_html(c)}"
            f"{_built_on_dropped_html(built_on_dropped)}"
            f"<p>{len(detail.runs)} edit(s) in this state:</p><table border='1' cellpadding='3' "
            "style='border-collapse:collapse'><tr><th>Run</th><th>Method</th><th>Facts</th>"
            f"<th>Reliability</th><th>Locality</th><th>Verdict</th><th>Review note</th></tr>{rows}</table>"
            f"{_together_footnote(detail)}")


TOGETHER_MARK = "†"


def _verdict_text(run) -> str:
    """The run's verdict and what failed beyond the gate's figures (trial 45: the commit dialog's
    "generality 0.50 < 0.80" was nowhere in History)."""
    verdict = ((run.metrics or {}).get("verdict") or {}).get("verdict") or "—"
    failed = [text.removesuffix(" (verdict)") for text in verdict_failures(run, tuple(DEFAULT_THRESHOLDS))]
    return f"{verdict}: {'; '.join(failed)}" if failed else verdict


def _figure_cells(figures, run) -> str:
    """Reliability and locality as the edit measures in this state: a figure a commit measured
    with other edits in place, different from the run's own, is marked (core.ledger.figures),
    the run's own figure in the tooltip."""
    if figures is None:  # a detail built without figures
        post = run.metrics.get("post") or {}
        return f"<td>{_num(post.get('reliability'))}</td><td>{_num(post.get('locality'))}</td>"
    cells = []
    for metric in ("reliability", "locality"):
        value, own = figures.metrics.get(metric), figures.own.get(metric)
        if metric not in figures.measured_at:
            cells.append(f"<td>{_num(value)}</td>")
            continue
        style = " style='color:#a33'" if value is not None and own is not None and value < own else ""
        cells.append(f"<td{style} title='alone: {_num(own)}'>{_num(value)} {TOGETHER_MARK}</td>")
    return "".join(cells)


def _together_footnote(detail: CommitDetail) -> str:
    found = [(run, f) for run, f in detail.figures.items() if f.measured_at]
    if not found:
        return ""
    alone = "; ".join(f"run {run}: " + ", ".join(f"{m} {_num(f.own.get(m))}" for m in f.measured_at)
                      for run, f in found)
    return (f"<p>{TOGETHER_MARK} measured with the other edits of the state in place when a commit landed "
            f"them, or when a revert rebuilt it, and different from what the edit measured alone "
            f"({html.escape(alone)}). Figures measured with a reverted edit in place are set aside; a revert "
            "measures its kept edits' reliability again on its rebuilt state (locality: the earlier figure).</p>")


def recompute_label(count: int) -> str:
    return "Compute it again…" if count == 1 else "Compute them again…"


def built_on_dropped_text(found: Mapping[int, Sequence[int]]) -> str:
    """The revert report's sentence about kept edits computed with a dropped one in place."""
    runs = "; ".join(f"run {run} (computed with run{'s' if len(d) > 1 else ''} {', '.join(map(str, d))} in place)"
                     for run, d in sorted(found.items()))
    if len(found) == 1:
        return (f"Kept as stored but computed on weights that held a reverted edit: {runs}. Compute it again "
                "takes it out with one more revert and computes it on the new state, with the same method and "
                "settings; what it edits stays approved, so the next commit lands the new edit.")
    return (f"Kept as stored but computed on weights that held a reverted edit: {runs}. Compute them again "
            "takes them out with one more revert and computes each on the new state, with the same method and "
            "settings; their facts stay approved, so the next commit lands the new edits.")


def fell_on_rebuild(figures: Mapping[int, Any], commit_id: str) -> dict[int, tuple[float, float | None]]:
    """A revert's kept runs whose reliability, measured again on its rebuilt state, fell below
    what they measured alone: run id → (now, alone); ``figures``: ``Workspace.state_figures``."""
    return {run: (shown.metrics["reliability"], shown.own.get("reliability"))
            for run, shown in figures.items() if shown.fell("reliability", at=commit_id)}


def fell_on_rebuild_text(fell: Mapping[int, tuple[float, float | None]]) -> str:
    runs = "; ".join(f"run {run} reliability {_num(now)} (alone {_num(alone)})"
                     for run, (now, alone) in sorted(fell.items()))
    return (f"Measured again on the rebuilt state: {runs}. "
            f"{'That edit no longer holds' if len(fell) == 1 else 'Those edits no longer hold'} as measured alone.")


def _built_on_dropped_html(found: Mapping[int, Sequence[int]] | None) -> str:
    if not found:
        return ""
    runs = ",".join(str(run) for run in sorted(found))
    return (f"<p style='color:#a60'>{html.escape(built_on_dropped_text(found))} "
            f"<a href='{RECOMPUTE_SCHEME}{runs}'>{recompute_label(len(found))}</a></p>")


def _gate_html(c: CommitRecord) -> str:
    """What core recorded of the commit gate: forced past its warnings, passed, or not gated."""
    if c.gate is None:
        return ""
    said = recorded_gate(c.gate, "≥")
    unchecked = f"; not measured, so not checked: {html.escape(said.unmeasured)}" if said.unmeasured else ""
    if c.forced:
        return (f"<p style='color:#a33'><b>Forced</b>: committed anyway under the commit gate "
                f"({html.escape(said.limits)}){': ' + html.escape(said.warnings) if said.warnings else ''}"
                f"{unchecked}</p>")
    return f"<p>Commit gate passed ({html.escape(said.limits)}){unchecked}</p>"


def _notes_text(ids: Sequence[str], notes: Mapping[str, str]) -> str:
    return "; ".join(notes[i] for i in ids if notes.get(i)) or "—"


def diff_html(report: DiffReport, facts: dict) -> str:
    def names(ids: Sequence[str]) -> str:
        return html.escape(_facts_text(ids, facts)) or "—"

    metrics = "".join(f"<tr><td>{m.name}</td><td>{m.protocol}</td><td>{_num(m.a)}</td><td>{_num(m.b)}</td>"
                      f"<td>{'—' if m.change is None else f'{m.change:+.3f}'}</td></tr>" for m in report.metrics)
    return (f"<h3>Diff {report.a[:12]} → {report.b[:12]}</h3><p><b>Added:</b> {names(report.added)}<br>"
            f"<b>Removed:</b> {names(report.removed)}<br><b>Re-run:</b> {names(report.rerun)}</p>"
            "<table border='1' cellpadding='3' style='border-collapse:collapse'><tr><th>Metric</th><th>Protocol</th>"
            f"<th>A</th><th>B</th><th>Change</th></tr>{metrics}</table><p>{html.escape(DIFF_NOTE)}</p>")


def _facts_text(ids: Sequence[str], facts: dict) -> str:
    return "; ".join(f"{facts[i].subject} → {facts[i].target_new}" if i in facts else i[:12] for i in ids)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


DETAILS_HINT = "Select a commit to see its edits, their figures and its gate. Select two for Diff two."


class HistoryPanel(QWidget):
    selection_changed = Signal(list)  # commit ids, newest first
    diff_requested = Signal(str, str)
    revert_requested = Signal(str)
    revert_edit_requested = Signal(str)  # a commit id: drop one of the edits in its state
    checkout_requested = Signal(str)
    save_requested = Signal(str)  # a commit id: write its weights as a model folder
    tag_requested = Signal(str)
    export_requested = Signal()
    commit_id_copied = Signal(str)  # the full id, now on the clipboard
    recompute_requested = Signal(list)  # run ids a revert kept that were computed with a dropped edit

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = SteadyTree()
        self.tree.setObjectName("history")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # "commit · forced" whole (trial 37: "commit …" hid that a commit was forced)
        kind = self.tree.fontMetrics().horizontalAdvance("commit · forced") + 24
        commit = self.tree.fontMetrics().horizontalAdvance("0123456789ab") + 16  # a short id, whole
        for column, width in enumerate((30, commit, 320, kind, 60, 150, 60)):
            self.tree.setColumnWidth(column, width)
        self.tree.itemSelectionChanged.connect(lambda: self.selection_changed.emit(self.selected_ids()))
        self.tree.itemSelectionChanged.connect(self._enable_for_selection)
        self.details = QTextBrowser()
        self.details.setObjectName("commit-details")
        # not a blank pane after a commit (trial 41); text, not a placeholder, which Qt does not wrap (trial 44)
        # Words stay whole ("Reliabilit/y" in a narrow pane); a table wider than the pane scrolls.
        self.details.setWordWrapMode(QTextOption.WrapMode.WordWrap)
        self.details.setOpenLinks(False)
        self.details.anchorClicked.connect(self._link_clicked)
        self.show_hint()
        self.chart = pg.PlotWidget(background="w", title=DRIFT_TITLE)
        self.chart.setToolTip(DRIFT_TIP)
        self.chart.setObjectName("drift-chart")
        self.chart.setMinimumSize(200, 120)  # shrinks with its pane: never wider than it, clipped
        self.chart.plotItem.titleLabel.setMinimumWidth(0)  # the title never holds the plot wider
        self.chart.addLegend(offset=(5, -5), colCount=2)  # bottom left: 0–1 metrics sit high
        self.chart.setMouseEnabled(False, False)
        self.chart.setLabel("bottom", "commit #")
        self.chart.setLabel("left", "mean over live edits")
        for axis in ("bottom", "left"):
            self.chart.getAxis(axis).enableAutoSIPrefix(False)  # never "commit # (x0.001)"
        self._drawn: list | None = None  # the drift points on the chart
        self.buttons = self._make_buttons()
        self._layout()
        self._enable_for_selection()

    def _link_clicked(self, url) -> None:
        text = url.toString()
        if text.startswith(COPY_ID_SCHEME):
            commit_id = text.removeprefix(COPY_ID_SCHEME)
            QGuiApplication.clipboard().setText(commit_id)
            self.commit_id_copied.emit(commit_id)
        elif text.startswith(RECOMPUTE_SCHEME):
            self.recompute_requested.emit([int(run) for run in text.removeprefix(RECOMPUTE_SCHEME).split(",")])

    def _make_buttons(self) -> dict[str, QPushButton]:
        buttons = {name: QPushButton(label) for name, label in (
            ("diff", "Diff two"), ("revert", "Revert…"), ("revert_edit", "Revert one edit…"),
            ("checkout", "Checkout into model…"), ("save", "Save as model folder…"),
            ("tag", "Tag…"), ("export", "Export… (Ctrl+E)"))}
        buttons["diff"].clicked.connect(self._diff)
        buttons["revert"].clicked.connect(lambda: self._one(self.revert_requested))
        buttons["revert"].setToolTip("A new commit without all of this commit's edits")
        buttons["revert_edit"].setToolTip("A new commit without one edit you pick from this commit's state")
        buttons["revert_edit"].clicked.connect(lambda: self._one(self.revert_edit_requested))
        buttons["checkout"].clicked.connect(lambda: self._one(self.checkout_requested))
        buttons["save"].clicked.connect(lambda: self._one(self.save_requested))
        buttons["save"].setToolTip("Write the selected commit's weights as a Hugging Face model folder to share "
                                   "or load elsewhere (`factsmith checkout REF --out DIR`); the live model is "
                                   "not changed")
        buttons["tag"].clicked.connect(lambda: self._one(self.tag_requested))
        buttons["export"].clicked.connect(self.export_requested)
        return buttons

    def _enable_for_selection(self) -> None:
        """Each button is live only for a selection it can act on, and says what it needs:
        "Diff two" with nothing selected did nothing and said nothing (trial 34)."""
        count = len(self.selected_ids())
        self.buttons["diff"].setEnabled(count == 2)
        self.buttons["diff"].setToolTip("Compare the two selected commits" if count == 2 else
                                        "Select two commits (Ctrl+click the second) to compare them")
        for name in ("revert", "revert_edit", "checkout", "save", "tag"):
            self.buttons[name].setEnabled(count == 1)

    def _layout(self) -> None:
        row = flow_row(*self.buttons.values())  # wraps in a narrow window rather than cutting labels
        right = self.right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.details)
        right.addWidget(self.chart)
        # the details (the commit's edits, gate, message) are what is read: they get the larger part,
        # and never less than a dozen lines (at 1366×768 the chart had taken two thirds)
        self.details.setMinimumHeight(self.details.fontMetrics().lineSpacing() * 12)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([360, 240])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(right)
        split.setSizes([520, 480])
        layout = QVBoxLayout(self)
        layout.addWidget(row)
        layout.addWidget(split, 1)

    def set_history(self, commits: Sequence[CommitRecord], tags: dict[str, list[str]], live: str | None) -> None:
        """The commits, newest first. The selection stays while the history is unchanged; a new
        commit (a commit, a revert) is selected instead, so the details always match the list;
        with nothing selected the details are empty."""
        before, top = self.selected_ids(), self.tree.topLevelItem(0)
        grown = top is not None and commits and commits[0].id != top.data(0, Qt.ItemDataRole.UserRole)
        self.tree.clear()
        self._fill(commits, tags, live)
        if before:  # the details showed a commit: the same one, or the new one
            self.select([commits[0].id] if grown else before)
        if not self.selected_ids():
            self.show_hint()  # nothing selected: no stale commit shown

    def show_hint(self) -> None:
        """What the details pane is for, while no commit is selected."""
        self.details.setHtml(f"<p style='color:#777'>{DETAILS_HINT}</p>")

    def _fill(self, commits: Sequence[CommitRecord], tags: dict[str, list[str]], live: str | None) -> None:
        for c in commits:
            edits = f"+{len(c.applied)}" + (f" −{len(c.dropped)}" if c.dropped else "")
            marker = LIVE_MARKER if c.id == live else ""  # first, so eliding cuts the message, not it
            # the tags before the message too: their own column is off the pane at 1366×768 (trial 41)
            named = "".join(f"[{tag}] " for tag in tags.get(c.id, []))
            kind = f"{c.kind} · forced" if c.forced else c.kind  # committed anyway under the gate
            item = QTreeWidgetItem([str(c.seq), c.short_id, marker + named + c.message, kind, c.author,
                                    when_text(c.created_at), ", ".join(tags.get(c.id, [])), edits])
            item.setData(0, Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(MESSAGE, marker + named + c.message)
            if c.forced:
                item.setToolTip(KIND, "Committed anyway under the commit gate (recorded as forced)")
                item.setForeground(KIND, Qt.GlobalColor.darkRed)
            if marker:
                font = item.font(3)
                font.setBold(True)
                item.setFont(MESSAGE, font)
            self.tree.addTopLevelItem(item)

    def set_drift(self, points: Sequence[tuple[int, float | None, float | None, int]]) -> None:
        """(commit seq, mean reliability, mean locality, edits in state), oldest first."""
        if list(points) == self._drawn:
            return  # redrawing the chart is the slowest part of a refresh: only when it changed
        self._drawn = list(points)
        self.chart.clear()
        # Both are often 1.0: locality is dashed with hollow squares around reliability's dots,
        # so neither line hides the other (trial 34 saw one line for two).
        for index, name, colour, style in ((1, "reliability", "#2f6fb0", dict(symbol="o", symbolSize=6)),
                                           (2, "locality", "#27ae60", dict(symbol="s", symbolSize=11,
                                                                           symbolBrush=None))):
            known = [(p[0], p[index]) for p in points if p[index] is not None]
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if index == 2 else Qt.PenStyle.SolidLine)
            self.chart.plot([x for x, _ in known], [y for _, y in known], pen=pen, name=name,
                            symbolPen=pg.mkPen(colour, width=2), **style)
        self.chart.setYRange(0, 1.05, padding=0)  # 0–1 metrics
        self.chart.getAxis("bottom").setTicks([[(p[0], str(p[0])) for p in points]])
        if points:
            self.chart.setXRange(points[0][0] - 0.3, points[-1][0] + 0.3)

    def selected_ids(self) -> list[str]:
        items = sorted(self.tree.selectedItems(), key=self.tree.indexOfTopLevelItem)
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in items]

    def select(self, commit_ids: Sequence[str]) -> None:
        self.tree.clearSelection()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) in commit_ids:
                item.setSelected(True)

    def _one(self, signal) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            signal.emit(ids[0])

    def _diff(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 2:
            self.diff_requested.emit(ids[1], ids[0])  # older → newer
