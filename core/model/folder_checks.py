"""Cheap checks of a model folder before anything is allocated.

safetensors headers are read with struct and json alone and validated (length, JSON,
dtype/shape/offsets, file size); the shapes config.json implies are taken from the model
built on the ``meta`` device (no memory for weights) and compared with the headers, and a
config that describes far more parameters than the weights hold is refused.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from core.model.errors import ModelLoadError, brief

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own limit
CLAIM_SLACK = 1.25  # config may describe up to this many times the parameters the headers hold
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "C64": 8}
ADAPTOR_FILE = "factsmith_adaptors.safetensors"  # core.edit.adaptors.FILE_NAME: not model weights
REPOSITORY_FILE = "factsmith_repository.safetensors"  # core.edit.repository.FILE_NAME: nor is this
HOOK_LAYER_FILE = "factsmith_hook_layers.safetensors"  # core.edit.hookfiles.FILE_NAME: nor this
SIDE_FILES = (ADAPTOR_FILE, REPOSITORY_FILE, HOOK_LAYER_FILE)
_REPLACE = "Replace it with an intact copy of the model (download or copy it again)."


@dataclass(frozen=True)
class TensorHeader:
    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str

    @property
    def elements(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n


def _bad(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: {what}. {_REPLACE}")


def _header_bytes(path: Path) -> tuple[bytes, int]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size < 8:
            raise _bad(path, f"is truncated: {size} bytes, too short for a safetensors header")
        (length,) = struct.unpack("<Q", fh.read(8))
        if length > MAX_HEADER_BYTES:
            raise _bad(path, f"is corrupt: its header claims {length:,} bytes (at most {MAX_HEADER_BYTES:,} allowed)")
        if 8 + length > size:
            raise _bad(path, f"is truncated: its header claims {length:,} bytes but the file holds {size:,}")
        return fh.read(length), size - 8 - length


def _parse_header(path: Path, raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"has a corrupt header (not valid JSON: {exc})") from exc
    if not isinstance(header, dict):
        raise _bad(path, "has a corrupt header (not a JSON object)")
    return header


def _tensor(path: Path, name: str, entry, data_bytes: int) -> TensorHeader:
    shape, offsets = (entry.get("shape"), entry.get("data_offsets")) if isinstance(entry, dict) else (None, None)
    dtype = entry.get("dtype") if isinstance(entry, dict) else None
    ints = lambda xs: isinstance(xs, list) and all(isinstance(x, int) and x >= 0 for x in xs)  # noqa: E731
    if not isinstance(dtype, str) or not ints(shape) or not ints(offsets) or len(offsets) != 2:
        raise _bad(path, f"has a corrupt header entry for tensor {name!r}")
    begin, end = offsets
    tensor = TensorHeader(name, dtype, tuple(shape), path.name)
    if begin > end or (dtype in DTYPE_BYTES and end - begin != tensor.elements * DTYPE_BYTES[dtype]):
        raise _bad(path, f"has a corrupt header: tensor {name!r} offsets {offsets} do not fit {dtype}{list(shape)}")
    if end > data_bytes:
        raise _bad(path, f"is truncated: tensor {name!r} ends at byte {end:,} of the data, "
                         f"but the file holds {data_bytes:,} data bytes")
    return tensor


def read_header(path: str | Path) -> list[TensorHeader]:
    """The tensors a safetensors file declares, validated against the file's size."""
    path = Path(path)
    raw, data_bytes = _header_bytes(path)
    header = _parse_header(path, raw)
    return [_tensor(path, name, entry, data_bytes) for name, entry in header.items() if name != "__metadata__"]


def weight_shards(folder: Path) -> list[Path]:
    """The safetensors files holding the model's own weights (not saved side files: adaptors etc.)."""
    return sorted(p for p in Path(folder).glob("*.safetensors") if p.name not in SIDE_FILES and p.is_file())


def folder_headers(folder: Path) -> list[TensorHeader]:
    return [t for shard in weight_shards(folder) for t in read_header(shard)]


def meta_model(folder: Path, trust_remote_code: bool = False):
    """The model config.json describes, built on the meta device: shapes, no storage."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config_path = Path(folder) / "config.json"
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{config_path} does not describe a causal language model this version of "
                             f"transformers can build ({brief(exc)}). Use the config.json that came with the "
                             "weights.") from exc
    except (RuntimeError, NotImplementedError) as exc:  # an architecture whose set-up needs real tensors
        log.warning("%s: cannot build the model on the meta device (%s); config and weight shapes are not "
                    "compared before loading", folder, brief(exc))
        return None


def _model_shapes(model) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in model.state_dict(keep_vars=True).items()}


def _expected_shape(shapes: dict, prefix: str, name: str):
    for candidate in (name, f"{prefix}.{name}", name.removeprefix(f"{prefix}.")):
        if candidate in shapes:
            return shapes[candidate]
    return None


def shape_mismatches(model, headers: list[TensorHeader]) -> list[str]:
    """'name: config implies X, file holds Y' for every header tensor whose shape disagrees."""
    shapes, prefix = _model_shapes(model), getattr(model, "base_model_prefix", "") or "_"
    found = []
    for tensor in headers:
        expected = _expected_shape(shapes, prefix, tensor.name)
        if expected is not None and tuple(expected) != tensor.shape:
            found.append(f"{tensor.name}: config.json implies {list(expected)}, "
                         f"{tensor.file} holds {list(tensor.shape)}")
    return found


def claimed_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied weights count once


def _millions(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def check_config_against_weights(folder: Path, trust_remote_code: bool = False) -> int:
    """Refuse a config.json whose shapes or size disagree with the safetensors headers,
    before any weight is allocated; returns the parameter count the headers hold."""
    folder = Path(folder)
    headers = folder_headers(folder)
    held = sum(t.elements for t in headers)
    model = meta_model(folder, trust_remote_code)
    if model is None:
        return held
    mismatches = shape_mismatches(model, headers)
    if mismatches:
        listed = "; ".join(mismatches[:3]) + (f"; and {len(mismatches) - 3} more" if len(mismatches) > 3 else "")
        raise ModelLoadError(f"{folder / 'config.json'} disagrees with the weights' shapes ({listed}). "
                             "The config does not belong to these weights: use the config.json that came "
                             "with them.")
    claimed = claimed_parameters(model)
    if claimed > held * CLAIM_SLACK:
        raise ModelLoadError(f"{folder / 'config.json'} describes a model of {_millions(claimed)} parameters, "
                             f"but the weights ({', '.join(p.name for p in weight_shards(folder))}) hold "
                             f"{_millions(held)}. The config does not belong to these weights: use the "
                             "config.json that came with them.")
    return held


def check_config_against_pickles(folder: Path, files: list[Path], trust_remote_code: bool = False) -> None:
    """Pickle checkpoints have no cheap header: refuse a config claiming more parameters
    than the files could hold even at one byte each."""
    held_bytes = sum(p.stat().st_size for p in files)
    model = meta_model(folder, trust_remote_code)
    claimed = 0 if model is None else claimed_parameters(model)
    if claimed > held_bytes:
        raise ModelLoadError(f"{folder / 'config.json'} describes a model of {_millions(claimed)} parameters, "
                             f"more than {', '.join(p.name for p in files)} ({held_bytes:,} bytes) can hold. "
                             "Use the config.json that came with the weights.")


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model", "spiece.model", "vocab.txt",
                   "sentencepiece.bpe.model", "tiktoken.model")
_PROBE = "The capital of France is Paris."


def check_tokenizer_files(folder: Path) -> None:
    """A folder without vocabulary files would get an empty stand-in tokenizer from
    transformers, which encodes every text to nothing."""
    if not any((Path(folder) / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(f"{folder} has no tokenizer files (none of {', '.join(TOKENIZER_FILES)}). "
                             "Copy the tokenizer files that came with the model into the folder.")


def check_tokenizer(folder: Path, tokenizer) -> None:
    """Refuse a tokenizer that loaded but cannot encode plain text."""
    ids = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    if len(tokenizer) < 2 or not ids:
        raise ModelLoadError(f"the tokenizer in {folder} encodes text to nothing (vocabulary of "
                             f"{len(tokenizer)} token(s)): its files are empty or damaged. Copy the "
                             "tokenizer files that came with the model into the folder.")
