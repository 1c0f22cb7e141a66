"""What a run minimises and how: the configured loss, the explicit L2 penalty and the SGD.

Below both one seed's model (mlpstudy.single) and the batched pack of seeds
(mlpstudy.packed), which use the same definitions.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn.functional as F


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


def l2_penalty(params: Iterable[torch.Tensor], l2: float) -> torch.Tensor:
    """(l2/2)*sum(w^2) over `params`. Its gradient is l2*w: exactly what SGD's
    weight_decay=l2 adds to every gradient, so the `l2` and `weight_decay` ablations
    take the same steps. For a pack's stacked weights it is the sum of the members' own
    penalties, so each member's gradient is its own."""
    return 0.5 * l2 * sum(p.pow(2).sum() for p in params)


def penalised(loss: torch.Tensor, params: Iterable[torch.Tensor], l2: float) -> torch.Tensor:
    """What a step minimises: `loss` plus the explicit L2 penalty, where the run has one."""
    return loss + l2_penalty(params, l2) if l2 else loss


def optimizer(hp: dict, params: Iterable[torch.Tensor]) -> "SGD":
    """The run's optimizer over `params`: SGD with its lr, momentum and weight decay."""
    return SGD(params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"])


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

    def zero_grad(self) -> None:
        """Drop the gradients (torch.optim's set_to_none=True, its default)."""
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
