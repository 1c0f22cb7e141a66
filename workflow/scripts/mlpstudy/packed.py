"""Several seeds of one ablation as one batched model: the GPU path of a pack.

Member s is the model `build_mlp` makes for seed s (the same initial weights), its
weights stacked along a leading seed dimension, so every layer is one batched matmul
(`torch.baddbmm`) for the whole pack instead of one launch per seed. The objective is
the sum of the members' own losses: its gradient with respect to member s's weights is
member s's own gradient, so each member takes the steps it would take alone (up to float
rounding), on its own batches, with its own dropout masks and BatchNorm statistics, and
a member whose weights turn NaN cannot touch the others.

On a GPU the training step of full batches is captured once as a CUDA graph and
replayed (one launch per step instead of dozens); anything the capture cannot take
(dropout's own generators, an older torch) runs eagerly.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from .models import Maxout, SeededDropout, build_mlp, count_parameters, dropout_noise
from .speed import EVAL_CHUNK, SGD
from .training import criterion, dropout_generator

# Eager steps before the CUDA graph is captured: they are real training steps, and
# let the optimizer create its momentum buffers outside the graph.
GRAPH_WARMUP_STEPS = 3


class PackedMLP:
    """S members of one architecture, trained and evaluated together (the loop's model)."""

    def __init__(self, hp: dict, in_features: int, classes: int, seeds: list[int],
                 device: torch.device, log=print):
        self.hp, self.device, self.members, self.log = hp, device, len(seeds), log
        self.loss_fn = criterion(hp, classes)
        models, self.generators = [], []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(build_mlp(hp, in_features, classes))
            self.generators.append(dropout_generator(device))
        self.param_count = count_parameters(models[0])
        self.layers = [_stack_layer([list(m)[i] for m in models], device)
                       for i in range(len(models[0])) if not isinstance(models[0][i], nn.Flatten)]
        self.params = [t for layer in self.layers for t in layer.get("params", ())]
        self.optimizer = SGD(self.params, lr=hp["lr"], momentum=hp["momentum"],
                             weight_decay=hp["weight_decay"])
        self.steps_taken, self.graph = 0, None
        self.use_graph = (device.type == "cuda" and hp["dropout"] == 0
                          and os.environ.get("MLPSTUDY_CUDA_GRAPHS", "1") != "0")

    # -- forward -------------------------------------------------------------------------
    def forward(self, h: torch.Tensor, training: bool) -> torch.Tensor:
        """Logits (S, rows, classes) of h: (S, rows, features), or (rows, features) shared by all."""
        if h.dim() == 2:
            h = h.expand(self.members, *h.shape)
        for layer in self.layers:
            h = _apply(layer, h, training, self.generators)
        return h

    def member_losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's loss summed over its rows: shape (S,)."""
        rows = self.loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        return rows.view(self.members, -1).sum(dim=1)

    # -- the loop's interface ------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One SGD step of every member on its rows idx[s]; the members' batch losses, (S,)."""
        if self.graph is not None and idx.shape == self.static_idx.shape:
            self.static_idx.copy_(idx)
            self.graph.replay()
            return self.static_loss  # the loop copies it out before the next replay
        if self.use_graph and self.steps_taken == GRAPH_WARMUP_STEPS:
            self._capture(x, y, idx)
            if self.graph is not None:
                return self.train_step(x, y, idx)
        self.steps_taken += 1
        if self.use_graph:  # warm-up steps run on a side stream, as graph capture requires
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                loss = self._step(x, y, idx)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return loss
        return self._step(x, y, idx)

    def _step(self, x, y, idx) -> torch.Tensor:
        logits, targets = self.forward(x[idx], training=True), y[idx]
        # Each member's mean loss as a run alone computes it (same kernel, same rounding).
        losses = torch.stack([self.loss_fn(logits[i], targets[i]) for i in range(self.members)])
        objective = losses.sum()
        if self.hp["l2"]:  # (l2/2)*||w||^2 of each member: see training.l2_penalty
            objective = objective + 0.5 * self.hp["l2"] * sum(p.pow(2).sum() for p in self.params)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()
        return losses.detach()

    def _capture(self, x, y, idx) -> None:
        """Record one full training step as a CUDA graph; on any failure stay eager."""
        try:
            self.static_idx = idx.clone()
            graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(graph):
                self.static_loss = self._step(x, y, self.static_idx)
            self.graph = graph
        except Exception as exc:  # an op the capture cannot take: the eager step is as exact
            self.use_graph, self.graph = False, None
            self.log(f"CUDA graph capture failed, training eagerly: {exc}")

    @torch.inference_mode()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        """Each member's mean loss and accuracy over all of (x, y): lists of S floats."""
        chunk = EVAL_CHUNK.get(x.device.type, EVAL_CHUNK["cuda"])  # rows, each member's logits
        loss_sum = torch.zeros(self.members, device=x.device, dtype=torch.float64)
        correct = torch.zeros(self.members, device=x.device, dtype=torch.int64)
        for start in range(0, len(x), chunk):
            logits = self.forward(x[start:start + chunk], training=False)
            target = y[start:start + chunk].expand(self.members, -1)
            loss_sum += self.member_losses(logits, target).double()
            correct += (logits.argmax(dim=-1) == target).sum(dim=1)
        return (loss_sum / len(x)).tolist(), (correct.double() / len(x)).tolist()

    def state_dict(self) -> dict:
        return {"layers": [{k: v for k, v in layer.items() if isinstance(v, torch.Tensor)}
                           for layer in self.layers],
                "optimizer": self.optimizer.state_dict(),
                "dropout": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for layer, saved in zip(self.layers, state["layers"]):
                for key, value in saved.items():
                    layer[key].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        for generator, saved in zip(self.generators, state["dropout"]):
            generator.set_state(saved)


def _stacked(tensors, device, transpose=False, requires_grad=True) -> torch.Tensor:
    t = torch.stack([(x.detach().t() if transpose else x.detach()) for x in tensors]).to(device)
    return t.requires_grad_(requires_grad)


def _stack_layer(modules: list[nn.Module], device) -> dict:
    """One layer of every member as stacked tensors; weights as (S, in, out), vectors (S, 1, n)."""
    first = modules[0]
    if isinstance(first, (nn.Linear, Maxout)):
        linears = [m.linear if isinstance(m, Maxout) else m for m in modules]
        weight = _stacked([m.weight for m in linears], device, transpose=True)
        bias = _stacked([m.bias.unsqueeze(0) for m in linears], device)
        layer = {"kind": "linear", "weight": weight, "bias": bias, "params": (weight, bias)}
        if isinstance(first, Maxout):
            layer.update(kind="maxout", k=first.k)
        return layer
    if isinstance(first, nn.BatchNorm1d):
        weight = _stacked([m.weight.unsqueeze(0) for m in modules], device)
        bias = _stacked([m.bias.unsqueeze(0) for m in modules], device)
        return {"kind": "batch_norm", "weight": weight, "bias": bias, "params": (weight, bias),
                "running_mean": _stacked([m.running_mean.unsqueeze(0) for m in modules], device,
                                         requires_grad=False),
                "running_var": _stacked([m.running_var.unsqueeze(0) for m in modules], device,
                                        requires_grad=False),
                "eps": first.eps, "momentum": first.momentum}
    if isinstance(first, SeededDropout):
        return {"kind": "dropout", "p": first.p}
    if isinstance(first, (nn.ReLU, nn.GELU)):
        return {"kind": type(first).__name__.lower()}
    raise TypeError(f"no batched form of {type(first).__name__}")


def _apply(layer: dict, h: torch.Tensor, training: bool, generators) -> torch.Tensor:
    kind = layer["kind"]
    if kind in ("linear", "maxout"):
        h = torch.baddbmm(layer["bias"], h, layer["weight"])
        return h.view(*h.shape[:-1], -1, layer["k"]).amax(dim=-1) if kind == "maxout" else h
    if kind == "relu":
        return F.relu(h)
    if kind == "gelu":
        return F.gelu(h)
    if kind == "dropout":
        if not training:
            return h
        # Each member's mask from its own generator, as SeededDropout draws it alone.
        noise = torch.stack([dropout_noise(h.shape[1:], layer["p"], h, g) for g in generators])
        return h * noise
    return _batch_norm(layer, h, training)


def _batch_norm(layer: dict, h: torch.Tensor, training: bool) -> torch.Tensor:
    """nn.BatchNorm1d per member: batch statistics over each member's own rows."""
    if not training:
        mean, var = layer["running_mean"], layer["running_var"]
    else:
        mean, var = h.mean(dim=1, keepdim=True), h.var(dim=1, unbiased=False, keepdim=True)
        rows, momentum = h.shape[1], layer["momentum"]
        with torch.no_grad():
            layer["running_mean"].mul_(1 - momentum).add_(mean, alpha=momentum)
            layer["running_var"].mul_(1 - momentum).add_(var * (rows / (rows - 1)), alpha=momentum)
    return (h - mean) * torch.rsqrt(var + layer["eps"]) * layer["weight"] + layer["bias"]
