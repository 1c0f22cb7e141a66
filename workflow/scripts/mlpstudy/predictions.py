"""A run's test predictions (seed{N}/test_predictions.npz): the class it predicted for every
test example at each of its evaluations, written so that the same run gives the same bytes,
and read back as which examples each evaluation got right (the test set's own sampling in the
claims' intervals, mlpstudy.claims).

The file is a NumPy .npz (np.load reads it): `steps` (evaluations), `predicted` (evaluations x
examples, one byte each up to 256 classes) and `labels` (examples). Every evaluation is kept,
not only those a claim reads today, so that editing a claim's window never retrains: ~47 kB
per evaluation of 10,000 examples before compression; predictions change little from one
evaluation to the next and compress well.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .files import atomic_path

FILE = "test_predictions.npz"
# np.savez stamps each member with the current time: a fixed stamp keeps the bytes (and the
# sha256 in run.json) the same for the same run, after a resume too.
_STAMP = (1980, 1, 1, 0, 0, 0)


def write_predictions(path: str | Path, steps, predicted, labels) -> None:
    """Atomically write one run's predictions: `steps` (E,), `predicted` (E, N), `labels` (N,)."""
    predicted = np.asarray(predicted).reshape(len(steps), -1)
    arrays = {"steps": np.asarray(steps, dtype=np.int64), "predicted": predicted,
              "labels": np.asarray(labels).astype(predicted.dtype)}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_STAMP)
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, buffer.getvalue())


def read_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """{"steps", "predicted", "labels"} of one run's file."""
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in ("steps", "predicted", "labels")}


def right_at_evaluations(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, right): which test examples each stored evaluation got right (E x N bools)."""
    stored = read_predictions(path)
    return stored["steps"], stored["predicted"] == stored["labels"][None, :]


def right_of_runs(runs: list[dict]) -> dict:
    """(dataset, ablation, seed) -> right_at_evaluations, for runs as runs.runs_of_packs lists
    them; a run without the file (trained before predictions were kept) is left out."""
    right = {}
    for paths in runs:
        if Path(paths["predictions"]).is_file():
            run = json.loads(Path(paths["run"]).read_text())
            right[run["dataset"], run["ablation"], int(run["seed"])] = \
                right_at_evaluations(paths["predictions"])
    return right


def per_class_accuracy(path: str | Path) -> np.ndarray:
    """Test accuracy (%) on each class at the run's last stored evaluation; NaN for a class
    with no test example."""
    stored = read_predictions(path)
    labels, last = stored["labels"].astype(np.int64), stored["predicted"][-1]
    classes = int(labels.max()) + 1
    right = np.bincount(labels[last == stored["labels"]], minlength=classes)
    total = np.bincount(labels, minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * right / total


PER_CLASS_COLUMNS = ["ablation", "reference", "class", "seeds", "ablation_pct", "reference_pct",
                     "difference_pp", "difference_sd"]


def per_class_differences(accuracy: dict, references: dict[str, str]) -> pd.DataFrame:
    """Per-class test accuracy of each ablation against its reference, over the seeds both
    finished: `accuracy` maps (ablation, seed) -> per_class_accuracy of a finished run. The
    difference is paired seed by seed; its sd is the seeds' spread (NaN with one seed)."""
    rows = []
    for ablation, reference in references.items():
        seeds = sorted(s for a, s in accuracy if a == ablation and (reference, s) in accuracy)
        if not seeds:
            continue
        mine = np.array([accuracy[ablation, s] for s in seeds])
        theirs = np.array([accuracy[reference, s] for s in seeds])
        width = min(mine.shape[1], theirs.shape[1])
        mine, theirs = mine[:, :width], theirs[:, :width]
        spread = (mine - theirs).std(axis=0, ddof=1) if len(seeds) > 1 else np.full(width, np.nan)
        for c in range(width):
            rows.append({"ablation": ablation, "reference": reference, "class": c,
                         "seeds": len(seeds), "ablation_pct": mine[:, c].mean(),
                         "reference_pct": theirs[:, c].mean(),
                         "difference_pp": (mine[:, c] - theirs[:, c]).mean(),
                         "difference_sd": spread[c]})
    return pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)
