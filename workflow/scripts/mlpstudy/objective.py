"""What a run minimises: the configured loss, plus the explicit L2 penalty.

Below both the loop over one seed (mlpstudy.training) and the batched pack of seeds
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
