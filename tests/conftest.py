"""Shared test helpers: a private copy of the workflow, tiny IDX datasets, and the snakemake CLI."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from mlpstudy.datasets import IDX_FILES  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` (uint8) as an IDX file, gzipped when the name ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    raw = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        import gzip
        with gzip.open(path, "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)
    return path


def write_tiny_idx_dataset(directory: Path, n_train: int = 256, n_test: int = 64,
                           classes: int = 4, seed: int = 0) -> Path:
    """A learnable 28x28 image dataset: each class lights up its own block of pixels."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, classes, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 7 * label:7 * label + 7, :14] += 180
        return x, y

    for split, n in (("train", n_train), ("test", n_test)):
        x, y = make(n)
        write_idx(directory / IDX_FILES[f"{split}_x"], x)
        write_idx(directory / IDX_FILES[f"{split}_y"], y)
    return directory


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A private copy of the workflow to run snakemake in."""
    return copy_workflow(tmp_path)


def copy_workflow(dest: Path) -> Path:
    """Copy what a run needs (Snakefile, workflow/, config/, profiles/, the rules' conda
    environment) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("Snakefile", "workflow", "config", "profiles", "environment.yml"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / item)
    return dest


def completed_study(tmp_path_factory, name: str, write) -> Path:
    """A private copy of the workflow, its config written by `write(workdir)`, run to the end."""
    workdir = copy_workflow(tmp_path_factory.mktemp(name))
    write(workdir)
    run_snakemake(workdir)
    return workdir


def restoring(root: Path, names):
    """Yield `root`; afterwards put the files `names` (relative to it) back as they were."""
    saved = {name: (root / name).read_bytes() for name in names}
    yield root
    for name, content in saved.items():
        (root / name).write_bytes(content)


def tiny_config(workdir: Path, ablations: dict | None = None, seeds=(0, 1), **overrides) -> dict:
    """Write a fast config: a tiny generated IDX dataset, a few iterations per run."""
    data_dir = write_tiny_idx_dataset(workdir / "tiny-data")
    config = {
        "dataset": "tiny",
        "seeds": list(seeds),
        "custom_datasets": {"tiny": str(data_dir)},
        "protocol": {"hidden": [32], "batch_size": 32, "epochs": 1, "eval_every": 2,
                     "max_steps": 6, "lr": 0.1},
        "ablations": ablations if ablations is not None else {
            "base": {"description": "baseline"},
            "gelu": {"activation": "gelu"},
            "maxout": {"activation": "maxout", "maxout_k": 2},
        },
        "download": False,
    }
    config.update(overrides)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def run_snakemake(workdir: Path, *args: str, timeout: float = 600, check: bool = True,
                  cores: int = 2) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI in `workdir`; stop it with SIGINT (then SIGKILL) on timeout."""
    cmd = ["snakemake", "--cores", str(cores), *args]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail(f"snakemake {' '.join(args)} timed out after {timeout} s:\n{out[-4000:]}")
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, "")
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{out[-6000:]}")
    return result


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule name -> job count of a dry run (the 'Job stats' table)."""
    out = run_snakemake(workdir, "-n", *args).stdout
    counts, in_table = {}, False
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("job ") and "count" in line:
            in_table = True
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
        elif in_table and parts and parts[0] == "total":
            break
    return counts


def as_float32(rows) -> list[tuple]:
    """(step, split, metric, value) of curve rows (step, epoch, split, metric, value), sorted,
    each value as TensorBoard keeps it: a 32-bit float (as text, so that NaN equals NaN)."""
    return sorted((int(s), split, metric, str(np.float32(v))) for s, _, split, metric, v in rows)


def read_events(directory: Path):
    """One TensorBoard run directory, read back by TensorBoard's own EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()  # size 0: keep every event
    return events


def event_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value), ...] of one TensorBoard run directory, every event (a step
    written twice is there twice)."""
    events = read_events(directory)
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def event_rows(directory: Path) -> list[tuple]:
    """The scalars of one TensorBoard run directory in the form of as_float32."""
    return sorted((step, *tag.split("/"), str(np.float32(value)))
                  for tag, points in event_scalars(directory).items() for step, value in points)


def pack_dir(dataset: str, ablation: str, pack: str) -> str:
    """A training job's output (a target for snakemake): the directory of one pack of seeds."""
    return f"results/runs/{dataset}/{ablation}/{pack}"


def seed_file(dataset: str, ablation: str, pack: str, seed: int, name: str) -> str:
    """metrics.csv or run.json of one seed, in its pack's directory."""
    return f"{pack_dir(dataset, ablation, pack)}/seed{seed}/{name}"


def assert_mean_run(directory: Path, curves, dataset: str, ablation: str) -> None:
    """`directory` is the TensorBoard run of `curves` (one ablation's seeds: seed, step, split,
    metric, value) with, at every step, the mean over the seeds with a finite value there under
    the seeds' own tag, and that mean with the seeds' min and max under the band tags.
    Computed here apart from the package; equal as TensorBoard's 32-bit floats allow."""
    scalars = event_scalars(directory)
    finite = curves[np.isfinite(curves["value"].astype(float))]
    expected = finite.groupby(["split", "metric", "step"])["value"].agg(["mean", "min", "max"])
    curve_names = sorted(set(expected.index.droplevel("step")))
    assert curve_names, "no finite values to average"
    band_tags = [f"band/{dataset}/{ablation}/{s}/{m}/{stat}" for s, m in curve_names
                 for stat in ("mean", "min", "max")]
    assert sorted(scalars) == sorted([f"{s}/{m}" for s, m in curve_names] + band_tags)
    for split, metric in curve_names:
        want = expected.loc[(split, metric)]
        for tag, stat in [(f"{split}/{metric}", "mean")] + [
                (f"band/{dataset}/{ablation}/{split}/{metric}/{s}", s) for s in want.columns]:
            steps, values = zip(*scalars[tag])
            assert list(steps) == list(want.index), tag  # every step once, in order
            np.testing.assert_allclose(values, want[stat].to_numpy(), rtol=1e-6, err_msg=tag)


def read_layout(directory: Path):
    """The custom-scalars layout that one TensorBoard run directory holds."""
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata
    events = read_events(directory).Tensors(metadata.CONFIG_SUMMARY_TAG)
    assert len(events) == 1
    return layout_pb2.Layout.FromString(events[0].tensor_proto.string_val[0])
