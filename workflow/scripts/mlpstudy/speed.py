"""The speed machinery of a CPU training run: a light SGD, oneDNN evaluation, thread counts.

Measured on a 2-core AVX-512 CPU (the README's Performance section); none of it changes
what is computed beyond float rounding, and tests/test_fast_path.py checks each piece
against the plain PyTorch way.
"""
from __future__ import annotations

from typing import Callable

import torch

# Rows per evaluation forward pass. Evaluation is ~95% of a run's arithmetic:
# chunks large enough for efficient matmuls, small enough to stay in cache on a
# CPU (measured best on a 2-core AVX-512 CPU); a GPU wants few, large launches.
EVAL_CHUNK = {"cpu": 4096, "cuda": 16_384}
# Training steps below this many FLOPs run on one thread: thread synchronisation
# costs more than it saves. On a 2-core CPU the report's step (batch 64, 203k
# parameters, 78 MFLOP) took 1.4 ms on 1 thread and 2.5 ms on 2; from hidden 784
# (240 MFLOP) the two tie and hidden 2048 (625 MFLOP) gains from 2 (7.6 vs 9.8 ms).
SINGLE_THREAD_STEP_FLOP = 300e6


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
