"""What a run computes, counted: its layers, steps, evaluations and matmul FLOPs; and a short
probe of the matmul rate the process reaches.

Apart from mlpstudy.plan (the study's jobs) because the training jobs import it: a module a
training job imports is a code input of every training job (code_inputs), so editing the
study's plan must not rerun them. Only the standard library at import (torch is imported by
the probe alone): the Snakefile counts a study's FLOPs while it is parsed.
"""
from __future__ import annotations

import time


def linear_shapes(hp: dict, in_features: int, classes: int) -> list[tuple[int, int]]:
    """(inputs, outputs) of every linear layer of the network models.build_mlp builds,
    a Maxout's own linear included."""
    shapes, width_in = [], in_features
    for width in hp["hidden"]:
        shapes.append((width_in, width))
        if hp["activation"] == "maxout":
            shapes.append((width, width * hp["maxout_k"]))
        width_in = width
    return shapes + [(width_in, classes)]


def planned_steps(hp: dict, rows: int) -> int:
    """Training steps of one run over `rows` training rows: every epoch, or max_steps."""
    steps = hp["epochs"] * -(-rows // hp["batch_size"])
    return min(steps, hp["max_steps"]) if hp["max_steps"] else steps


def evaluations(hp: dict, steps: int) -> int:
    """Evaluations of a run of `steps` steps: at step 0, every eval_every steps, at the last."""
    return 1 + steps // hp["eval_every"] + (1 if steps % hp["eval_every"] else 0)


def run_flops(hp: dict, n_train: int, n_test: int, steps: int, evals: int,
              features: int = 784, classes: int = 10) -> float:
    """Matmul FLOPs of one run (2 per multiply-add; activations, losses and the optimizer are
    left out: on these layer sizes the matmuls are nearly all of the arithmetic).

    Training, per sample: forward 2*sum(in*out), weight gradients 2*sum(in*out), input
    gradients 2*sum(in*out) of every layer but the first (no gradient flows to the data); the
    batches of `steps` steps in epoch order, the last of an epoch smaller. Evaluation: one
    forward pass over n_train + n_test samples per evaluation.
    """
    macs = [a * b for a, b in linear_shapes(hp, features, classes)]
    per_epoch = -(-n_train // hp["batch_size"])
    full_epochs, rest = divmod(steps, per_epoch)
    samples = full_epochs * n_train + min(rest * hp["batch_size"], n_train)
    train = samples * (4 * sum(macs) + 2 * sum(macs[1:]))
    return float(train + evals * (n_train + n_test) * 2 * sum(macs))


def flops_done(hp: dict, rows, steps: int, resumed_from_step: int, n_train: int, n_test: int,
               features: int, classes: int) -> float:
    """Matmul FLOPs a run computed in this process: its steps after the checkpoint it resumed
    from (if any) and the evaluations among its curve `rows` (step, epoch, split, ...) that
    came after it."""
    first = resumed_from_step + 1 if resumed_from_step else 0
    evals = len({r[0] for r in rows if r[2] == "test" and r[0] >= first})
    # The batches before the resumed step are not counted: FLOPs of all steps minus theirs.
    done = run_flops(hp, n_train, n_test, steps, evals, features, classes)
    skipped = run_flops(hp, n_train, n_test, resumed_from_step, 0, features, classes)
    return done - skipped


def record_flops(results, hp: dict, batched: bool, **sizes) -> float:
    """Set on each of a pack's run results (training.RunResult) `flop`, the matmul FLOPs it
    computed in this process (flops_done; `sizes`: n_train, n_test, features, classes), and
    `flop_rate`, over its training time: seeds trained as one batched model share one time,
    so each gets the pack's rate. Returns the pack's FLOPs."""
    for result in results:
        result.flop = flops_done(hp, result.rows, result.steps, result.resumed_from_step,
                                 **sizes)
    pack_flop = sum(result.flop for result in results)
    for result in results:
        done = pack_flop if batched else result.flop
        result.flop_rate = done / result.seconds if done and result.seconds > 0 else None
    return pack_flop


# The probe's matrices: on a CPU the size of a first layer's work on an evaluation chunk (a
# chunk of rows times 784 inputs times 256 units is of this order), on a GPU large enough to
# reach its peak rather than its launch rate.
PROBE_N = {"cpu": 512, "cuda": 4096}


def matmul_probe(device="cpu", seconds: float = 0.01) -> dict:
    """The best fp32 matmul rate (FLOP/s) of n x n matrices on `device`, with this process's
    torch threads, over about `seconds` after one warm-up: what this process could reach at the
    moment, to set beside the rate its run achieved (on a shared machine the rate measured
    before or after a job is not the rate during it). {"flop_rate": ..., "seconds": its cost}."""
    import torch
    started = time.perf_counter()
    device = torch.device(device)
    n = PROBE_N.get(device.type, PROBE_N["cpu"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    out = torch.empty(n, n, device=device)
    torch.mm(a, b, out=out)
    sync()
    best, begun = 0.0, time.perf_counter()
    while time.perf_counter() - begun < seconds:
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        sync()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))
    return {"flop_rate": best, "seconds": time.perf_counter() - started}
