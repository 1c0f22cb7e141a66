"""The training loop: a pack of seeds of one ablation, from prepared data to each seed's curves.

`train_pack` is a training job's work; `loop` is the loop itself, top to bottom like
pytorch/examples' mnist train(): each epoch a seeded batch order, a step per batch, an
evaluation every eval_every steps, a checkpoint every checkpoint_every steps. The whole
dataset lives on the device as one float tensor; batches are slices of a seeded
`torch.randperm`; evaluation covers the full train and test sets, and keeps the class predicted
for each test example (mlpstudy.predictions). Per-step losses stay on
the device and are read back only at evaluations, so a GPU never waits on the host inside
an epoch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .checkpoints import save_state, saved_state
from .devices import trains_batched
from .flops import planned_steps
from .live import Progress
from .packed import PackedMLP
from .single import SingleMLP


class Diverged(RuntimeError):
    """Raised instead of recording a diverged run when on_divergence is 'fail'."""


class Interrupted(RuntimeError):
    """Training was asked to stop (SIGTERM) and saved a checkpoint of its current step."""


@dataclass
class RunResult:
    rows: list = field(default_factory=list)  # (step, epoch, split, metric, value)
    # (step, the class predicted for each test example) at each evaluation (mlpstudy.predictions)
    predictions: list = field(default_factory=list)
    status: str = "ok"
    diverged_at_step: int | None = None
    steps: int = 0
    param_count: int = 0
    final: dict = field(default_factory=dict)
    resumed_from_step: int = 0
    seconds: float = 0.0  # training time (of the whole pack when its seeds train batched)
    # Matmul FLOPs this process computed for the run, and the rate it achieved (the pack's
    # when batched); filled in by the training job (flops.record_flops), None where unknown.
    flop: float | None = None
    flop_rate: float | None = None
    model: torch.nn.Module | None = None  # the trained model, from train_seed (XOR figure)


def to_device(data: dict, device: torch.device) -> dict:
    """Inputs scaled to [0, 1] as float32 on the device, labels as int64."""
    out = {}
    for split in ("train", "test"):
        x = data[f"{split}_x"].to(device)
        out[f"{split}_x"] = x.float().mul_(data["scale"]).reshape(len(x), -1)
        out[f"{split}_y"] = data[f"{split}_y"].to(device)
    return out


def train_pack(hp: dict, data: dict, seeds: list[int], device: torch.device, *,
               batched: bool | None = None, on_divergence: str = "record",
               checkpoints: dict | None = None, log: Callable[[str], None] = print,
               should_stop: Callable[[], bool] | None = None,
               curves: Callable[[int], object] | None = None) -> list[RunResult]:
    """Train each of `seeds` with hyper-parameters `hp` on prepared `data`; one RunResult
    per seed, in order.

    Batched (by default where devices.trains_batched says so: a GPU): all seeds as one
    stacked model (mlpstudy.packed), checkpointed together under checkpoints["pack"].
    Otherwise one seed after another in this process, each exactly the run it is alone
    (mlpstudy.single), checkpointed under checkpoints[seed]. The log gets a progress line at
    every tenth of the pack's steps; `curves(seed)`, if given, is where a seed's rows go as
    they are recorded (mlpstudy.live).
    """
    checkpoints = checkpoints or {}
    tensors = to_device(data, device)
    in_features, classes = tensors["train_x"].shape[1], data["classes"]
    steps = planned_steps(hp, len(tensors["train_x"]))
    options = dict(on_divergence=on_divergence, log=log, should_stop=should_stop, curves=curves)
    if trains_batched(device) if batched is None else batched:
        model = PackedMLP(hp, in_features, classes, seeds, device, log=log)
        progress = Progress(seeds, steps, "batched", log)
        return loop(model, hp, tensors, seeds, checkpoint=checkpoints.get("pack"),
                    progress=progress, **options)
    results = []
    progress = Progress(seeds, steps * len(seeds), "one after another", log)
    for seed in seeds:
        model = SingleMLP(hp, in_features, classes, seed, device)
        results += loop(model, hp, tensors, [seed], checkpoint=checkpoints.get(seed),
                        progress=progress, **options)
    return results


def train_seed(hp: dict, data: dict, seed: int, device: torch.device, *,
               checkpoint: str | Path | None = None, **options) -> RunResult:
    """One seed alone, never batched (its pack's CPU path, on any device); its result keeps
    the trained model. `options` are loop's."""
    tensors = to_device(data, device)
    model = SingleMLP(hp, tensors["train_x"].shape[1], data["classes"], seed, device)
    (result,) = loop(model, hp, tensors, [seed], checkpoint=checkpoint, **options)
    result.model = model.module
    return result


def loop(model, hp: dict, tensors: dict, seeds: list[int], *,
         checkpoint: str | Path | None = None, progress: Progress | None = None,
         on_divergence: str = "record", log: Callable[[str], None] = print,
         should_stop: Callable[[], bool] | None = None,
         curves: Callable[[int], object] | None = None) -> list[RunResult]:
    """The training loop over the members of `model` (a SingleMLP, or a PackedMLP of one
    member per seed); one RunResult per seed.

    Each member has its own batch order (a CPU generator of its seed) and its own record.
    A member whose loss turns NaN/inf stops being recorded at that step; the others go on.
    With a `checkpoint` path the loop saves its whole state every hp["checkpoint_every"]
    steps and resumes from it; when `should_stop()` turns true (SIGTERM) it saves the
    current step and raises Interrupted. `progress` counts the steps; `curves(seed)` gets
    each member's rows as they are recorded (see train_pack).
    """
    x, y = tensors["train_x"], tensors["train_y"]
    n, batch_size = len(x), hp["batch_size"]
    progress = progress or Progress(seeds, 0, "", lambda _: None)
    should_stop = should_stop or (lambda: False)
    threads = torch.get_num_threads()  # a SingleMLP switches them; the caller gets them back
    run = _Run(model, hp, tensors, seeds, log)
    try:
        resumed = saved_state(checkpoint, hp, seeds, x.device, log)
        if resumed is not None:
            run.resume(resumed)
        progress.skip(run.step)
        run.start_curves(curves)
        started = time.perf_counter()
        if run.step == 0:
            run.evaluate()
        while run.active and run.step < run.total_steps and run.epoch < hp["epochs"]:
            order = run.draw_order()
            # From the first batch, or from where a resumed run stopped in this epoch.
            for start in range(run.step_in_epoch() * batch_size, n, batch_size):
                if run.step >= run.total_steps:
                    break
                batch = order[:, start:start + batch_size]
                run.losses[run.pending] = model.train_step(x, y, batch)
                run.pending += 1
                run.step += 1
                progress.advance()
                if run.step % hp["eval_every"] == 0 or run.step == run.total_steps:
                    run.evaluate()
                    if not run.active:
                        break
                if start + batch_size < n:  # the epoch's last step: after its end
                    run.checkpoint_or_stop(checkpoint, should_stop)
            if run.active:  # the epoch's last steps: their losses; who diverged there stops
                run.flush()
                run.stop_diverged()
                run.epoch += 1
                run.checkpoint_or_stop(checkpoint, should_stop)
            log(f"epoch {run.epoch}/{hp['epochs']} done in {time.perf_counter() - started:.1f} s")
        for i in run.active:
            run.results[i].steps = run.step
        progress.skip(run.total_steps - run.step)  # where every member diverged early
        if checkpoint and (resumed is None or run.step > resumed["step"]):
            # Finished: a job that dies before writing its outputs (e.g. in a pack's next
            # seed) gets this run back from its checkpoint instead of training it again.
            run.active = []
            run.save(checkpoint)
        for result in run.results:
            result.seconds = time.perf_counter() - started
        return _finish(run.results, hp["lr"], seeds, on_divergence, run.say)
    finally:
        torch.set_num_threads(threads)
        run.close_curves()


class _Run:
    """The loop's position (epoch, step, each member's batch order) and each member's record:
    what a checkpoint holds."""

    def __init__(self, model, hp: dict, tensors: dict, seeds: list[int], log):
        self.model, self.hp, self.tensors, self.seeds = model, hp, tensors, list(seeds)
        self.n = len(tensors["train_x"])
        self.steps_per_epoch = math.ceil(self.n / hp["batch_size"])
        self.total_steps = planned_steps(hp, self.n)
        self.results = [RunResult(param_count=model.param_count) for _ in seeds]
        # CPU generators: the same batch order on any device.
        self.shuffles = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.order_states = [g.get_state() for g in self.shuffles]  # before the epoch's order
        self.active = list(range(len(seeds)))
        self.step = self.epoch = 0
        self.say = [lambda line, seed=seed: log(f"seed {seed}: {line}") for seed in seeds]
        self.curves = [None] * len(seeds)
        # Each step's losses, on the device until the next evaluation reads them (flush).
        self.losses = torch.zeros(hp["eval_every"], len(seeds), device=tensors["train_x"].device)
        self.pending = 0

    def resume(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for generator, saved in zip(self.shuffles, state["shuffles"]):
            generator.set_state(saved)  # the epoch's order is drawn again, the same
        for result, saved in zip(self.results, state["results"]):
            result.rows = [tuple(r) for r in saved["rows"]]
            result.predictions = list(zip(saved["prediction_steps"], saved["predicted"]))
            result.diverged_at_step, result.steps = saved["diverged_at_step"], saved["steps"]
            result.resumed_from_step = state["step"]
        self.active, self.epoch, self.step = list(state["active"]), state["epoch"], state["step"]
        for say in self.say:
            say(f"resumed from checkpoint at step {self.step} "
                f"(epoch {self.step / self.steps_per_epoch:.2f})")

    def start_curves(self, curves: Callable[[int], object] | None) -> None:
        """Each member's live curves, started over with the rows it has (a resumed run's)."""
        self.curves = [curves(seed) if curves else None for seed in self.seeds]
        for member_curves, result in zip(self.curves, self.results):
            if member_curves is not None:
                member_curves.restart(result.rows)

    def close_curves(self) -> None:
        for member_curves in self.curves:
            if member_curves is not None:
                member_curves.close()

    def draw_order(self) -> torch.Tensor:
        """This epoch's batch order of every member, (members, rows), on the data's device."""
        self.order_states = [g.get_state() for g in self.shuffles]
        order = torch.stack([torch.randperm(self.n, generator=g) for g in self.shuffles])
        return order.to(self.tensors["train_x"].device)

    def step_in_epoch(self) -> int:
        """Steps already taken in the current epoch (none, unless resumed mid-epoch)."""
        return self.step - self.epoch * self.steps_per_epoch

    def record(self, i: int, rows: list) -> None:
        """Member i's new rows: into its result, and to its live curves."""
        self.results[i].rows += rows
        if self.curves[i] is not None:
            self.curves[i].add(rows)

    def evaluate(self) -> None:
        """Record the pending step losses, then each active member's train/test loss and
        accuracy; NaN/inf marks divergence, and who diverged stops here."""
        self.flush()
        step, tensors = self.step, self.tensors
        epoch = round(step / self.steps_per_epoch, 4)
        values = {split: self.model.evaluate(tensors[f"{split}_x"], tensors[f"{split}_y"],
                                             predictions=split == "test")
                  for split in ("train", "test")}
        for i in self.active:
            (tr_loss, tr_acc), (te_loss, te_acc) = [(v[0][i], v[1][i]) for v in values.values()]
            self.results[i].predictions.append((step, values["test"][2][i].clone()))
            self.record(i, [(step, epoch, "train", "loss", tr_loss),
                            (step, epoch, "train", "accuracy", tr_acc),
                            (step, epoch, "test", "loss", te_loss),
                            (step, epoch, "test", "accuracy", te_acc)])
            self.say[i](f"step {step}/{self.total_steps} epoch {epoch:.2f}  train loss "
                        f"{tr_loss:.4f} acc {tr_acc:.4f}  test loss {te_loss:.4f} acc {te_acc:.4f}")
            if not (math.isfinite(tr_loss) and math.isfinite(te_loss)):
                if self.results[i].diverged_at_step is None:
                    self.results[i].diverged_at_step = step
        self.stop_diverged()

    def flush(self) -> None:
        """Record the pending per-step losses; a member's first NaN/inf loss is where it
        diverged, and it records no step after it (it stops at the next evaluation or
        epoch end, wherever this flush happened: checkpoints never change the curves)."""
        if not self.pending:
            return
        values = self.losses[:self.pending].tolist()  # the only host sync between evaluations
        first_step = self.step - self.pending + 1
        for i in self.active:
            result, rows = self.results[i], []
            for k, row in enumerate(values):
                if result.diverged_at_step is not None:
                    break
                s = first_step + k
                rows.append((s, round(s / self.steps_per_epoch, 4), "batch", "loss", row[i]))
                if not math.isfinite(row[i]):
                    result.diverged_at_step = s
            self.record(i, rows)
        self.pending = 0

    def stop_diverged(self) -> None:
        """Members that diverged stop here: no more rows (a pack's others train on)."""
        for i in [i for i in self.active if self.results[i].diverged_at_step is not None]:
            self.results[i].steps = self.step
            self.active.remove(i)

    def checkpoint_or_stop(self, checkpoint, should_stop: Callable[[], bool]) -> None:
        """Every checkpoint_every steps a checkpoint; when asked to stop, one and Interrupted."""
        if self.step >= self.total_steps or not self.active:
            return
        every, stop = self.hp["checkpoint_every"], should_stop()
        if checkpoint and (stop or (every and self.step % every == 0)):
            self.flush()
            self.save(checkpoint)
        if stop:
            raise Interrupted(f"stopped at step {self.step}"
                              + (f"; checkpoint {checkpoint} saved" if checkpoint else ""))

    def save(self, checkpoint) -> None:
        """The whole state. Mid-epoch, the batch order is saved as the generators' states
        before it was drawn (a resume draws it again); between epochs, as they are now."""
        between_epochs = self.step == self.epoch * self.steps_per_epoch
        shuffles = [g.get_state() for g in self.shuffles] if between_epochs else self.order_states
        save_state(checkpoint, self.hp, self.seeds, {
            "epoch": self.epoch, "step": self.step, "model": self.model.state_dict(),
            "shuffles": shuffles, "active": list(self.active),
            "results": [{"rows": r.rows, "diverged_at_step": r.diverged_at_step,
                         "steps": r.steps, "prediction_steps": [s for s, _ in r.predictions],
                         "predicted": [p for _, p in r.predictions]} for r in self.results]})


def _finish(results, lr, seeds, on_divergence, say) -> list[RunResult]:
    """Statuses and final values; a diverged member fails the job if on_divergence says so."""
    for i, result in enumerate(results):
        evals = {(split, metric): value for (_, _, split, metric, value) in result.rows
                 if split != "batch"}
        result.final = {f"{split}_{metric}": value for (split, metric), value in evals.items()}
        if result.diverged_at_step is None:
            continue
        result.status = "diverged"
        message = (f"run diverged: the loss became NaN or inf at step {result.diverged_at_step} "
                   f"(lr={lr}); lower the learning rate of this ablation")
        if on_divergence == "fail":
            raise Diverged(f"seed {seeds[i]}: {message} (or set on_divergence: record to keep going)")
        say[i](message)
    return results
