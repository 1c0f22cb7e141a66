"""A training job's checkpoints belong to the data and code they were made from.

After the data or the package code changed, a killed job's checkpoint would mix old
results into the new run: each checkpoint gets a stamp beside it (`<name>.inputs`, the
checksums of the job's inputs), and one whose stamp differs is discarded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

from .files import file_sha256, write_text_atomic


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


def remove(checkpoints: Iterable[str | Path]) -> None:
    """Delete checkpoints and their stamps once the outputs they led to are written."""
    for checkpoint in map(Path, checkpoints):
        checkpoint.unlink(missing_ok=True)
        _stamp(checkpoint).unlink(missing_ok=True)
