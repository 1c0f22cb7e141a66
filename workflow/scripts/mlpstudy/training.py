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
from .models import build_mlp, count_parameters

# Rows per evaluation forward pass. Evaluation is ~95% of a run's arithmetic:
# chunks large enough for efficient matmuls, small enough to stay in cache on a
# CPU (measured best on a 2-core AVX-512 CPU); a GPU wants few, large launches.
EVAL_CHUNK = {"cpu": 4096, "cuda": 16_384}
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
    resumed_from_epoch: int = 0
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
        target = F.one_hot(y, classes).to(logits.dtype) * (1 - smoothing) + smoothing / classes
        total = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="sum")
        return total / len(y) if reduction == "mean" else total

    return kl_div


class SGD:
    """torch.optim.SGD's update (dampening 0, no Nesterov) without importing torch.optim's machinery.

    Building a torch.optim optimizer imports torch._dynamo on first use: ~160 MB of
    memory and ~1.5 s per training job, for compilation this loop never uses. The
    arithmetic is torch.optim.SGD's, op for op, so the steps are bitwise the same
    (tests/test_fast_path.py checks it against torch.optim.SGD).
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            if self.weight_decay != 0:
                grad = grad.add(p, alpha=self.weight_decay)
            if self.momentum != 0:
                if self.buffers[i] is None:
                    self.buffers[i] = torch.clone(grad).detach()
                else:
                    self.buffers[i].mul_(self.momentum).add_(grad, alpha=1)
                grad = self.buffers[i]
            p.add_(grad, alpha=-self.lr)

    def state_dict(self) -> dict:
        return {"momentum_buffers": list(self.buffers)}

    def load_state_dict(self, state: dict) -> None:
        self.buffers = list(state["momentum_buffers"])


def l2_penalty(model: torch.nn.Module, l2: float) -> torch.Tensor:
    # (l2/2)*sum(w^2) has gradient l2*w: exactly what SGD's weight_decay=l2 adds
    # to every gradient, so the `l2` and `weight_decay` ablations take the same steps.
    return 0.5 * l2 * sum(p.pow(2).sum() for p in model.parameters())


def _onednn_available() -> bool:
    try:
        return (torch.backends.mkldnn.is_available()
                and hasattr(torch.ops.mkldnn, "_linear_pointwise")
                and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))
    except (AttributeError, RuntimeError):
        return False


ONEDNN = _onednn_available()


def inference_forward(model: torch.nn.Module, device: torch.device, rows: int) -> Callable:
    """The model's eval-mode forward; on a CPU, its Linear layers through oneDNN.

    oneDNN's linear on weights packed once per evaluation, with a following ReLU
    fused in, ran the evaluation matmuls ~1.5x faster than aten's addmm (MKL) on
    a 2-core AVX-512 CPU; results differ only by float rounding (summation order).
    Anything else (no oneDNN, a GPU, other module types) runs as the model does.
    """
    if device.type != "cpu" or not ONEDNN or not isinstance(model, torch.nn.Sequential):
        return model
    layers, i = [], 0
    modules = list(model)
    while i < len(modules):
        module = modules[i]
        if isinstance(module, torch.nn.Linear):
            relu = i + 1 < len(modules) and isinstance(modules[i + 1], torch.nn.ReLU)
            packed = torch.ops.mkldnn._reorder_linear_weight(module.weight, rows)

            def linear(h, packed=packed, bias=module.bias, attr="relu" if relu else "none"):
                return torch.ops.mkldnn._linear_pointwise(h, packed, bias, attr, [], "")
            layers.append(linear)
            i += 2 if relu else 1
        else:
            layers.append(module)
            i += 1

    def forward(h):
        for layer in layers:
            h = layer(h)
        return h
    return forward


@torch.inference_mode()
def evaluate(model, x, y, loss_fn, chunk: int | None = None) -> tuple[float, float]:
    """Mean loss and accuracy over all of (x, y), in eval mode; restores train mode."""
    model.eval()
    chunk = chunk or EVAL_CHUNK.get(x.device.type, EVAL_CHUNK["cuda"])
    forward = inference_forward(model, x.device, chunk)
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for start in range(0, len(x), chunk):
        logits = forward(x[start:start + chunk])
        target = y[start:start + chunk]
        loss_sum += loss_fn(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    model.train()
    return loss_sum.item() / len(x), correct.item() / len(x)


def to_device(data: dict, device: torch.device) -> dict:
    """Inputs scaled to [0, 1] as float32 on the device, labels as int64."""
    out = {}
    for split in ("train", "test"):
        x = data[f"{split}_x"].to(device)
        out[f"{split}_x"] = x.float().mul_(data["scale"]).reshape(len(x), -1)
        out[f"{split}_y"] = data[f"{split}_y"].to(device)
    return out


def train(hp: dict, data: dict, seed: int, device: torch.device, *,
          on_divergence: str = "record", checkpoint: str | Path | None = None,
          log: Callable[[str], None] = print) -> RunResult:
    """Train one model of hyper-parameters `hp` on prepared `data`; return its curves."""
    torch.manual_seed(seed)
    tensors = to_device(data, device)
    train_x, train_y = tensors["train_x"], tensors["train_y"]
    model = build_mlp(hp, train_x.shape[1], data["classes"]).to(device)
    loss_fn = criterion(hp, data["classes"])
    optimizer = SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                    weight_decay=hp["weight_decay"])
    shuffle = torch.Generator().manual_seed(seed)  # CPU generator: same order on any device

    n = len(train_x)
    steps_per_epoch = math.ceil(n / hp["batch_size"])
    total_steps = hp["epochs"] * steps_per_epoch
    if hp["max_steps"]:
        total_steps = min(total_steps, hp["max_steps"])
    result = RunResult(param_count=count_parameters(model))
    step, first_epoch = 0, 0
    # Evaluations (big matmuls) use all of the job's threads; small steps use one.
    eval_threads = torch.get_num_threads()
    step_flop = 6 * hp["batch_size"] * result.param_count  # forward + backward
    step_threads = 1 if step_flop < SINGLE_THREAD_STEP_FLOP else eval_threads

    state = None
    if checkpoint and Path(checkpoint).exists():
        try:
            state = torch.load(checkpoint, weights_only=True, map_location=device)
        except Exception as exc:  # damaged (e.g. a disk filled up): start over, say so
            log(f"ignoring unreadable checkpoint {checkpoint}: {exc}")
    if state is not None and state["hp"] == hp and state["seed"] == seed:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle.set_state(state["shuffle"])
        torch.set_rng_state(state["cpu_rng"])
        result.rows = [tuple(r) for r in state["rows"]]
        first_epoch = result.resumed_from_epoch = state["epoch"]
        step = first_epoch * steps_per_epoch
        log(f"resumed from checkpoint at epoch {first_epoch} (step {step})")

    def record_eval(step: int) -> bool:
        """Append train/test loss and accuracy; False when the run has diverged."""
        epoch = round(step / steps_per_epoch, 4)
        values = {}
        torch.set_num_threads(eval_threads)
        for split in ("train", "test"):
            loss, acc = evaluate(model, tensors[f"{split}_x"], tensors[f"{split}_y"], loss_fn)
            values[split] = (loss, acc)
            result.rows += [(step, epoch, split, "loss", loss), (step, epoch, split, "accuracy", acc)]
        torch.set_num_threads(step_threads)
        log(f"step {step}/{total_steps} epoch {epoch:.2f}  train loss {values['train'][0]:.4f} "
            f"acc {values['train'][1]:.4f}  test loss {values['test'][0]:.4f} "
            f"acc {values['test'][1]:.4f}")
        return all(math.isfinite(v[0]) for v in values.values())

    def flush_batch_losses(losses: torch.Tensor, first_step: int) -> int | None:
        """Record per-step losses; return the first step whose loss is NaN/inf, if any."""
        values = losses.tolist()
        for i, value in enumerate(values):
            s = first_step + i
            result.rows.append((s, round(s / steps_per_epoch, 4), "batch", "loss", value))
            if not math.isfinite(value):
                return s
        return None

    if step == 0:
        record_eval(0)
    torch.set_num_threads(step_threads)
    batch_losses = torch.zeros(hp["eval_every"], device=device)
    pending, pending_from = 0, step + 1
    diverged_at = None
    started = time.perf_counter()
    for epoch in range(first_epoch, hp["epochs"]):
        order = torch.randperm(n, generator=shuffle).to(device)
        for start in range(0, n, hp["batch_size"]):
            if step >= total_steps:
                break
            idx = order[start:start + hp["batch_size"]]
            logits = model(train_x[idx])
            loss = loss_fn(logits, train_y[idx])
            objective = loss + l2_penalty(model, hp["l2"]) if hp["l2"] else loss
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            batch_losses[pending] = loss.detach()
            pending += 1
            step += 1
            if step % hp["eval_every"] == 0 or step == total_steps:
                diverged_at = flush_batch_losses(batch_losses[:pending], pending_from)
                pending, pending_from = 0, step + 1
                if not record_eval(step) and diverged_at is None:
                    diverged_at = step
                if diverged_at is not None:
                    break
        if diverged_at is None and pending:
            # Flush at the epoch's end too, so a checkpoint holds every step's loss.
            diverged_at = flush_batch_losses(batch_losses[:pending], pending_from)
            pending, pending_from = 0, step + 1
        if diverged_at is not None or step >= total_steps:
            break
        if checkpoint and epoch + 1 < hp["epochs"]:
            save_atomic({"hp": hp, "seed": seed, "epoch": epoch + 1,
                         "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "shuffle": shuffle.get_state(), "cpu_rng": torch.get_rng_state(),
                         "rows": result.rows}, checkpoint)
        log(f"epoch {epoch + 1}/{hp['epochs']} done in {time.perf_counter() - started:.1f} s")

    torch.set_num_threads(eval_threads)
    result.steps = step
    if diverged_at is not None:
        result.status, result.diverged_at_step = "diverged", diverged_at
        message = (f"run diverged: the loss became NaN or inf at step {diverged_at} "
                   f"(lr={hp['lr']}); lower the learning rate of this ablation")
        if on_divergence == "fail":
            raise Diverged(message + " (or set on_divergence: record to keep going)")
        log(message)
    evals = {(split, metric): value for (s, _, split, metric, value) in result.rows
             if split != "batch"}
    result.final = {f"{split}_{metric}": value for (split, metric), value in evals.items()}
    result.model = model
    return result
