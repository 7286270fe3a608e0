"""The hyperparameter grids ``factsmith tune`` searches: per method, the two or three
values that decide whether an edit takes on a model nobody tuned for, each relative to
the model's preset (``core.methods.presets``) where that makes sense.

An ``Axis`` names one field and its steps:

- ``offset``: the preset's layer plus each step (steps that leave the model are dropped);
- ``shift``: the preset's tuple of layers moved by each step (dropped if any leaves);
- ``scale``: the preset's value times each step (ints rounded, at least 1; ``None`` kept);
- ``values``: literal values.

The identity step (offset 0, factor 1, or the preset's own value) is always searched,
so the preset itself is the first candidate and tuning cannot pick something that
scores worse than it on the tuning facts. A candidate's ``distance`` to the preset is
the sum over axes of how many steps away from the identity it is; ties go to the nearer.

Measured once on the demo model (``factsmith tune --method ft-m --facts
assets/demo-model/dev_edits.jsonl``: 8 candidates, 41 facts tuned on, 19 held out, 518 s
on two shared CPU cores): the winner is lr 1e-3 (a tenth of the preset), 25 steps, no box;
held out, reliability/generality/locality 1.00/0.98/0.84 against the default's 1.00/1.00/0.22.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RULES = ("offset", "shift", "scale", "values")


@dataclass(frozen=True)
class Axis:
    field: str
    rule: str  # one of RULES
    steps: tuple[Any, ...]
    why: str  # where the range comes from

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "rule": self.rule, "steps": list(self.steps), "why": self.why}


_LAYER = "ROME's causal traces peak over a band of layers, not one (Meng et al. 2022, Fig. 1): the preset ±1"
_WINDOW = "MEMIT spreads the edit over a window of the traced band (Meng et al. 2023 §4): the window moved ±1"

GRIDS: Mapping[str, tuple[Axis, ...]] = {
    "rome": (
        Axis("layer", "offset", (-1, 0, 1), _LAYER),
        Axis("v_lr", "scale", (1.0, 2.0), "a larger model's residual needs a longer step to reach the target "
                                          "(methods.md §5: the reference lr leaves small models unedited)"),
        Axis("clamp_norm_factor", "scale", (1.0, 2.0), "the clamp bounds ‖δ‖/‖v0‖: too tight and other-kind "
                                                       "targets (a city for a capital) fail (issue 13)"),
    ),
    "memit": (
        Axis("layers", "shift", (-1, 0, 1), _WINDOW),
        Axis("mom2_weight", "scale", (0.2, 1.0, 5.0), "λ trades the new keys against the covariance of ordinary "
                                                      "text: lower edits harder, higher keeps more (MEMIT eq. 14)"),
    ),
    "alphaedit": (
        Axis("layers", "shift", (-1, 0, 1), _WINDOW),
        Axis("nullspace_threshold", "scale", (0.5, 1.0, 2.0), "the eigenvalue cut of the preserved keys' "
                                                               "covariance: higher frees more directions to "
                                                               "edit, lower keeps more (AlphaEdit §3)"),
    ),
    "ft-l": (
        Axis("lr", "scale", (0.5, 1.0, 2.0), "Adam's step: the ICE paper's FT-L uses 5e-4, the demo preset 1e-2"),
        Axis("steps", "scale", (1.0, 2.0), "25 steps (ICE §D.2) may stop short on a model of another size"),
        Axis("norm_constraint", "scale", (0.5, 1.0, 2.0), "the L∞ box W0 ± ε is what keeps FT-L local "
                                                          "(Zhu et al. 2020)"),
    ),
    "ft-m": (
        Axis("lr", "scale", (1.0, 3.0), "the small preset's lr 1e-3 keeps other answers; x3 edits paraphrases "
                                        "more and keeps less (quality_dev: generality .82, locality .85)"),
        Axis("steps", "scale", (1.0, 2.0), "EasyEdit's FT-M runs 50 steps, the preset 25"),
        Axis("norm_constraint", "values", (None, 5e-3), "an optional L∞ box, as FT-L's (FT-M has none by default)"),
    ),
    "ice": (
        Axis("lr", "scale", (0.5, 1.0, 2.0), "ICE's reference lr 7e-4 against the demo preset's 1e-2 (ice.py)"),
        Axis("steps", "scale", (1.0, 2.0), "ICE's 25 steps (§D.2) may stop short on another model"),
    ),
    "grace": (
        Axis("eps_init", "scale", (0.5, 1.0, 2.0), "the codebook radius decides generality against locality "
                                                   "(Hartvigsen et al. 2023, Fig. 4)"),
        Axis("lr", "scale", (0.5, 1.0, 2.0), "the value vector's Adam step; too small and 100 steps fall short"),
    ),
}


_SKIP = object()  # a step whose layer(s) fall outside the model


@dataclass(frozen=True)
class GridPoint:
    """One candidate: the values it sets (field -> value) and its distance to the preset."""

    values: Mapping[str, Any]
    distance: int


def _identity(axis: Axis, preset_value: Any) -> Any:
    if axis.rule in ("offset", "shift"):
        return 0
    return 1.0 if axis.rule == "scale" else preset_value


def _value(axis: Axis, step: Any, preset_value: Any, n_layers: int) -> Any:
    """The field's value at ``step``, or ``_SKIP`` if it would leave the model."""
    if axis.rule in ("offset", "shift") and preset_value in (None, ()):
        return preset_value if step == 0 else _SKIP  # no layer to move (None: the method picks one)
    if axis.rule == "offset":
        layer = preset_value + step
        return layer if 0 <= layer < n_layers else _SKIP
    if axis.rule == "shift":
        layers = tuple(layer + step for layer in preset_value)
        return layers if layers and all(0 <= layer < n_layers for layer in layers) else _SKIP
    if axis.rule == "scale":
        if preset_value is None:
            return None
        if isinstance(preset_value, bool) or not isinstance(preset_value, int | float):
            raise ValueError(f"{axis.field}: cannot scale a value of type {type(preset_value).__name__}")
        scaled = preset_value * step
        return max(1, round(scaled)) if isinstance(preset_value, int) else float(f"{scaled:.12g}")
    return step


def _axis_options(axis: Axis, preset: Any, n_layers: int) -> list[tuple[Any, int]]:
    """(value, steps from the identity) for one axis, identity first, duplicates dropped."""
    if axis.rule not in RULES:
        raise ValueError(f"{axis.field}: unknown grid rule {axis.rule!r}; known: {', '.join(RULES)}")
    preset_value = getattr(preset, axis.field)
    identity = _identity(axis, preset_value)
    steps = list(axis.steps) if identity in axis.steps else [identity, *axis.steps]
    centre = steps.index(identity)
    options: list[tuple[Any, int]] = [(preset_value, 0)]
    for i, step in enumerate(steps):
        value = _value(axis, step, preset_value, n_layers)
        if value is not _SKIP and all(value != seen for seen, _ in options):
            options.append((value, abs(i - centre)))
    return options


def grid_points(preset: Any, axes: Sequence[Axis], n_layers: int) -> list[GridPoint]:
    """Every combination of the axes' values around ``preset``; the preset itself first,
    then by distance to it (grid order within a distance)."""
    fields = {f.name for f in dataclasses.fields(preset)}
    unknown = [a.field for a in axes if a.field not in fields]
    if unknown:
        raise ValueError(f"grid fields {', '.join(unknown)} are not hyperparameters of {type(preset).__name__}")
    per_axis = [_axis_options(axis, preset, n_layers) for axis in axes]
    points = [GridPoint({axis.field: value for axis, (value, _) in zip(axes, combo, strict=True)},
                        sum(d for _, d in combo))
              for combo in itertools.product(*per_axis)]
    return sorted(points, key=lambda p: p.distance)  # stable: grid order within a distance


def grid_for(method: str) -> tuple[Axis, ...]:
    if method not in GRIDS:
        raise KeyError(f"no tuning grid for method {method!r}; methods with one: {', '.join(GRIDS)}")
    return GRIDS[method]
