"""A causal trace as a readable figure (the CLI's ``trace --out`` PNG): one heatmap per traced
kind with labelled axes (tokens, the subject starred; layers, 0 at the top), a colour bar of
P(answer) once the cell is restored, and a red frame on the layer ``layer: auto`` would edit.

Drawn with matplotlib's Agg canvas only (``matplotlib.figure.Figure``, never ``pyplot``), so
no GUI toolkit is loaded: core stays Qt-free and this works on a machine without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.util.atomic import replacing

KIND_TITLES = {"state": "hidden states (block outputs) restored", "mlp": "MLP outputs (window of layers) restored"}
PANEL_COLOURS = {"state": (84, 39, 143), "mlp": (35, 132, 67)}
DPI = 110


def _colour_map(kind: str):
    from matplotlib.colors import LinearSegmentedColormap

    colour = tuple(c / 255 for c in PANEL_COLOURS.get(kind, (47, 111, 176)))
    return LinearSegmentedColormap.from_list(f"trace-{kind}", [(1.0, 1.0, 1.0), colour])


def token_labels(result: Any) -> list[str]:
    first, end = result.subject_range
    return [f"{t.strip() or repr(t)}{'*' if first <= i < end else ''}" for i, t in enumerate(result.tokens)]


def trace_figure(result: Any):
    """A matplotlib ``Figure`` of one ``TraceResult``: a panel per kind, side by side."""
    from matplotlib.figure import Figure

    kinds = list(result.scores)
    width = max(6.5, len(kinds) * (1.6 + 0.55 * len(result.tokens)))
    height = max(3.8, 1.9 + 0.32 * result.n_layers)
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    figure.suptitle(f"{result.prompt!r} → {result.answer.strip()!r}: P {result.clean_p:.3f} clean, "
                    f"{result.corrupted_p:.3f} with the subject corrupted", fontsize=10)
    for index, kind in enumerate(kinds):
        _panel(figure.add_subplot(1, len(kinds), index + 1), figure, result, kind)
    return figure


def _panel(axes, figure, result: Any, kind: str) -> None:
    from matplotlib.patches import Rectangle

    image = axes.imshow(result.scores[kind], cmap=_colour_map(kind), aspect="auto", interpolation="nearest")
    axes.set_title(KIND_TITLES.get(kind, kind), fontsize=9)
    axes.set_xticks(range(len(result.tokens)), token_labels(result), rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(result.n_layers), [str(i) for i in range(result.n_layers)], fontsize=8)
    axes.set_xlabel("token (* = subject)")
    axes.set_ylabel("layer")
    bar = figure.colorbar(image, ax=axes, fraction=0.08, pad=0.02)
    bar.set_label("P(answer) once restored", fontsize=8)
    if kind == result.chosen_kind and getattr(result, "meaningful", True):
        axes.add_patch(Rectangle((result.subject_last - 0.5, result.chosen_layer - 0.5), 1, 1, fill=False,
                                 edgecolor="#d62728", linewidth=2.5, label="chosen layer"))
        axes.legend(loc="upper left", bbox_to_anchor=(0, -0.28), fontsize=8, frameon=False)


def write_trace_png(path: Path, result: Any) -> Path:
    """The figure of ``result`` as a PNG at ``path`` (replaced atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure, path = trace_figure(result), Path(path)
    FigureCanvasAgg(figure)
    with replacing(path) as temp:
        with temp.open("wb") as handle:
            figure.savefig(handle, format="png", dpi=DPI)
        temp.chmod(0o644)  # an image for the user, not a private temp file
    return path
