"""One seed's model as the training loop drives it: the CPU path of a pack of seeds.

A pack of seeds trains its seeds one after another on a CPU (and anywhere with
seeds_per_job: 1), each exactly the run it is alone: nn.Linear's kernels, the oneDNN
evaluation, one thread for small training steps and all threads for evaluations.
mlpstudy.packed is the same interface for a pack trained as one batched model.
"""
from __future__ import annotations

import torch

from .evaluation import evaluate_module
from .models import count_parameters, seeded_mlp
from .objective import criterion, optimizer, penalised

# Training steps below this many FLOPs run on one thread: thread synchronisation
# costs more than it saves. On a 2-core CPU the report's step (batch 64, 203k
# parameters, 78 MFLOP) took 1.4 ms on 1 thread and 2.5 ms on 2; from hidden 784
# (240 MFLOP) the two tie and hidden 2048 (625 MFLOP) gains from 2 (7.6 vs 9.8 ms).
SINGLE_THREAD_STEP_FLOP = 300e6


class SingleMLP:
    """One seed's model, optimizer and dropout generator: a pack of one, for the loop."""

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
        """One SGD step on rows idx[0] of (x, y); the batch loss, shape (1,), on the device."""
        torch.set_num_threads(self.step_threads)  # ~0.1 us: cheap enough for every step
        idx = idx[0]
        loss = self.loss_fn(self.module(x[idx]), y[idx])
        objective = penalised(loss, self.module.parameters(), self.hp["l2"])
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        return loss.detach().view(1)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, predictions: bool = False
                 ) -> tuple[list, list, torch.Tensor | None]:
        torch.set_num_threads(self.eval_threads)
        loss, accuracy, predicted = evaluate_module(self.module, x, y, self.loss_fn,
                                                    predictions=predictions)
        return [loss], [accuracy], predicted

    def state_dict(self) -> dict:
        return {"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                "dropout": [self.generator.get_state()]}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["dropout"][0])
