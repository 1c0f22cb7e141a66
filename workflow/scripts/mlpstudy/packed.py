"""Several seeds of one ablation as one batched model: the GPU path of a pack of seeds.

Member s is the model `models.seeded_mlp` makes for seed s (the same initial weights and
dropout generator). Its parameters and buffers are stacked along a leading seed dimension
(torch.func.stack_module_state) and the network runs as its own modules, under
torch.func.vmap + functional_call: each layer is one batched kernel for the whole pack,
and whatever models.build_mlp puts in the network trains batched with no code here.
A layer that draws random numbers (dropout) runs once per member with that member's
generator, so a seed gets the masks it gets alone.

The objective is the sum of the members' own losses: its gradient with respect to member
s's weights is member s's own gradient, so each member takes the steps it would take
alone (up to float rounding), on its own batches, with its own BatchNorm statistics, and
a member whose weights turn NaN cannot touch the others.

On a GPU the training step of full batches is captured once as a CUDA graph and
replayed (one launch per step instead of dozens); anything the capture cannot take
(a layer that draws random numbers, an older torch) runs eagerly.
"""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .evaluation import eval_chunk, evaluate, widest_output
from .models import build_mlp, count_parameters, draws_randomness, seeded_mlp
from .objective import criterion, optimizer, penalised

# Eager steps before the CUDA graph is captured: they are real training steps, and
# let the optimizer create its momentum buffers outside the graph.
GRAPH_WARMUP_STEPS = 3


class PackedMLP:
    """S members of one architecture, trained and evaluated together (the loop's model)."""

    def __init__(self, hp: dict, in_features: int, classes: int, seeds: list[int],
                 device: torch.device, log=print):
        self.hp, self.device, self.members, self.log = hp, device, len(seeds), log
        models, self.generators = zip(*(seeded_mlp(hp, in_features, classes, seed, device)
                                        for seed in seeds))
        self.param_count = count_parameters(models[0])
        params, buffers = stack_module_state(list(models))
        self.params = {k: v.detach().to(device).requires_grad_() for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        with torch.device("meta"):  # the modules alone: the members' tensors replace theirs
            self.network = build_mlp(hp, in_features, classes)
        self.segments = _segments(self.network)
        self.widest = widest_output(models[0])
        self.loss_fn = criterion(hp, classes)
        self.optimizer = optimizer(hp, list(self.params.values()))
        self.steps_taken, self.graph = 0, None
        random = any(draws_randomness(m) for m in self.network.modules())
        self.use_graph = (device.type == "cuda" and not random
                          and os.environ.get("MLPSTUDY_CUDA_GRAPHS", "1") != "0")

    # -- forward -------------------------------------------------------------------------
    def forward(self, h: torch.Tensor, training: bool) -> torch.Tensor:
        """Logits (S, rows, classes) of h: (S, rows, features), or (rows, features) shared by all;
        in training or eval mode as asked, every call (so no mode outlives it)."""
        self.network.train(training)
        shared = h.dim() == 2
        for segment in self.segments:
            h = segment.run(h, shared, self)
            shared = False
        return h

    def member_losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's loss summed over its rows: shape (S,); y: (rows,) or (S, rows)."""
        y = y.expand(self.members, -1)
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
        objective = penalised(losses.sum(), self.params.values(), self.hp["l2"])
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        return losses.detach()

    def _capture(self, x, y, idx) -> None:
        """Record one full training step as a CUDA graph; on any failure stay eager."""
        try:
            self.static_idx = idx.clone()
            graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad()
            with torch.cuda.graph(graph):
                self.static_loss = self._step(x, y, self.static_idx)
            self.graph = graph
        except Exception as exc:  # an op the capture cannot take: the eager step is as exact
            self.use_graph, self.graph = False, None
            self.log(f"CUDA graph capture failed, training eagerly: {exc}")

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, predictions: bool = False
                 ) -> tuple[list, list, torch.Tensor | None]:
        """Each member's mean loss and accuracy over all of (x, y): lists of S floats; with
        `predictions` each member's predicted classes, (S, rows) (evaluation.evaluate)."""
        return evaluate(lambda h: self.forward(h, training=False), self.member_losses, x, y,
                        self.members, eval_chunk(x.device, self.widest), predictions)

    def state_dict(self) -> dict:
        return {"params": self.params, "buffers": self.buffers,
                "optimizer": self.optimizer.state_dict(),
                "dropout": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for mine, saved in ((self.params, state["params"]), (self.buffers, state["buffers"])):
                for key, value in saved.items():
                    mine[key].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        for generator, saved in zip(self.generators, state["dropout"]):
            generator.set_state(saved)


class _Segment:
    """Consecutive layers of the network that run together for every member: under vmap
    over the members' stacked tensors, or (a layer that draws random numbers) once per
    member with that member's generator."""

    def __init__(self, layers: list[tuple[int, nn.Module]]):
        self.random = len(layers) == 1 and draws_randomness(layers[0][1])
        self.module = nn.Sequential(*(m for _, m in layers))

        def pack_name(local: str) -> str:  # "0.weight" here is "3.weight" of the network
            k, rest = local.split(".", 1)
            return f"{layers[int(k)][0]}.{rest}"
        self.names = {kind: [(pack_name(local), local) for local, _ in
                             getattr(self.module, f"named_{kind}")()]
                      for kind in ("parameters", "buffers")}

    def run(self, h: torch.Tensor, shared: bool, pack: PackedMLP) -> torch.Tensor:
        if self.random:
            layer, outputs = self.module[0], []
            for s, generator in enumerate(pack.generators):
                layer.generator = generator
                outputs.append(layer(h if shared else h[s]))
            return torch.stack(outputs)
        params = {local: pack.params[name] for name, local in self.names["parameters"]}
        buffers = {local: pack.buffers[name] for name, local in self.names["buffers"]}
        if shared and not params and not buffers:  # the same for every member
            out = self.module(h)
            return out.expand(pack.members, *out.shape)

        def member(p, b, x):
            return functional_call(self.module, (p, b), (x,))
        return vmap(member, in_dims=(0, 0, None if shared else 0))(params, buffers, h)


def _segments(network: nn.Sequential) -> list[_Segment]:
    """The network's layers in runs that vmap takes whole, cut at each random layer."""
    segments, run = [], []
    for i, layer in enumerate(network):
        if draws_randomness(layer):
            segments += [_Segment(run)] if run else []
            segments.append(_Segment([(i, layer)]))
            run = []
        else:
            run.append((i, layer))
    return segments + ([_Segment(run)] if run else [])
