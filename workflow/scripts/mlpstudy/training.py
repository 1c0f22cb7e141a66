"""One training run of the protocol, top to bottom.

The whole dataset lives on the device as one float tensor; batches are slices
of a seeded `torch.randperm`; evaluation covers the full train and test sets in
large chunks. Per-step losses stay on the device and are read back only at
evaluations, so a GPU never waits on the host inside an epoch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .files import save_atomic
from .models import count_parameters, seeded_mlp
from .evaluation import evaluate_module
from .objective import criterion, optimizer, penalised
from .packed import PackedMLP

# Training steps below this many FLOPs run on one thread: thread synchronisation
# costs more than it saves. On a 2-core CPU the report's step (batch 64, 203k
# parameters, 78 MFLOP) took 1.4 ms on 1 thread and 2.5 ms on 2; from hidden 784
# (240 MFLOP) the two tie and hidden 2048 (625 MFLOP) gains from 2 (7.6 vs 9.8 ms).
SINGLE_THREAD_STEP_FLOP = 300e6


class Diverged(RuntimeError):
    """Raised instead of recording a diverged run when on_divergence is 'fail'."""


@dataclass
class RunResult:
    rows: list = field(default_factory=list)  # (step, epoch, split, metric, value)
    status: str = "ok"
    diverged_at_step: int | None = None
    steps: int = 0
    param_count: int = 0
    final: dict = field(default_factory=dict)
    resumed_from_step: int = 0
    seconds: float = 0.0  # training time (of the whole pack when its seeds train batched)
    model: torch.nn.Module | None = None  # the trained model (the XOR figure draws its boundary)


def to_device(data: dict, device: torch.device) -> dict:
    """Inputs scaled to [0, 1] as float32 on the device, labels as int64."""
    out = {}
    for split in ("train", "test"):
        x = data[f"{split}_x"].to(device)
        out[f"{split}_x"] = x.float().mul_(data["scale"]).reshape(len(x), -1)
        out[f"{split}_y"] = data[f"{split}_y"].to(device)
    return out


class SingleModel:
    """One seed's model, optimizer and dropout generator: the pack-of-one that the loop drives.

    This is the CPU path (and seeds_per_job: 1 anywhere): nn.Linear's kernels, oneDNN
    evaluation, and one thread for small training steps, all threads for evaluations.
    """

    def __init__(self, hp: dict, in_features: int, classes: int, seed: int, device: torch.device):
        module, self.generator = seeded_mlp(hp, in_features, classes, seed, device)
        self.module = module.to(device)
        self.hp, self.loss_fn = hp, criterion(hp, classes)
        self.optimizer = optimizer(hp, self.module.parameters())
        self.param_count = count_parameters(self.module)
        self.eval_threads = torch.get_num_threads()
        step_flop = 6 * hp["batch_size"] * self.param_count  # forward + backward
        self.step_threads = 1 if step_flop < SINGLE_THREAD_STEP_FLOP else self.eval_threads

    def train_step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One SGD step on rows idx[0] of (x, y); returns the batch loss, shape (1,), on the device."""
        torch.set_num_threads(self.step_threads)  # ~0.1 us: cheap enough for every step
        idx = idx[0]
        loss = self.loss_fn(self.module(x[idx]), y[idx])
        objective = penalised(loss, self.module.parameters(), self.hp)
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        return loss.detach().view(1)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        torch.set_num_threads(self.eval_threads)
        loss, accuracy = evaluate_module(self.module, x, y, self.loss_fn)
        return [loss], [accuracy]

    def state_dict(self) -> dict:
        return {"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                "dropout": [self.generator.get_state()]}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["dropout"][0])


def train(hp: dict, data: dict, seed: int, device: torch.device, *,
          on_divergence: str = "record", checkpoint: str | Path | None = None,
          log: Callable[[str], None] = print) -> RunResult:
    """Train one model of hyper-parameters `hp` on prepared `data`; return its curves."""
    tensors = to_device(data, device)
    model = SingleModel(hp, tensors["train_x"].shape[1], data["classes"], seed, device)
    (result,) = fit(model, hp, tensors, [seed], on_divergence=on_divergence,
                    checkpoint=checkpoint, log=log)
    result.model = model.module
    return result


def train_pack(hp: dict, data: dict, seeds: list[int], device: torch.device, *,
               on_divergence: str = "record", checkpoints: dict | None = None,
               batched: bool | None = None, log: Callable[[str], None] = print,
               should_stop: Callable[[], bool] | None = None,
               curves: Callable[[int], object] | None = None) -> list[RunResult]:
    """Train each of `seeds` with hyper-parameters `hp`; one RunResult per seed, in order.

    Batched (the default on a GPU): all seeds as one stacked model (mlpstudy.packed),
    checkpointed together under checkpoints["pack"]. Otherwise (the default on a CPU,
    where batched matmuls measured no faster) one seed after another in this process,
    each exactly the run it is alone, checkpointed under checkpoints[seed].
    The log gets a progress line at every tenth of the pack's steps; `curves(seed)`, if
    given, is where a seed's rows go as they are recorded (mlpstudy.live).
    """
    checkpoints = checkpoints or {}
    tensors = to_device(data, device)
    in_features, classes = tensors["train_x"].shape[1], data["classes"]
    steps = planned_steps(hp, len(tensors["train_x"]))
    options = dict(on_divergence=on_divergence, log=log, should_stop=should_stop, curves=curves)
    if device.type == "cuda" if batched is None else batched:
        model = PackedMLP(hp, in_features, classes, seeds, device, log=log)
        progress = Progress(seeds, steps, "batched", log)
        return fit(model, hp, tensors, seeds, checkpoint=checkpoints.get("pack"),
                   progress=progress, **options)
    results = []
    progress = Progress(seeds, steps * len(seeds), "one after another", log)
    for seed in seeds:
        model = SingleModel(hp, in_features, classes, seed, device)
        results += fit(model, hp, tensors, [seed], checkpoint=checkpoints.get(seed),
                       progress=progress, **options)
    return results


def planned_steps(hp: dict, rows: int) -> int:
    """Training steps of one run over `rows` training rows: every epoch, or max_steps."""
    steps = hp["epochs"] * math.ceil(rows / hp["batch_size"])
    return min(steps, hp["max_steps"]) if hp["max_steps"] else steps


class Progress:
    """A pack's progress as a line in its job's log at every tenth of its training steps:
    its seeds, step/total, steps per second, elapsed time and the time left at that rate.
    Steps a resumed job had done before, or that a diverged run will not take, count as
    done but not towards the rate."""

    def __init__(self, seeds: list[int], total: int, how: str, log: Callable[[str], None]):
        self.seeds, self.total, self.how, self.log = list(seeds), max(total, 1), how, log
        self.done = self.skipped = 0
        self.tenths = 0  # tenths of the total reported so far
        self.started = time.perf_counter()

    def advance(self) -> None:
        self.done += 1
        if 10 * self.done >= (self.tenths + 1) * self.total:
            self.report()

    def skip(self, steps: int) -> None:
        self.done, self.skipped = self.done + steps, self.skipped + steps
        if self.done >= self.total and self.tenths < 10:
            self.report()
        self.tenths = max(self.tenths, 10 * self.done // self.total)

    def report(self) -> None:
        self.tenths = 10 * self.done // self.total
        elapsed = time.perf_counter() - self.started
        rate = (self.done - self.skipped) / elapsed if elapsed > 0 else 0.0
        left = (f"about {_duration((self.total - self.done) / rate)} left" if rate
                else "time left unknown")
        self.log(f"progress: seeds {', '.join(map(str, self.seeds))} ({len(self.seeds)}, "
                 f"{self.how}): step {self.done}/{self.total} "
                 f"({100 * self.done / self.total:.0f}%), {rate:.1f} steps/s, "
                 f"{_duration(elapsed)} elapsed, {left}")


def _duration(seconds: float) -> str:
    if seconds < 100:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 6000 else f"{seconds / 3600:.1f} h"


def _load_checkpoint(checkpoint, hp: dict, seeds: list, device, log) -> dict | None:
    """The saved state of this very run (same hyper-parameters and seeds), if any."""
    if not checkpoint or not Path(checkpoint).exists():
        return None
    try:
        state = torch.load(checkpoint, weights_only=True, map_location=device)
    except Exception as exc:  # damaged (e.g. a disk filled up): start over, say so
        log(f"ignoring unreadable checkpoint {checkpoint}: {exc}")
        return None
    return state if state.get("hp") == hp and state.get("seeds") == list(seeds) else None


def fit(model, hp: dict, tensors: dict, seeds: list[int], *, on_divergence: str = "record",
        checkpoint: str | Path | None = None, log: Callable[[str], None] = print,
        should_stop: Callable[[], bool] | None = None, progress: Progress | None = None,
        curves: Callable[[int], object] | None = None) -> list[RunResult]:
    """The training loop over the members of `model` (a SingleModel or a PackedMLP), one per seed.

    Each member has its own batch order (a CPU generator of its seed) and its own record.
    A member whose loss turns NaN/inf stops being recorded at that step; the others go on.
    With a `checkpoint` path the loop saves its whole state every hp["checkpoint_every"]
    steps and resumes from it; when `should_stop()` turns true (SIGTERM) it saves the
    current step and raises Interrupted. `progress` counts the steps; `curves(seed)` gets
    each member's rows as they are recorded (see train_pack).
    """
    threads = torch.get_num_threads()  # a SingleModel switches them; the caller gets them back
    loop = None
    try:
        loop = _Loop(model, hp, tensors, seeds, checkpoint, log, progress, curves)
        loop.run(should_stop or (lambda: False))
        return _finish(loop.results, hp, seeds, on_divergence, loop.say)
    finally:
        torch.set_num_threads(threads)
        if loop is not None:
            loop.close_curves()


class Interrupted(RuntimeError):
    """Training was asked to stop (SIGTERM) and saved a checkpoint of its current step."""


class _Loop:
    """One training loop's position (epoch, step, batch order) and each member's record."""

    def __init__(self, model, hp: dict, tensors: dict, seeds: list[int], checkpoint, log,
                 progress: Progress | None = None, curves=None):
        self.model, self.hp, self.tensors, self.seeds = model, hp, tensors, list(seeds)
        self.checkpoint, self.log = checkpoint, log
        self.progress = progress or Progress(seeds, 0, "", lambda _: None)
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
        self.resumed = _load_checkpoint(checkpoint, hp, seeds, tensors["train_x"].device, log)
        if self.resumed is not None:
            self._resume(self.resumed)
        self.progress.skip(self.step)
        self.curves = [curves(seed) if curves else None for seed in seeds]
        for member_curves, result in zip(self.curves, self.results):
            if member_curves is not None:
                member_curves.restart(result.rows)

    def record(self, i: int, rows: list) -> None:
        """Member i's new rows: into its result, and to its live curves."""
        self.results[i].rows += rows
        if self.curves[i] is not None:
            self.curves[i].add(rows)

    def close_curves(self) -> None:
        for member_curves in self.curves:
            if member_curves is not None:
                member_curves.close()

    def _resume(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for generator, saved in zip(self.shuffles, state["shuffles"]):
            generator.set_state(saved)  # the epoch's order is drawn again, the same
        for result, saved in zip(self.results, state["results"]):
            result.rows = [tuple(r) for r in saved["rows"]]
            result.diverged_at_step, result.steps = saved["diverged_at_step"], saved["steps"]
            result.resumed_from_step = state["step"]
        self.active, self.epoch, self.step = list(state["active"]), state["epoch"], state["step"]
        for say in self.say:
            say(f"resumed from checkpoint at step {self.step} "
                f"(epoch {self.step / self.steps_per_epoch:.2f})")

    def run(self, should_stop: Callable[[], bool]) -> None:
        started = time.perf_counter()
        if self.step == 0:
            self.record_eval()
            self.stop_diverged()
        self.batch_losses = torch.zeros(self.hp["eval_every"], len(self.seeds),
                                        device=self.tensors["train_x"].device)
        self.pending = 0
        while self.active and self.step < self.total_steps and self.epoch < self.hp["epochs"]:
            self.train_epoch(should_stop)
            self.log(f"epoch {self.epoch}/{self.hp['epochs']} done in "
                     f"{time.perf_counter() - started:.1f} s")
        for i in self.active:
            self.results[i].steps = self.step
        self.progress.skip(self.total_steps - self.step)  # where every member diverged early
        if self.checkpoint and (self.resumed is None or self.step > self.resumed["step"]):
            # Finished: a job that dies before writing its outputs (e.g. in a pack's next
            # seed) gets this run back from its checkpoint instead of training it again.
            self.active = []
            self.save()
        for result in self.results:
            result.seconds = time.perf_counter() - started

    def train_epoch(self, should_stop: Callable[[], bool]) -> None:
        hp, x, y = self.hp, self.tensors["train_x"], self.tensors["train_y"]
        self.order_states = [g.get_state() for g in self.shuffles]
        order = torch.stack([torch.randperm(self.n, generator=g) for g in self.shuffles])
        order = order.to(x.device)
        done = self.step - self.epoch * self.steps_per_epoch  # steps before a resume
        for start in range(done * hp["batch_size"], self.n, hp["batch_size"]):
            if self.step >= self.total_steps:
                break
            batch = order[:, start:start + hp["batch_size"]]
            self.batch_losses[self.pending] = self.model.train_step(x, y, batch)
            self.pending += 1
            self.step += 1
            self.progress.advance()
            if self.step % hp["eval_every"] == 0 or self.step == self.total_steps:
                self.flush()
                self.record_eval()
                self.stop_diverged()
                if not self.active:
                    return
            if start + hp["batch_size"] < self.n:  # the epoch's last step: after its end
                self.checkpoint_or_stop(should_stop)
        # The epoch's last steps: their losses, and members that diverged among them stop.
        self.flush()
        self.stop_diverged()
        self.epoch += 1
        self.checkpoint_or_stop(should_stop)

    def checkpoint_or_stop(self, should_stop: Callable[[], bool]) -> None:
        """Every checkpoint_every steps a checkpoint; when asked to stop, one and Interrupted."""
        if self.step >= self.total_steps or not self.active:
            return
        every, stop = self.hp.get("checkpoint_every"), should_stop()
        if self.checkpoint and (stop or (every and self.step % every == 0)):
            self.flush()
            self.save()
        if stop:
            raise Interrupted(f"stopped at step {self.step}"
                              + (f"; checkpoint {self.checkpoint} saved" if self.checkpoint else ""))

    def record_eval(self) -> None:
        """Append each active member's train/test loss and accuracy; NaN/inf marks divergence."""
        step, tensors = self.step, self.tensors
        epoch = round(step / self.steps_per_epoch, 4)
        values = {split: self.model.evaluate(tensors[f"{split}_x"], tensors[f"{split}_y"])
                  for split in ("train", "test")}
        for i in self.active:
            (tr_loss, tr_acc), (te_loss, te_acc) = [(v[0][i], v[1][i]) for v in values.values()]
            self.record(i, [(step, epoch, "train", "loss", tr_loss),
                            (step, epoch, "train", "accuracy", tr_acc),
                            (step, epoch, "test", "loss", te_loss),
                            (step, epoch, "test", "accuracy", te_acc)])
            self.say[i](f"step {step}/{self.total_steps} epoch {epoch:.2f}  train loss "
                        f"{tr_loss:.4f} acc {tr_acc:.4f}  test loss {te_loss:.4f} acc {te_acc:.4f}")
            if not (math.isfinite(tr_loss) and math.isfinite(te_loss)):
                if self.results[i].diverged_at_step is None:
                    self.results[i].diverged_at_step = step

    def flush(self) -> None:
        """Record the pending per-step losses; a member's first NaN/inf loss is where it
        diverged, and it records no step after it (it stops at the next evaluation or
        epoch end, wherever this flush happened: checkpoints never change the curves)."""
        if not self.pending:
            return
        values = self.batch_losses[:self.pending].tolist()  # the only host sync between evaluations
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

    def save(self) -> None:
        """The whole state. Mid-epoch, the batch order is saved as the generators' states
        before it was drawn (a resume draws it again); between epochs, as they are now."""
        between_epochs = self.step == self.epoch * self.steps_per_epoch
        shuffles = [g.get_state() for g in self.shuffles] if between_epochs else self.order_states
        save_atomic({"hp": self.hp, "seeds": self.seeds, "epoch": self.epoch, "step": self.step,
                     "model": self.model.state_dict(), "shuffles": shuffles,
                     "active": list(self.active),
                     "results": [{"rows": r.rows, "diverged_at_step": r.diverged_at_step,
                                  "steps": r.steps} for r in self.results]}, self.checkpoint)


def _finish(results, hp, seeds, on_divergence, say) -> list[RunResult]:
    """Statuses and final values; a diverged member fails the job if on_divergence says so."""
    for i, result in enumerate(results):
        evals = {(split, metric): value for (_, _, split, metric, value) in result.rows
                 if split != "batch"}
        result.final = {f"{split}_{metric}": value for (split, metric), value in evals.items()}
        if result.diverged_at_step is None:
            continue
        result.status = "diverged"
        message = (f"run diverged: the loss became NaN or inf at step {result.diverged_at_step} "
                   f"(lr={hp['lr']}); lower the learning rate of this ablation")
        if on_divergence == "fail":
            raise Diverged(f"seed {seeds[i]}: {message} (or set on_divergence: record to keep going)")
        say[i](message)
    return results
