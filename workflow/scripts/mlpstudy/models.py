"""The MLP of the report and its variants."""
from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """Maxout layer width -> width: Linear(width, width*k), then the max of each unit's k pieces.

    This is the report's maxout: it adds (width*width + width)*k parameters
    (131,584 for width 256 and k 2).
    """

    def __init__(self, width: int, k: int):
        super().__init__()
        self.k = k
        self.linear = nn.Linear(width, width * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = self.linear(x)
        return pieces.view(*pieces.shape[:-1], -1, self.k).amax(dim=-1)


def _activation(hp: dict, width: int) -> nn.Module:
    if hp["activation"] == "relu":
        return nn.ReLU()
    if hp["activation"] == "gelu":
        return nn.GELU()
    if hp["activation"] == "maxout":
        return Maxout(width, hp["maxout_k"])
    raise ValueError(f"unknown activation {hp['activation']!r}")


def build_mlp(hp: dict, in_features: int, classes: int) -> nn.Sequential:
    """Linear -> [BatchNorm] -> activation -> [Dropout] for each hidden width, then Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    width_in = in_features
    for width in hp["hidden"]:
        layers.append(nn.Linear(width_in, width))
        if hp["batch_norm"]:
            layers.append(nn.BatchNorm1d(width))
        layers.append(_activation(hp, width))
        if hp["dropout"] > 0:
            layers.append(nn.Dropout(hp["dropout"]))
        width_in = width
    layers.append(nn.Linear(width_in, classes))
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
