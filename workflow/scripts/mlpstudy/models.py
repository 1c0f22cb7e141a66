"""The network: the report's MLP and its variants, and each seed's weights and dropout masks."""
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


class SeededDropout(nn.Module):
    """Dropout whose masks come from a generator of the run's own (`generator`, else the global one).

    The arithmetic of torch's CPU dropout (a bernoulli_ mask scaled by 1/(1-p), times
    the input) on any device, so that a run's masks depend only on its seed: trained
    alone or in a pack of seeds (mlpstudy.packed draws each member's masks from that
    member's generator), a seed gets the same masks.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * dropout_noise(x.shape, self.p, x, self.generator)


def draws_randomness(layer: nn.Module) -> bool:
    """Whether `layer` draws random numbers in training, from a generator of its run's own:
    a pack of seeds (mlpstudy.packed) runs such a layer once per seed, with its generator."""
    return isinstance(layer, SeededDropout)


def dropout_noise(shape, p: float, like: torch.Tensor, generator) -> torch.Tensor:
    """Keep-mask scaled by 1/(1-p), drawn as torch's CPU dropout draws it."""
    return like.new_empty(shape).bernoulli_(1 - p, generator=generator).div_(1 - p)


def _activation(hp: dict, width: int) -> nn.Module:
    if hp["activation"] == "relu":
        return nn.ReLU()
    if hp["activation"] == "gelu":
        return nn.GELU()
    if hp["activation"] == "maxout":
        return Maxout(width, hp["maxout_k"])
    raise ValueError(f"unknown activation {hp['activation']!r}")


def build_mlp(hp: dict, in_features: int, classes: int) -> nn.Sequential:
    """Linear -> [BatchNorm] -> [LayerNorm] -> activation -> [Dropout] for each hidden width,
    then Linear. This is the one definition of the network: a pack of seeds (mlpstudy.packed)
    and the fast CPU evaluation (mlpstudy.evaluation) run these modules as they are."""
    layers: list[nn.Module] = [nn.Flatten()]
    width_in = in_features
    for width in hp["hidden"]:
        layers.append(nn.Linear(width_in, width))
        if hp["batch_norm"]:
            layers.append(nn.BatchNorm1d(width))
        if hp["layer_norm"]:
            layers.append(nn.LayerNorm(width))
        layers.append(_activation(hp, width))
        if hp["dropout"] > 0:
            layers.append(SeededDropout(hp["dropout"]))
        width_in = width
    layers.append(nn.Linear(width_in, classes))
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


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


def seeded_mlp(hp: dict, in_features: int, classes: int, seed: int,
               device: torch.device) -> tuple[nn.Sequential, torch.Generator]:
    """Seed `seed`'s model (its initial weights, drawn on the CPU) and its own dropout
    generator, attached to its dropout layers: the same run alone or in a pack."""
    torch.manual_seed(seed)
    model = build_mlp(hp, in_features, classes)
    generator = dropout_generator(device)
    for layer in model.modules():
        if draws_randomness(layer):
            layer.generator = generator
    return model, generator
