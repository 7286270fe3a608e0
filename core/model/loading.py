"""Load a local Hugging Face causal LM safely, with progress and a memory check."""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from core.model.arch import ArchSpec, spec_for
from core.model.errors import ModelLoadError, brief
from core.model.fingerprint import folder_fingerprint
from core.model.folder_checks import (
    check_config_against_pickles,
    check_config_against_weights,
    check_tokenizer,
    check_tokenizer_files,
)
from core.model.memory import InsufficientMemory, MemoryEstimate, estimate
from core.util.memo import BoundedMemo
from core.util.progress import Progress, silent

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "float16", "bfloat16")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")


@dataclass(frozen=True)
class LoadOptions:
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    device_map_auto: bool = False  # spread over GPUs/CPU with accelerate
    allow_pickle: bool = False  # permit .bin/.pt checkpoints (loaded weights_only)
    trust_remote_code: bool = False
    ignore_memory_check: bool = False


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    model_type: str
    family: str
    parameters: int
    layers: int
    hidden_size: int
    device: str
    dtype: str
    fingerprint: str


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for editing: the torch module, its tokenizer, spec and facts about it."""

    model: object
    tokenizer: object
    spec: ArchSpec
    info: ModelInfo
    # Values derived from this model's files (covariances, their factorisations), dropped with it
    memo: BoundedMemo = field(default_factory=BoundedMemo, compare=False, repr=False)

    @property
    def device(self):
        return next(self.model.parameters()).device


def pick_device(requested: str = "auto") -> str:
    """CUDA if present, else MPS, else CPU, unless the caller names one."""
    import torch

    if requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"device {requested!r} requested but CUDA is not available here")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str, config: dict) -> str:
    """'auto' keeps float32 on CPU (half precision is slow and lossy there) and uses
    the checkpoint's own half type, or bfloat16, on an accelerator."""
    if requested not in DTYPES:
        raise ModelLoadError(f"dtype {requested!r} is not one of {', '.join(DTYPES)}")
    if requested != "auto":
        return requested
    if device == "cpu":
        return "float32"
    stored = config.get("torch_dtype") or config.get("dtype") or "float32"
    return stored if stored in ("float16", "bfloat16") else "float32"


def _read_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise ModelLoadError(f"{folder} is not a folder; choose a Hugging Face model folder")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelLoadError(f"{config_path} is not valid JSON: {exc}") from exc


def _check_weight_format(folder: Path, allow_pickle: bool) -> bool:
    """True when safetensors are present; refuses pickle-only folders unless allowed."""
    if any(folder.glob("*.safetensors")):
        return True
    pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if not pickles:
        raise ModelLoadError(f"{folder} has no weights (*.safetensors or *.bin)")
    if not allow_pickle:
        raise ModelLoadError(
            f"{folder} holds only pickle checkpoints ({', '.join(sorted(pickles))}), which can run "
            "code when loaded. Convert them to safetensors, or allow pickle explicitly "
            "(--allow-pickle); they are then loaded with weights_only=True."
        )
    return False


def check_memory(folder: Path, options: LoadOptions) -> MemoryEstimate:
    config = _read_config(folder)
    device = pick_device(options.device)
    found = estimate(folder, pick_dtype(options.dtype, device, config), device)
    if not found.fits and not options.ignore_memory_check and not options.device_map_auto:
        raise InsufficientMemory(
            f"{folder.name} {found.describe()}. Choose a smaller dtype, another device, "
            "device_map=auto, or override the check."
        )
    return found


def check_folder(folder: Path, options: LoadOptions) -> bool:
    """Everything that can be checked before a weight is read: config, weight format and
    headers against the config's shapes, tokenizer files, memory. True for safetensors."""
    use_safetensors = _check_weight_format(folder, options.allow_pickle)
    if not options.trust_remote_code:
        check_tokenizer_files(folder)
    if use_safetensors:
        check_config_against_weights(folder, options.trust_remote_code)
    else:
        check_config_against_pickles(folder, _pickle_files(folder), options.trust_remote_code)
    check_memory(folder, options)
    return use_safetensors


def load_model(path: str | Path, options: LoadOptions | None = None, progress: Progress | None = None) -> LoadedModel:
    """Load a local folder; never downloads, never runs remote code unless allowed."""
    import torch

    options, progress = options or LoadOptions(), progress or silent()
    folder = Path(path).expanduser().resolve()
    config = _read_config(folder)
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device, config)
    progress.report(0.02, 1.0, "checking the folder and estimating memory")
    use_safetensors = check_folder(folder, options)
    tokenizer = load_tokenizer(folder, options.trust_remote_code)  # cheap: fails before the weights are read
    fingerprint = folder_fingerprint(folder, progress.stage(0.05, 0.35))
    progress.check()
    progress.report(0.4, 1.0, "reading weights")
    kwargs = dict(dtype=getattr(torch, dtype), local_files_only=True, use_safetensors=use_safetensors,
                  trust_remote_code=options.trust_remote_code)
    if options.device_map_auto:
        kwargs["device_map"] = "auto"
    model = _from_pretrained(folder, use_safetensors, kwargs)
    progress.check()
    progress.report(0.85, 1.0, f"moving to {device}")
    if not options.device_map_auto:
        model.to(device)
    model.eval().requires_grad_(False)
    _reinstall_adaptors(model, folder)
    _reinstall_repository(model, tokenizer, folder)
    _reinstall_hook_layers(model, folder)
    spec = spec_for(model)
    progress.report(1.0, 1.0, "loaded")
    return LoadedModel(model, tokenizer, spec, _info(folder, model, spec, fingerprint))


def _pickle_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES and p.is_file())


def _unpickling_detail(exc: Exception) -> str:
    """torch's message suggests weights_only=False; keep only the line naming what was refused."""
    lines = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line or "Unsupported" in line]
    return f" ({lines[0][:200]})" if lines else ""


def _from_pretrained(folder: Path, use_safetensors: bool, kwargs: dict):
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    files = ", ".join(p.name for p in _pickle_files(folder)) if not use_safetensors else "the weights"
    from core.util.quiet import loading_bars_off

    try:
        with loading_bars_off():  # load_model reports its own progress
            return AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"{folder}: refused to load {files}: the pickle holds objects other than plain tensors, "
            f"which could run code{_unpickling_detail(exc)}. Do not use this file; get safetensors "
            "weights from a source you trust.") from exc
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, SafetensorError) as exc:
        raise ModelLoadError(f"could not load {files} in {folder}: {brief(exc, 500)}. "
                             "Replace the folder with an intact copy of the model.") from exc


def _side_state_loaded(load, error: type[Exception], model, folder: Path) -> int:
    """``load(model, folder)`` of side state saved beside the weights; its ``error`` as a ModelLoadError."""
    try:
        return load(model, folder)
    except error as exc:
        raise ModelLoadError(f"could not load {folder}: {exc}") from exc


def _reinstall_adaptors(model, folder: Path) -> None:
    """A saved edit state may hold codebook adaptors (GRACE) beside its weights."""
    from core.edit.adaptors import AdaptorError, load_adaptors

    installed = _side_state_loaded(load_adaptors, AdaptorError, model, folder)
    if installed:
        log.info("reinstalled codebook adaptors on %d module(s) from %s", installed, folder)


def _reinstall_repository(model, tokenizer, folder: Path) -> None:
    """RECIPE's retrieval repository reads queries with the tokenizer; a saved one is reinstalled."""
    from core.edit.repository import RepositoryError, bind_tokenizer, load_repository

    bind_tokenizer(model, tokenizer)
    entries = _side_state_loaded(load_repository, RepositoryError, model, folder)
    if entries:
        log.info("reinstalled a retrieval repository of %d entries from %s", entries, folder)


def _reinstall_hook_layers(model, folder: Path) -> None:
    """A saved edit state may hold hook layers (COMEBA-HK) beside its weights."""
    from core.edit.hookfiles import load_hook_layers
    from core.edit.hooklayers import HookLayerError

    installed = _side_state_loaded(load_hook_layers, HookLayerError, model, folder)
    if installed:
        log.info("reinstalled hook layers on %d weight(s) from %s", installed, folder)


def load_tokenizer(folder: Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as exc:  # the tokenizers library raises bare Exception for damaged files
        raise ModelLoadError(f"could not load the tokenizer in {folder}: {brief(exc)}. Copy the tokenizer "
                             "files that came with the model into the folder.") from exc
    check_tokenizer(folder, tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _info(folder: Path, model, spec: ArchSpec, fingerprint: str) -> ModelInfo:
    first = next(model.parameters())
    return ModelInfo(
        name=folder.name,
        path=str(folder),
        model_type=model.config.model_type,
        family=spec.family,
        parameters=sum(p.numel() for p in model.parameters()),
        layers=int(model.config.num_hidden_layers),
        hidden_size=int(model.config.hidden_size),
        device=str(first.device),
        dtype=str(first.dtype).removeprefix("torch."),
        fingerprint=fingerprint,
    )
