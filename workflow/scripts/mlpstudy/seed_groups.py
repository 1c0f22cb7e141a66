"""Seeds as one curve with its band in TensorBoard, as the summary page's curve figures draw them.

TensorBoard shows each seed's run (mlpstudy.live) but cannot group runs with their mean
(tensorflow/tensorboard#376). The workflow knows which runs are seeds of one ablation, so it
writes, beside them, one more run per dataset and ablation (live.mean_run_dir) with, at each
evaluated step, over the seeds that have a finite value there (aggregate.over_seeds: a
diverged seed's curve stops early):

- `{split}/{metric}`: the mean over seeds, under the seeds' own tags, so that TensorBoard's
  scalar charts draw it among its seeds;
- BAND_TAG with `mean`, `min` and `max`: the same mean with the min-max over seeds, the band of
  the curve figures. These tags name the dataset and ablation because a custom-scalars margin
  chart draws every selected run that has its three tags: tags of this run alone make one
  curve per ablation.

The layout run (live.LAYOUT_RUN) holds the custom-scalars layout: a category per dataset and
figure group (config `figure_groups`), a margin chart per panel of the group's figure, a
series per ablation. TensorBoard's Custom Scalars tab then shows the study as the summary
page draws it.

The mean run is written as seeds finish and complete at the end. The seed_group job writes
it over all of an ablation's seeds (FINAL_EVENT_FILE) as soon as they are done. Where the
ablation has several training jobs (seeds_per_job, adaptive seeds' rounds), each of them,
once its seeds are written, runs this module (`python -m mlpstudy.seed_groups`,
live.mean_so_far) for the mean over the seeds finished so far: in a process of its own, so
that this code is not one of the training job's code inputs (editing it retrains nothing).
The seed_group job removes those so-far files.

Each event file is written whole under a name without "tfevents" and renamed (files.py): a
TensorBoard watching the directory never reads a half-written one. TensorBoard reads a run's
files in name order, going forward only: the final name sorts after every so-far one, whose
names carry the time. Each file starts with a START at step 0, so a TensorBoard that showed
an earlier version of the run drops it.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .files import write_bytes_atomic
from .live import FINAL_EVENT_FILE, TAG

if TYPE_CHECKING:
    import pandas as pd

BAND_TAG = "band/{dataset}/{ablation}/{split}/{metric}/{stat}"
BAND_STATS = ("mean", "min", "max")  # a margin chart's value, lower and upper
_EVENT_FILE = "events.out.tfevents.{time:010d}.mlpstudy"
_SO_FAR_EVENT_FILE = "events.out.tfevents.{time:010d}.seeds-so-far"
_SO_FAR_FILES = "events.out.tfevents.*.seeds-so-far"
_TEMP_PREFIX = ".partial."  # no "tfevents": TensorBoard reads every file named so


def band_tag(dataset: str, ablation: str, split: str, metric: str, stat: str) -> str:
    return BAND_TAG.format(dataset=dataset, ablation=ablation, split=split, metric=metric,
                           stat=stat)


def seed_bands(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per split, metric and step of one ablation's curves (the metrics table: seed, step,
    split, metric, value), the mean, min and max over its seeds; steps no seed has a finite
    value at are left out."""
    # Imported here, as in _write_so_far: a training job's child that has nothing to write
    # (one job per ablation) then costs its start and the config's check alone.
    import pandas as pd

    from .aggregate import over_seeds, seed_curves

    bands = []
    for (split, metric), rows in metrics.groupby(["split", "metric"], sort=False):
        band = over_seeds(seed_curves(rows)).dropna(subset=["mean"])
        bands.append(band.rename_axis("step").reset_index().assign(split=split, metric=metric))
    columns = ["split", "metric", "step", *BAND_STATS]
    return pd.concat(bands, ignore_index=True)[columns] if bands else pd.DataFrame(columns=columns)


def write_mean_run(directory: str | Path, metrics: pd.DataFrame, dataset: str,
                   ablation: str, final: bool = True) -> Path:
    """The mean run of one ablation's seeds (`metrics`, see seed_bands) in `directory`: over
    all of them (`final`, FINAL_EVENT_FILE; the so-far files are removed), or over those
    finished so far (a new so-far file; the earlier ones and a final file from an earlier
    study, which the seed_group job will write anew, are removed)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    events = []
    for row in seed_bands(metrics).itertuples(index=False):
        values = [Summary.Value(tag=TAG.format(split=row.split, metric=row.metric),
                                simple_value=float(row.mean))]
        values += [Summary.Value(tag=band_tag(dataset, ablation, row.split, row.metric, stat),
                                 simple_value=float(getattr(row, stat))) for stat in BAND_STATS]
        events.append((int(row.step), Summary(value=values)))
    name = FINAL_EVENT_FILE if final else _SO_FAR_EVENT_FILE.format(time=int(time.time()))
    path = _write_event_file(directory, events, name)
    stale = [] if final else [Path(directory) / FINAL_EVENT_FILE]
    for old in [*Path(directory).glob(_SO_FAR_FILES), *stale]:
        if old != path:
            old.unlink(missing_ok=True)  # a training job beside this one may have done it
    return path


def _write_so_far(pack_dir: Path, mean_dir: Path, config: dict) -> str:
    """live.mean_so_far's child: the mean run over the finished seeds of the study's packs
    of the ablation whose runs are in `pack_dir`'s parent directory."""
    from .config import validate
    from .plan import round_packs

    rounds = round_packs(validate(config))
    if len(rounds) == 1 and len(rounds[0]) == 1:
        # This job was its ablation's only one: the seed_group job, next (its priority is
        # above the training jobs'), writes the same mean.
        return "mean over the seeds: written by the seed_group job next"
    from .aggregate import load_runs
    from .runs import runs_of_packs

    ablation_dir = pack_dir.parent
    dirs = [ablation_dir / name for rnd in rounds for name in rnd]
    # A pack still training beside this job has written none, some or all of its seeds:
    # a seed counts once its run.json (written last) is there.
    runs = [run for run in runs_of_packs([d for d in dirs if d.is_dir()])
            if Path(run["run"]).is_file()]
    metrics, final = load_runs(runs)
    path = write_mean_run(mean_dir, metrics, ablation_dir.parent.name, ablation_dir.name,
                          final=False)
    return f"mean so far, over seeds {', '.join(map(str, final['seed']))} -> {path.name}"


def layout(groups: dict[str, dict[str, list[str]]], panels) -> "layout_pb2.Layout":
    """The custom-scalars layout: for each dataset's figure groups (dataset -> group -> its
    ablations on that dataset), a category of margin charts, one per panel (split, metric,
    title, ...), each with a series per ablation."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    def chart(dataset, ablations, split, metric, title):
        return layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[
            layout_pb2.MarginChartContent.Series(
                **dict(zip(("value", "lower", "upper"),
                           (band_tag(dataset, a, split, metric, s) for s in BAND_STATS))))
            for a in ablations]))

    return layout_pb2.Layout(category=[
        layout_pb2.Category(
            title=f"{dataset}: {group} (mean over seeds, min-max band)",
            chart=[chart(dataset, ablations, split, metric, title)
                   for split, metric, title, *_ in panels])
        for dataset, dataset_groups in groups.items()
        for group, ablations in dataset_groups.items() if ablations])


def write_layout(directory: str | Path, study_layout) -> Path:
    """The layout run's event file (in `directory`): the layout as TensorBoard's plugin reads it."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.plugins.custom_scalar import metadata

    tensor = TensorProto(dtype="DT_STRING", tensor_shape=TensorShapeProto(),
                         string_val=[study_layout.SerializeToString()])
    value = Summary.Value(tag=metadata.CONFIG_SUMMARY_TAG, tensor=tensor,
                          metadata=metadata.create_summary_metadata())
    return _write_event_file(directory, [(0, Summary(value=[value]))])


def _write_event_file(directory: str | Path, events: list, name: str | None = None) -> Path:
    """One event file in `directory` with (step, Summary) `events`, written atomically
    (named `name`, or after the time)."""
    import io

    from tensorboard.compat.proto.event_pb2 import Event, SessionLog
    from tensorboard.summary.writer.record_writer import RecordWriter

    now = time.time()
    buffer = io.BytesIO()
    records = RecordWriter(buffer)
    records.write(Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
    records.write(Event(wall_time=now, step=0,
                        session_log=SessionLog(status=SessionLog.START)).SerializeToString())
    for step, summary in events:
        records.write(Event(wall_time=now, step=step, summary=summary).SerializeToString())
    path = Path(directory) / (name or _EVENT_FILE.format(time=int(now)))
    write_bytes_atomic(path, buffer.getvalue(), temp_prefix=_TEMP_PREFIX)
    return path


if __name__ == "__main__":  # live.mean_so_far's child: PACK_DIR MEAN_DIR, the config on stdin
    print(_write_so_far(Path(sys.argv[1]), Path(sys.argv[2]), json.load(sys.stdin)))
