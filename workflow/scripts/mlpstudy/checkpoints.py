"""A training job's checkpoints: where they are, every read and write of them, and when they go.

They live under results/checkpoints/, outside the job's declared outputs, so Snakemake never
deletes them when a job dies: the next attempt resumes from them. A checkpoint holds the state
of one run of the loop (mlpstudy.training) with the hyper-parameters and seeds it belongs to.
After the data or the package code changed, a killed job's checkpoint would mix old results
into the new run: each checkpoint gets a stamp beside it (`<name>.inputs`, the checksums of
the job's inputs), and one whose stamp differs is discarded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import torch

from .files import file_sha256, save_atomic, write_text_atomic

# Relative to the working directory, like results/.
ROOT = "results/checkpoints"


def of_job(dataset: str, ablation: str, pack: str, seeds: list[int]) -> dict:
    """A training job's checkpoint paths: one per seed (trained one after another) and one
    for the pack ("pack", trained batched)."""
    folder = Path(ROOT) / dataset / ablation
    return {**{seed: folder / f"seed{seed}.pt" for seed in seeds}, "pack": folder / f"{pack}.pt"}


def _stamp(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".inputs")


def bind_to_inputs(checkpoints: Iterable[str | Path], data: str, code: Iterable[str],
                   log: Callable[[str], None] = print) -> str:
    """Discard checkpoints made from other inputs, stamp the rest; return the data's sha256."""
    data_sha256 = file_sha256(data)
    inputs = json.dumps({data: data_sha256, **{path: file_sha256(path) for path in sorted(code)}},
                        sort_keys=True)
    for checkpoint in map(Path, checkpoints):
        stamp = _stamp(checkpoint)
        if checkpoint.exists() and (not stamp.exists() or stamp.read_text() != inputs):
            log(f"discarding the checkpoint {checkpoint} of an earlier attempt: "
                "data or code changed since")
            checkpoint.unlink()
        write_text_atomic(stamp, inputs)
    return data_sha256


def saved_state(checkpoint: str | Path | None, hp: dict, seeds: list[int], device,
         log: Callable[[str], None] = print) -> dict | None:
    """The state saved at `checkpoint` by this very run (same hyper-parameters and seeds),
    if there is one."""
    if not checkpoint or not Path(checkpoint).exists():
        return None
    try:
        state = torch.load(checkpoint, weights_only=True, map_location=device)
    except Exception as exc:  # damaged (e.g. a disk filled up): start over, say so
        log(f"ignoring unreadable checkpoint {checkpoint}: {exc}")
        return None
    return state if state.get("hp") == hp and state.get("seeds") == list(seeds) else None


def save_state(checkpoint: str | Path, hp: dict, seeds: list[int], state: dict) -> None:
    """The loop's `state`, marked as the run of `hp` and `seeds`, written atomically."""
    save_atomic({"hp": hp, "seeds": list(seeds), **state}, checkpoint)


def remove(checkpoints: Iterable[str | Path]) -> None:
    """Delete checkpoints and their stamps once the outputs they led to are written."""
    for checkpoint in map(Path, checkpoints):
        checkpoint.unlink(missing_ok=True)
        _stamp(checkpoint).unlink(missing_ok=True)
