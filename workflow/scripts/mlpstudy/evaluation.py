"""Evaluation: each member's loss and accuracy over a whole split, in chunks, on any device.

The one evaluation of a seed alone and of a pack of seeds. On a CPU it runs the network's
linear layers through oneDNN and keeps its chunks' freed memory: measured on a 2-core
AVX-512 CPU (docs/performance.md); none of it changes what is computed beyond float
rounding, and tests/test_fast_path.py checks each piece against the plain PyTorch way.
"""
from __future__ import annotations

import ctypes
import platform
from typing import Callable

import torch

from .models import Maxout

# Rows per evaluation forward pass. Evaluation is ~95% of a run's arithmetic:
# chunks large enough for efficient matmuls, small enough to stay in cache on a
# CPU (measured best on a 2-core AVX-512 CPU); a GPU wants few, large launches.
EVAL_CHUNK = {"cpu": 4096, "cuda": 16_384}
# On a CPU, fewer rows when a layer's output for a chunk would pass this size: on the
# 2-core AVX-512 CPU, hidden 2048 evaluated at 103 GFLOP/s per core in chunks of 2048
# rows (16 MiB of activations) and 92 in chunks of 4096; widths up to 784 were best at 4096.
CPU_EVAL_BYTES = 16 * 2 ** 20


def eval_chunk(device: torch.device, widest: int) -> int:
    """Rows per evaluation pass on `device` for a model whose widest layer has `widest` outputs."""
    if device.type != "cpu":
        return EVAL_CHUNK.get(device.type, EVAL_CHUNK["cuda"])
    rows = EVAL_CHUNK["cpu"]
    while rows > 256 and rows * widest * 4 > CPU_EVAL_BYTES:
        rows //= 2
    return rows


def widest_output(model: torch.nn.Module) -> int:
    """The most outputs of any of the model's linear layers (what sizes its evaluation chunks)."""
    return max((m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)),
               default=1)


# glibc's malloc returns freed blocks above 128 KiB to the OS (mmap, or trimming the heap's
# top), so every evaluation chunk's activations (4-16 MiB) were page-faulted in anew: a GELU,
# batch-norm or Maxout evaluation (two or more such tensors per chunk) spent 20-25% of its
# time there. Keeping them measured, per seed on one thread on Fashion-MNIST: GELU 18.3 ->
# 15.3 s, batch norm 19.9 -> 15.3 s, Maxout 30.7 -> 24.5 s; base, deep and wide unchanged.
MALLOC_KEEP = {"M_MMAP_THRESHOLD": (-3, 32 * 2 ** 20),  # glibc's largest allowed value
               "M_TRIM_THRESHOLD": (-1, 128 * 2 ** 20)}


def keep_freed_memory() -> bool:
    """Let this process reuse freed memory up to MALLOC_KEEP's sizes instead of handing it back
    to the OS after every evaluation chunk; both settings are needed (either alone turns off
    glibc's own adaptation of the other). True if set; False off glibc, where nothing changes.
    Only speed changes: what is computed is the same."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return all(mallopt(option, value) == 1 for option, value in MALLOC_KEEP.values())


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
    A Maxout's linear goes the same way. Anything else (no oneDNN, a GPU, other
    module types) runs as the model does.
    """
    if device.type != "cpu" or not ONEDNN or not isinstance(model, torch.nn.Sequential):
        return model
    layers, modules = [], list(model)
    for i, module in enumerate(modules):
        if isinstance(module, torch.nn.ReLU) and layers and getattr(layers[-1], "fused_relu", False):
            continue  # fused into the Linear before it
        if isinstance(module, torch.nn.Linear):
            relu = i + 1 < len(modules) and isinstance(modules[i + 1], torch.nn.ReLU)
            layers.append(_onednn_linear(module.weight, module.bias, rows, relu))
        elif isinstance(module, Maxout):
            layers.append(_onednn_maxout(module, rows))
        else:
            layers.append(module)

    def forward(h):
        for layer in layers:
            h = layer(h)
        return h
    return forward


def _onednn_linear(weight: torch.Tensor, bias: torch.Tensor, rows: int, relu: bool) -> Callable:
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    attr = "relu" if relu else "none"

    def linear(h):
        return torch.ops.mkldnn._linear_pointwise(h, packed, bias, attr, [], "")
    linear.fused_relu = relu
    return linear


def _onednn_maxout(module: Maxout, rows: int) -> Callable:
    """A Maxout whose k pieces come out as k blocks of its width: the max is then taken
    across blocks, which vectorises (5x faster than across adjacent pairs). Same values:
    a max does not round."""
    k, width = module.k, module.linear.out_features // module.k
    weight = module.linear.weight.view(width, k, -1).transpose(0, 1).reshape(k * width, -1)
    bias = module.linear.bias.view(width, k).t().reshape(-1)
    linear = _onednn_linear(weight, bias, rows, relu=False)
    return lambda h: linear(h).view(len(h), k, width).amax(dim=1)


@torch.inference_mode()
def evaluate(forward: Callable, loss_sums: Callable, x: torch.Tensor, y: torch.Tensor,
             members: int, chunk: int, predictions: bool = False
             ) -> tuple[list, list, torch.Tensor | None]:
    """Each member's mean loss and accuracy over all of (x, y), in chunks of `chunk` rows, and
    with `predictions` the class each member predicted for each row, (members, rows) on the
    CPU as the smallest integer type that holds the classes (else None).

    forward(rows) gives the logits of every member, (members, rows, classes) (or (rows,
    classes) for one); loss_sums(logits, targets) each member's loss summed over the rows.
    The one evaluation of a seed alone and of a pack (mlpstudy.single, mlpstudy.packed).
    """
    loss_sum = torch.zeros(members, device=x.device, dtype=torch.float64)
    correct = torch.zeros(members, device=x.device, dtype=torch.int64)
    predicted = []
    for start in range(0, len(x), chunk):
        logits = forward(x[start:start + chunk])
        target = y[start:start + chunk]
        loss_sum += loss_sums(logits, target).double()
        classes = logits.argmax(dim=-1)
        correct += (classes == target).sum(dim=-1)
        if predictions:
            predicted.append(classes.reshape(members, -1).to(class_dtype(logits.shape[-1])))
    kept = torch.cat(predicted, dim=1).cpu() if predictions else None
    return (loss_sum / len(x)).tolist(), (correct.double() / len(x)).tolist(), kept


def class_dtype(classes: int) -> torch.dtype:
    """The smallest integer type of a predicted class: a byte per test example for up to 256."""
    return torch.uint8 if classes <= 256 else torch.int32


def evaluate_module(model: torch.nn.Module, x, y, loss_fn, chunk: int | None = None,
                    predictions: bool = False) -> tuple[float, float, torch.Tensor | None]:
    """Mean loss and accuracy of one model over all of (x, y), in eval mode through its fast
    CPU forward (inference_forward), and with `predictions` its predicted classes (1, rows);
    restores train mode."""
    chunk = chunk or eval_chunk(x.device, widest_output(model))
    model.eval()
    try:
        (loss,), (accuracy,), predicted = evaluate(
            inference_forward(model, x.device, chunk),
            lambda logits, target: loss_fn(logits, target, reduction="sum"), x, y, 1, chunk,
            predictions)
    finally:
        model.train()
    return loss, accuracy, predicted
