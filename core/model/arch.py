"""Architecture specs: where each model family keeps the modules editing touches.

Differences between families are data here, never branches elsewhere. Names inside a
layer are relative to ``layers.{i}``; everything else is a dotted path from the model.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnsupportedArchitecture(ValueError):
    """The model's family has no spec, or its modules are not where the spec says."""


@dataclass(frozen=True)
class ArchSpec:
    family: str
    model_types: tuple[str, ...]
    layers: str  # the ModuleList of transformer blocks
    mlp: str  # per layer
    mlp_in: str  # per layer; the up projection (Llama's up_proj)
    mlp_out: str  # per layer; the down projection ROME/MEMIT/FT edit
    attn: str  # per layer
    final_norm: str
    lm_head: str
    embeddings: str
    weight_layout: str = "out_in"  # nn.Linear; GPT-2's Conv1D stores (in, out)
    edit_layer_fraction: float = 0.33  # ROME's layer when no preset exists

    def layer(self, i: int) -> str:
        return f"{self.layers}.{i}"

    def mlp_out_module(self, i: int) -> str:
        return f"{self.layers}.{i}.{self.mlp_out}"

    def mlp_out_weight(self, i: int) -> str:
        return f"{self.mlp_out_module(i)}.weight"

    def mlp_module(self, i: int) -> str:
        return f"{self.layers}.{i}.{self.mlp}"


_LLAMA_LIKE = dict(
    layers="model.layers",
    mlp="mlp",
    mlp_in="mlp.up_proj",
    mlp_out="mlp.down_proj",
    attn="self_attn",
    final_norm="model.norm",
    lm_head="lm_head",
    embeddings="model.embed_tokens",
    edit_layer_fraction=0.16,
)

_GPT_LIKE = dict(  # GPT-2, GPT-Neo and GPT-J: the same module names but for the MLP's
    layers="transformer.h",
    mlp="mlp",
    attn="attn",
    final_norm="transformer.ln_f",
    lm_head="lm_head",
    embeddings="transformer.wte",
)

SPECS: tuple[ArchSpec, ...] = (
    ArchSpec(
        family="gpt2",
        model_types=("gpt2",),
        mlp_in="mlp.c_fc",
        mlp_out="mlp.c_proj",
        weight_layout="in_out",
        edit_layer_fraction=0.35,
        **_GPT_LIKE,
    ),
    ArchSpec(family="gpt-neo", model_types=("gpt_neo",), mlp_in="mlp.c_fc", mlp_out="mlp.c_proj", **_GPT_LIKE),
    ArchSpec(
        family="gpt-j",
        model_types=("gptj",),
        mlp_in="mlp.fc_in",
        mlp_out="mlp.fc_out",
        edit_layer_fraction=0.18,
        **_GPT_LIKE,
    ),
    ArchSpec(
        family="gpt-neox",
        model_types=("gpt_neox",),
        layers="gpt_neox.layers",
        mlp="mlp",
        mlp_in="mlp.dense_h_to_4h",
        mlp_out="mlp.dense_4h_to_h",
        attn="attention",
        final_norm="gpt_neox.final_layer_norm",
        lm_head="lm_head",  # "embed_out" before transformers 5
        embeddings="gpt_neox.embed_in",
        edit_layer_fraction=0.25,
    ),
    ArchSpec(family="llama", model_types=("llama",), **_LLAMA_LIKE),
    ArchSpec(family="mistral", model_types=("mistral",), **_LLAMA_LIKE),
    ArchSpec(family="qwen2", model_types=("qwen2", "qwen3"), **_LLAMA_LIKE),
)


def supported_model_types() -> list[str]:
    return sorted(t for spec in SPECS for t in spec.model_types)


def spec_for_model_type(model_type: str) -> ArchSpec:
    for spec in SPECS:
        if model_type in spec.model_types:
            return spec
    raise UnsupportedArchitecture(
        f"model type {model_type!r} has no architecture spec; supported: "
        f"{', '.join(supported_model_types())}. Add an ArchSpec to core/model/arch.py naming its "
        "layers, mlp, mlp_in, mlp_out, attn, final_norm, lm_head and embeddings."
    )


def _module_names(spec: ArchSpec, n_layers: int) -> list[str]:
    per_layer = [spec.mlp, spec.mlp_in, spec.mlp_out, spec.attn]
    names = [spec.layers, spec.final_norm, spec.lm_head, spec.embeddings]
    names += [f"{spec.layers}.{i}.{rel}" for i in range(n_layers) for rel in per_layer]
    return names


def spec_for(model) -> ArchSpec:
    """The spec of a loaded model, checked against the model's actual modules."""
    spec = spec_for_model_type(model.config.model_type)
    present = {name for name, _ in model.named_modules()}
    missing = [n for n in _module_names(spec, num_layers(model.config)) if n not in present]
    if missing:
        raise UnsupportedArchitecture(
            f"{model.config.model_type} model does not match the {spec.family} spec; "
            f"missing modules: {', '.join(missing[:6])}"
        )
    return spec


def num_layers(config) -> int:
    return int(config.num_hidden_layers)


def default_edit_layer(spec: ArchSpec, config) -> int:
    return max(0, min(num_layers(config) - 1, round(spec.edit_layer_fraction * num_layers(config))))
