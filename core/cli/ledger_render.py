"""Plain-text renderings of the workspace commands' results (``--json`` prints them as they are)."""

from __future__ import annotations

from typing import Any

from core.workflows.gates import recorded_gate, warning_text


def fact_line(record) -> str:
    """``abc123def456 The capital of France is -> Lyon`` for a FactRecord."""
    return f"{record.fact.prompt} -> {record.fact.target_new}"


def _short(value: str | None) -> str:
    return (value or "")[:12]


def render_info(r: dict[str, Any]) -> str:
    base = r["base"]
    facts = ", ".join(f"{n} {s}" for s, n in sorted(r["facts"].items())) or "no facts"
    return (f"workspace {r['workspace']} (schema {r['schema_version']})\n"
            f"  base   {base['name']} {base['architecture']} {_short(base['fingerprint'])} ({base['path']})\n"
            f"  HEAD   {_short(r['head'])} after {r['commits']} commit(s); {r['runs']} run(s)\n"
            f"  facts  {facts}\n" + (f"  tags   {', '.join(r['tags'])}\n" if r["tags"] else ""))


def render_import(r: dict[str, Any]) -> str:
    lines = [f"imported {len(r['added'])} fact(s) from {r['source']} ({r['format']})"]
    lines += [f"  duplicate {_short(d['fact_id'])} at {', '.join(map(str, d['lines']))}: {d['reason']}"
              for d in r["duplicates"]]
    lines += [f"  conflict {_short(c['fact_id'])} (at {c['line']}) with {c['other_status']} fact "
              f"{_short(c['other_id'])} -> {c['other_target']!r}" for c in r["conflicts"]]
    skipped = r.get("skipped") or []
    if skipped:
        lines.append(f"skipped {len(skipped)} invalid row(s), recorded with import {r['import_id']}:")
        lines += [f"  {s['unit']} {s['line']}: " + (f"field {s['field']!r}: " if s["field"] else "") + s["reason"]
                  for s in skipped]
    lines += [f"ignored field {i['field']!r} ({i['rows']} row(s)): no place for it in a fact"
              for i in r.get("ignored") or []]
    return "\n".join(lines) + "\n"


def render_facts(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no facts\n"
    listed = "".join(f"{_short(r['id'])}  {_status(r):<12} {'*' if r['committed'] else ' '} "
                     f"{r['prompt']} -> {r['target_new']}{_reverted_note(r)}\n" for r in rows)
    return listed + ("* its edit is committed (the window says \"committed\")\n" if any(r["committed"] for r in rows)
                     else "")


def _reverted_note(row: dict[str, Any]) -> str:
    return f"  (reverted in {_short(row['reverted_in'])})" if row.get("reverted_in") else ""


def _status(row: dict[str, Any]) -> str:
    """As the window says it: an approved fact whose committed edit was reverted is "reverted"."""
    return "reverted" if row.get("reverted_in") else row["status"]


def render_review(r: dict[str, Any]) -> str:
    if "changes" in r:  # several facts, one line each
        return "".join(render_review(change) for change in r["changes"])
    note = f" ({r['note']})" if r["note"] else ""
    run = f" on run {r['run_id']}" if r.get("run_id") is not None else ""
    return f"{_short(r['fact_id'])} {r['from_status']} -> {r['to_status']}{run}{note}: {r['fact']}\n"


def render_commit(r: dict[str, Any]) -> str:
    line = f"commit {_short(r['id'])}: {len(r['applied'])} edit(s) applied: {r['message']}\n"
    gate = r.get("gate") or {}
    if gate.get("forced"):
        under = ", ".join(f"run {w['run']} {warning_text(w)}"
                          for w in gate["warnings"])
        line += f"forced past the commit gate: {under}\n"
    line += "".join(f"note: run {n['run']}: {n['verdict']}, which the gate does not check: committed all the same\n"
                    for n in r.get("verdict_notes", ()))
    line += "".join(f"note: run {u['run']}: {u['metric']} not measured{u.get('some', '')}, so not checked by the gate\n"
                    for u in gate.get("unmeasured", ()))
    return line + "".join(f"left out: {item['why']}\n" for item in r.get("left_out", ()))


def render_log(rows: list[dict[str, Any]]) -> str:
    out = []
    for c in rows:
        tags = f" [{', '.join(c['tags'])}]" if c["tags"] else ""
        change = f"+{len(c['applied'])}" + (f" -{len(c['dropped'])}" if c["dropped"] else "")
        kind = "forced" if (c.get("gate") or {}).get("forced") else c["kind"]  # committed past the gate
        out.append(f"{_short(c['id'])} {c['created_at'][:19]} {c['author']:<10} {kind:<6} {change:>6} "
                   f"{c['message']}{tags}\n")
    return "".join(out)


def render_show(r: dict[str, Any]) -> str:
    tags = f" [{', '.join(r['tags'])}]" if r["tags"] else ""
    head = (f"commit {r['id']}{tags}\n{r['kind']} by {r['author']} at {r['created_at']}\n    {r['message']}\n"
            f"{_gate_line(r.get('gate'))}state {r['state_fingerprint']}: {len(r['runs'])} edit(s)\n")
    facts = {f["id"]: f for f in r["facts"]}
    lines = []
    for run in r["runs"]:
        fact = facts.get(run["fact_ids"][0], {})
        more = f" (+{len(run['fact_ids']) - 1} facts)" if len(run["fact_ids"]) > 1 else ""
        lines.append(f"  run {run['id']:<5} {run['method']:<6} {fact.get('prompt')} -> "
                     f"{fact.get('target_new')}{more}{_figures_text(r.get('figures', {}).get(str(run['id'])))}\n")
    return head + "".join(lines) + "".join(_built_on_dropped_line(d) for d in r.get("built_on_dropped", ()))


def _gate_line(gate: dict[str, Any] | None) -> str:
    """What the commit gate said, as History says it: forced past its warnings, or passed."""
    if not gate:
        return ""
    said = recorded_gate(gate)
    unchecked = f"; not measured, so not checked: {said.unmeasured}" if said.unmeasured else ""
    if said.forced:
        return f"FORCED past the commit gate ({said.limits}): {said.warnings}{unchecked}\n"
    return f"commit gate passed ({said.limits}){unchecked}\n"


def _figures_text(figures: dict[str, Any] | None) -> str:
    """"; reliability 0.80 with the other edits in place (commit …; alone: reliability 1.00),
    locality 1.00", as the edit measures in the state (core.ledger.figures)."""
    if not figures:
        return ""
    parts = []
    for metric, value in figures["metrics"].items():
        if value is None:
            continue
        at, own = figures["measured_at"].get(metric), figures["own"].get(metric)
        alone = f"; alone: {metric} {own:.2f}" if own is not None else ""
        lost = "; it no longer holds" if metric in figures.get("fell", ()) else ""
        parts.append(f"{metric} {value:.2f}" + (f" with the other edits in place (commit {_short(at)}{alone}{lost})"
                                                if at else ""))
    return f"; {', '.join(parts)}" if parts else ""


def render_diff(r: dict[str, Any]) -> str:
    from core.ledger.diff import DIFF_NOTE

    lines = [f"{_short(r['a'])}..{_short(r['b'])}\n"]
    for mark, key in (("+", "added"), ("-", "removed"), ("~", "rerun")):
        lines += [f"{mark} {_short(f['id'])} {f['fact']}\n" for f in r[key]]
    for m in r["metrics"]:
        a = "-" if m["a"] is None else f"{m['a']:.4g}"
        b = "-" if m["b"] is None else f"{m['b']:.4g}"
        change = "" if m["change"] is None else f" ({m['change']:+.4g})"
        lines.append(f"  {m['protocol']} {m['name']}: {a} -> {b}{change}\n")
    return "".join(lines) + (f"{DIFF_NOTE}\n" if r["metrics"] else "")


def render_tags(rows: list[dict[str, Any]]) -> str:
    return "".join(f"{t['name']} -> {_short(t['commit_id'])}\n" for t in rows) or "no tags\n"


def render_export(r: dict[str, Any]) -> str:
    which = ", ".join(r["statuses"]) or "all"
    line = f"exported {r['count']} fact(s) ({which}) to {r['path']} as {r['format']}\n"
    if r.get("reverted_left_out"):
        line += (f"left out {r['reverted_left_out']} fact(s) whose edit was reverted (--include-reverted "
                 "keeps them)\n")
    return line


def render_runs(rows: list[dict[str, Any]]) -> str:
    out = []
    for run in rows:
        post = run["metrics"].get("post") or {}
        scores = ", ".join(f"{k} {v:.3g}" for k, v in post.items() if isinstance(v, int | float))
        out.append(f"run {run['id']}: {run['method']} on {', '.join(_short(f) for f in run['fact_ids'])} "
                   f"in {run['seconds']:.1f} s{'; ' + scores if scores else ''}\n")
        verdict = run["metrics"].get("verdict")
        if verdict:
            out.append(f"  verdict: {verdict['summary']}\n")
            out += [f"  try: {tip}\n" for tip in verdict.get("advice", [])]
    return "".join(out)


def render_materialised(r: dict[str, Any]) -> str:
    check = "verified against the recorded fingerprint" if r["verified"] else "fingerprint recorded"
    where = f"; written to {r['out']}" if r.get("out") else ""
    title = f"revert {_short(r['commit'])}: {r['message']}\n" if "dropped" in r else ""
    return (f"{title}commit {_short(r['commit'])}: {r['runs']} delta(s) replayed on the base ({r['dtype']}, "
            f"{r['device']}); weights {_short(r['weights_fingerprint'])} {check}{where}\n"
            + "".join(_remeasured_line(m) for m in r.get("remeasured", ()))
            + "".join(_built_on_dropped_line(d) for d in r.get("built_on_dropped", ())))


def _remeasured_line(m: dict[str, Any]) -> str:
    alone = f" (alone: {m['alone']:.2f})" if m.get("alone") is not None else ""
    return (f"measured again on the rebuilt state: run {m['run']} {m['metric']} {m['value']:.2f}{alone}, "
            "not what it showed before; its locality keeps the earlier figure\n")


def _built_on_dropped_line(d: dict[str, Any]) -> str:
    held = ", ".join(f"run {h}" for h in d["held"])
    facts = " ".join(d["facts"])
    return (f"note: run {d['run']} ({d['method']}, fact {facts}) was computed on a state that held reverted {held}; "
            f"it is replayed as stored. To compute it again on this state: factsmith recompute run:{d['run']} "
            f"-m MESSAGE, then factsmith commit -m MESSAGE\n")


def render_recomputed(r: dict[str, Any]) -> str:
    """The revert that took the edits out, then each new run (with its verdict) and what to do next."""
    revert = r["revert"]
    head = (f"revert {_short(revert['commit'])}: {r['message']}: runs {', '.join(map(str, r['dropped']))} taken out; "
            f"{revert['runs']} delta(s) replayed on the base\n")
    runs = render_runs(r["runs"])
    return (head + "computed again on it:\n" + runs + "the facts are still approved: `factsmith commit -m MESSAGE` "
            "lands the new runs (the commit gate measures them with HEAD's edits)\n"
            + "".join(_remeasured_line(m) for m in r.get("remeasured", ()))
            + "".join(_built_on_dropped_line(d) for d in r.get("built_on_dropped", ())))


def render_patch(r: dict[str, Any]) -> str:
    if "to_commit" in r:
        return (f"patch {r['path']}: {r['edits']} edit(s), {_short(r['from_commit'])}..{_short(r['to_commit'])}, "
                f"{r['bytes']} bytes\n")
    check = ("verified against the patch" if r["verified"] else
             f"(the patch records no fingerprint of this state for {r['dtype']} on {r['device']} to compare with, "
             "so only each delta's hash was checked)")
    return (f"patched {r['model']} with {r['edits']} edit(s) into {r['out']}; weights "
            f"{_short(r['weights_fingerprint'])} {check}\n")
