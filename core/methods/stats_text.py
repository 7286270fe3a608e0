"""Text for covariance statistics: a local file or folder, or sequences the model samples.

Sources: a .txt file (paragraphs split by blank lines, else one text per line), a
.jsonl file (a "text" field per row), a ``datasets`` folder saved with
``save_to_disk`` (a "text" column), or, with no path, sequences sampled from the model
(seeded, stored once per model and seed: ``core.methods.stats_sampling``).
``core.methods.stats`` turns them into cached covariances.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.methods.stats_sampling import SAMPLER_VERSION, sampled
from core.model.loading import LoadedModel
from core.model.tokens import encode
from core.util.progress import Progress

FORWARD_TOKENS = 4096  # tokens per statistics forward pass


class StatsError(ValueError):
    """A statistics source cannot be read; the message says why."""


@dataclass(frozen=True)
class StatsSource:
    """Where the text comes from: a file or folder path, or "" to sample from the model."""

    path: str = ""
    seed: int = 0  # for self-sampling

    @property
    def kind(self) -> str:
        if not self.path:
            return "self"
        p = Path(self.path)
        if p.is_dir():
            return "datasets"
        if p.suffix.lower() in (".jsonl", ".json"):
            return "jsonl"
        return "txt"

    def identity(self) -> str:
        """Changes whenever the text could have: path, size and mtime, or the seed."""
        if self.kind == "self":
            return f"self-sampled:{self.seed}:sampler-{SAMPLER_VERSION}"
        p = Path(self.path).expanduser().resolve()
        if not p.exists():
            raise StatsError(f"statistics source {p} does not exist")
        stat = p.stat()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
            stat_sum = sum(f.stat().st_size for f in files), max((f.stat().st_mtime_ns for f in files), default=0)
            return f"{p}|{stat_sum[0]}|{stat_sum[1]}"
        return f"{p}|{stat.st_size}|{stat.st_mtime_ns}"


def token_batches(sequences: Iterator[list[int]], budget: int) -> Iterator[list[list[int]]]:
    """Batches of about FORWARD_TOKENS tokens, exactly ``budget`` tokens in all (or less
    when the source runs out)."""
    batch, in_batch, planned = [], 0, 0
    for seq in sequences:
        seq = seq[: budget - planned]
        batch.append(seq)
        in_batch, planned = in_batch + len(seq), planned + len(seq)
        if in_batch >= FORWARD_TOKENS or planned >= budget:
            yield batch
            batch, in_batch = [], 0
        if planned >= budget:
            return
    if batch:
        yield batch


def window(lm: LoadedModel) -> int:
    from core.model.generation import max_positions

    return min(max_positions(lm.model.config) or 256, 256)


def sequences(lm: LoadedModel, source: StatsSource, width: int, progress: Progress,
              budget: int) -> Iterator[list[int]]:
    """Token-id sequences of at most ``width`` tokens, as the model would read them: at
    least ``budget`` tokens of them where the source has that many. Self-sampled text
    comes from the stored stream (``core.methods.stats_sampling``), sampled first where
    it is shorter than ``budget``."""
    if source.kind == "self":
        yield from sampled(lm, source.seed, width, budget, progress)
        return
    for text in _texts(source):
        ids = encode(lm.tokenizer, text)
        for start in range(0, len(ids), width):
            if chunk := ids[start : start + width]:
                yield chunk


def _texts(source: StatsSource) -> Iterator[str]:
    path = Path(source.path).expanduser()
    if not path.exists():
        raise StatsError(f"statistics source {path} does not exist")
    if source.kind == "datasets":
        yield from _dataset_texts(path)
    elif source.kind == "jsonl":
        yield from _jsonl_texts(path)
    else:
        content = path.read_text(encoding="utf-8", errors="replace")
        parts = content.split("\n\n") if "\n\n" in content.strip() else content.splitlines()
        yield from (p.strip() for p in parts if p.strip())


def _jsonl_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise StatsError(f"{path}:{number} is not JSON: {exc}") from exc
            if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
                yield row["text"]


def _dataset_texts(path: Path) -> Iterator[str]:
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise StatsError(f"{path} is not a dataset saved with save_to_disk: {exc}") from exc
    if isinstance(data, DatasetDict):
        data = data["train"] if "train" in data else data[next(iter(data))]
    if "text" not in data.column_names:
        raise StatsError(f"the dataset at {path} has no 'text' column (columns: {', '.join(data.column_names)})")
    for rows in data.iter(batch_size=256):
        yield from (t for t in rows["text"] if isinstance(t, str) and t.strip())
