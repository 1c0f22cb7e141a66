"""Writing a run's outputs: atomically, so a killed job never leaves a file that looks complete."""
from __future__ import annotations

import json
from pathlib import Path

from .files import atomic_path

METRICS_HEADER = "step,epoch,split,metric,value"
_SPLIT_ORDER = {"batch": 0, "train": 1, "test": 2}


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def metrics_csv(rows) -> str:
    """Long-format curves; rows sorted so the file does not depend on when they were recorded."""
    ordered = sorted(rows, key=lambda r: (r[0], _SPLIT_ORDER[r[2]], r[3]))
    lines = [METRICS_HEADER] + [f"{s},{e},{split},{m},{float(v)!r}" for s, e, split, m, v in ordered]
    return "\n".join(lines) + "\n"


def write_json_atomic(path: str | Path, obj: dict) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
