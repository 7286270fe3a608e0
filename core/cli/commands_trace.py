"""``factsmith trace``: causal tracing of facts (where the model recalls them; ROME §2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.commands_edit import _add_facts_options, _read_facts
from core.cli.errors import CommandError
from core.cli.options import add_model_options, load_from_args

KIND_CHOICES = ("all", "state", "mlp")

PNG_HELP = ("write a PNG figure per fact: one heatmap per traced kind (state left, mlp right) with labelled axes "
            "(tokens left to right, the subject's starred; layer 0 at the top), a colour bar of P(answer) once "
            "the cell is restored, and a red frame on the chosen layer at the subject's last token. With several "
            "facts, fact i "
            "(from 1) goes to NAME-i.png beside NAME.png; with one fact, to the path itself")


def register(sub) -> None:
    tr = sub.add_parser("trace", help="causal tracing: which layers and tokens recall each fact (ROME's trace)")
    add_model_options(tr)
    _add_facts_options(tr)
    tr.add_argument("--kind", choices=KIND_CHOICES, default="all",
                    help="restore block outputs (state), MLP outputs of a window of layers (mlp), or both")
    tr.add_argument("--samples", type=int, default=10, help="noise draws averaged per restoration (default 10)")
    tr.add_argument("--noise", type=float, default=3.0, help="noise std as a multiple of the embeddings' std")
    tr.add_argument("--window", type=int, help="MLP window in layers (default: a fifth of the depth, 1 to 10)")
    tr.add_argument("--seed", type=int, default=0, help="seed of the noise")
    tr.add_argument("--out", type=Path, help=PNG_HELP)
    tr.add_argument("--json", action="store_true", help="machine-readable output, with the full matrices")
    tr.set_defaults(handler=trace_command, render=render_trace)


def _options(args: argparse.Namespace):
    from core.metrics.tracing import KINDS, TraceOptions

    try:
        return TraceOptions(samples=args.samples, noise_factor=args.noise, window=args.window, seed=args.seed,
                            kinds=KINDS if args.kind == "all" else (args.kind,))
    except ValueError as exc:
        raise CommandError(f"trace options: {exc}; see `factsmith trace --help`") from exc


def trace_command(args: argparse.Namespace) -> dict:
    from core.cli.options import _log_progress
    from core.metrics.tracing import trace_facts
    from core.util.progress import Progress

    options = _options(args)
    facts = _read_facts(args)
    if not facts:
        raise CommandError(f"{args.facts}: no facts to trace; the file holds no edit requests")
    lm = load_from_args(args)
    results = trace_facts(lm, facts, options, Progress(_log_progress))
    out = {"model": lm.info.name, "kinds": list(options.kinds),
           "facts": [{"fact_id": f.id, **r.to_dict()} for f, r in zip(facts, results, strict=True)]}
    if args.out:
        out["png"] = [str(p) for p in write_trace_pngs(results, args.out)]
    return out


def png_paths(out: Path, count: int) -> list[Path]:
    if count == 1:
        return [out]
    suffix = out.suffix or ".png"
    return [out.with_name(f"{out.stem}-{i}{suffix}") for i in range(1, count + 1)]


def write_trace_pngs(results, out: Path) -> list[Path]:
    from core.metrics.trace_figure import write_trace_png

    paths = png_paths(Path(out), len(results))
    for path, result in zip(paths, results, strict=True):
        try:
            write_trace_png(path, result)
        except OSError as exc:
            raise CommandError(f"cannot write the heatmap {path}: {exc}; pick a writable --out path") from exc
        except ImportError as exc:
            raise CommandError(f"the trace figure needs matplotlib ({exc}): pip install matplotlib") from exc
    return paths


def render_trace(result: dict) -> str:
    lines = [f"causal trace on {result['model']} ({', '.join(result['kinds'])}); effect = restored P - corrupted P"]
    for fact in result["facts"]:
        lines += _fact_lines(fact)
    lines += [f"heatmap: {path}" for path in result.get("png", [])]
    return "\n".join(lines) + "\n"


def _fact_lines(fact: dict) -> list[str]:
    start, end = fact["subject_range"]
    subject = "".join(fact["tokens"][start:end])
    lines = [f"{fact['prompt']!r} -> {fact['answer']!r} (the answer's first token, which a trace follows): "
             f"clean P {fact['clean_p']:.3f}, "
             f"subject {subject!r} corrupted P {fact['corrupted_p']:.3f}"]
    for kind, matrix in fact["scores"].items():
        column = [(layer, row[end - 1] - fact["corrupted_p"]) for layer, row in enumerate(matrix)]
        top = sorted(column, key=lambda pair: -pair[1])[:3]
        lines.append(f"  {kind:<5} top layers at the subject's last token: "
                     + ", ".join(f"{layer} ({effect:+.3f})" for layer, effect in top))
    from core.metrics.tracing import MIN_CLEAN_P, MIN_EFFECT

    if fact.get("replaced_answer"):
        lines.insert(1, f"  P({fact['replaced_answer']!r}) is only {fact['replaced_p']:.3f} (< {MIN_CLEAN_P}): "
                        f"the model's top answer {fact['answer']!r} is traced instead")
    if fact.get("meaningful", True):
        lines.append(f"  chosen layer: {fact['chosen_layer']} (largest {fact['chosen_kind']} effect, "
                     f"{fact['chosen_effect']:+.3f}, window {fact['window']})")
    else:
        lines.append(f"  no layer chosen: the trace is not meaningful (clean P {fact['clean_p']:.3f}, needs "
                     f"{MIN_CLEAN_P}; largest effect {fact['chosen_effect']:+.3f}, needs {MIN_EFFECT}): "
                     "layer auto keeps the preset's layer")
    return lines
