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
import torch.nn.functional as F

from .data import save_atomic
from .models import SeededDropout, build_mlp, count_parameters
from .speed import SGD, SINGLE_THREAD_STEP_FLOP, evaluate


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


def criterion(hp: dict, classes: int) -> Callable:
    """loss(logits, y, reduction) for the configured loss.

    kl_div compares log_softmax with one-hot targets relaxed towards uniform;
    with smoothing 0 it equals cross-entropy (0*log 0 = 0), which a test checks.
    """
    if hp["loss"] == "cross_entropy":
        return lambda logits, y, reduction="mean": F.cross_entropy(logits, y, reduction=reduction)
    smoothing = hp["smoothing"]

    def kl_div(logits, y, reduction="mean"):
        # one_hot's values, built without its range check (a host sync a CUDA graph cannot take)
        one_hot = torch.zeros_like(logits).scatter_(1, y.unsqueeze(1), 1.0)
        target = one_hot * (1 - smoothing) + smoothing / classes
        if reduction == "none":  # one loss per row (a pack sums each member's rows itself)
            return F.kl_div(F.log_softmax(logits, dim=1), target, reduction="none").sum(dim=1)
        total = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="sum")
        return total / len(y) if reduction == "mean" else total

    return kl_div


def l2_penalty(model: torch.nn.Module, l2: float) -> torch.Tensor:
    # (l2/2)*sum(w^2) has gradient l2*w: exactly what SGD's weight_decay=l2 adds
    # to every gradient, so the `l2` and `weight_decay` ablations take the same steps.
    return 0.5 * l2 * sum(p.pow(2).sum() for p in model.parameters())


def to_device(data: dict, device: torch.device) -> dict:
    """Inputs scaled to [0, 1] as float32 on the device, labels as int64."""
    out = {}
    for split in ("train", "test"):
        x = data[f"{split}_x"].to(device)
        out[f"{split}_x"] = x.float().mul_(data["scale"]).reshape(len(x), -1)
        out[f"{split}_y"] = data[f"{split}_y"].to(device)
    return out


def dropout_generator(device: torch.device) -> torch.Generator:
    """The run's own dropout generator; call it right after building the run's model.

    On a CPU it continues the global stream where the weight initialisation left it
    (the masks torch's own dropout would draw); on a GPU it is the device's stream
    of the run's seed (the weights are drawn on the CPU, so the two never overlap).
    """
    generator = torch.Generator(device)
    if device.type == "cpu":
        generator.set_state(torch.get_rng_state())
    else:
        generator.manual_seed(torch.initial_seed())
    return generator


class SingleModel:
    """One seed's model, optimizer and dropout generator: the pack-of-one that the loop drives.

    This is the CPU path (and seeds_per_job: 1 anywhere): nn.Linear's kernels, oneDNN
    evaluation, and one thread for small training steps, all threads for evaluations.
    """

    def __init__(self, hp: dict, in_features: int, classes: int, seed: int, device: torch.device):
        torch.manual_seed(seed)
        self.module = build_mlp(hp, in_features, classes).to(device)
        self.generator = dropout_generator(device)
        for layer in self.module.modules():
            if isinstance(layer, SeededDropout):
                layer.generator = self.generator
        self.hp, self.loss_fn = hp, criterion(hp, classes)
        self.optimizer = SGD(self.module.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                             weight_decay=hp["weight_decay"])
        self.param_count = count_parameters(self.module)
        self.eval_threads = torch.get_num_threads()
        step_flop = 6 * hp["batch_size"] * self.param_count  # forward + backward
        self.step_threads = 1 if step_flop < SINGLE_THREAD_STEP_FLOP else self.eval_threads

    def train_step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One SGD step on rows idx[0] of (x, y); returns the batch loss, shape (1,), on the device."""
        torch.set_num_threads(self.step_threads)  # ~0.1 us: cheap enough for every step
        idx = idx[0]
        loss = self.loss_fn(self.module(x[idx]), y[idx])
        objective = loss + l2_penalty(self.module, self.hp["l2"]) if self.hp["l2"] else loss
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()
        return loss.detach().view(1)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        torch.set_num_threads(self.eval_threads)
        loss, accuracy = evaluate(self.module, x, y, self.loss_fn)
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
               should_stop: Callable[[], bool] | None = None) -> list[RunResult]:
    """Train each of `seeds` with hyper-parameters `hp`; one RunResult per seed, in order.

    Batched (the default on a GPU): all seeds as one stacked model (mlpstudy.packed),
    checkpointed together under checkpoints["pack"]. Otherwise (the default on a CPU,
    where batched matmuls measured no faster) one seed after another in this process,
    each exactly the run it is alone, checkpointed under checkpoints[seed].
    """
    checkpoints = checkpoints or {}
    tensors = to_device(data, device)
    in_features, classes = tensors["train_x"].shape[1], data["classes"]
    if device.type == "cuda" if batched is None else batched:
        from .packed import PackedMLP
        model = PackedMLP(hp, in_features, classes, seeds, device, log=log)
        return fit(model, hp, tensors, seeds, on_divergence=on_divergence,
                   checkpoint=checkpoints.get("pack"), log=log, should_stop=should_stop)
    results = []
    for seed in seeds:
        model = SingleModel(hp, in_features, classes, seed, device)
        results += fit(model, hp, tensors, [seed], on_divergence=on_divergence,
                       checkpoint=checkpoints.get(seed), log=log, should_stop=should_stop)
    return results


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
        should_stop: Callable[[], bool] | None = None) -> list[RunResult]:
    """The training loop over the members of `model` (a SingleModel or a PackedMLP), one per seed.

    Each member has its own batch order (a CPU generator of its seed) and its own record.
    A member whose loss turns NaN/inf stops being recorded at that step; the others go on.
    With a `checkpoint` path the loop saves its whole state every hp["checkpoint_every"]
    steps and resumes from it; when `should_stop()` turns true (SIGTERM) it saves the
    current step and raises Interrupted.
    """
    threads = torch.get_num_threads()  # a SingleModel switches them; the caller gets them back
    try:
        loop = _Loop(model, hp, tensors, seeds, checkpoint, log)
        loop.run(should_stop or (lambda: False))
        return _finish(loop.results, hp, seeds, on_divergence, loop.say)
    finally:
        torch.set_num_threads(threads)


class Interrupted(RuntimeError):
    """Training was asked to stop (SIGTERM) and saved a checkpoint of its current step."""


class _Loop:
    """One training loop's position (epoch, step, batch order) and each member's record."""

    def __init__(self, model, hp: dict, tensors: dict, seeds: list[int], checkpoint, log):
        self.model, self.hp, self.tensors, self.seeds = model, hp, tensors, list(seeds)
        self.checkpoint, self.log = checkpoint, log
        self.n = len(tensors["train_x"])
        self.steps_per_epoch = math.ceil(self.n / hp["batch_size"])
        self.total_steps = hp["epochs"] * self.steps_per_epoch
        if hp["max_steps"]:
            self.total_steps = min(self.total_steps, hp["max_steps"])
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
            self.results[i].rows += [(step, epoch, "train", "loss", tr_loss),
                                     (step, epoch, "train", "accuracy", tr_acc),
                                     (step, epoch, "test", "loss", te_loss),
                                     (step, epoch, "test", "accuracy", te_acc)]
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
            result = self.results[i]
            for k, row in enumerate(values):
                if result.diverged_at_step is not None:
                    break
                s = first_step + k
                result.rows.append((s, round(s / self.steps_per_epoch, 4), "batch", "loss", row[i]))
                if not math.isfinite(row[i]):
                    result.diverged_at_step = s
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
