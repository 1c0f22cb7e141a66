"""GPU check of the training path, for a machine with a CUDA GPU (not part of pytest).

    python tests/benchmarks/gpu_check.py

1. A training job given a GPU (resource gpu=1) gets cuda:N through the GPU-slot logic.
2. The base protocol trained on the GPU follows the CPU's curves: the same seed gives
   the same batches and initial weights on both, so the final accuracies may differ
   only by float rounding (summation order of the kernels).
3. The full base run and the hidden-2048 run on the GPU, timed.
Data: Fashion-MNIST from data_dirs (data/fashion-mnist or Debian's package), else
generated data of the same shape. Prints a short report; exits 1 if a check fails.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from mlpstudy.config import hparam_defaults  # noqa: E402
from mlpstudy.data import DataError, load_torchvision_dataset  # noqa: E402
from mlpstudy.devices import choose_device  # noqa: E402
from mlpstudy.training import train  # noqa: E402


def fashion_or_generated() -> tuple[dict, str]:
    try:
        dirs = [str(REPO / "data" / "{name}"), "/usr/share/datasets/{name}"]
        return load_torchvision_dataset("fashion-mnist", dirs, False, Path(tempfile.mkdtemp())), "fashion-mnist"
    except DataError:
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 10, (70000,), generator=g)
        x = torch.randint(0, 256, (70000, 784), generator=g, dtype=torch.uint8)
        x[torch.arange(70000), y * 70] = 255  # a learnable signal
        return {"train_x": x[:60000], "train_y": y[:60000], "test_x": x[60000:], "test_y": y[60000:],
                "scale": 1 / 255, "classes": 10}, "generated (fashion-mnist not found)"


def timed_run(hp, data, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = train(hp, data, 0, device, log=lambda _: None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> int:
    failures = []
    device, slot = choose_device(1)
    print(f"device chosen for a job with gpu=1: {device}"
          f"{f' (slot {slot.gpu_id}, lock {slot.lock_path})' if slot else ''}")
    if device.type != "cuda":
        print("no usable CUDA device: nothing else to check")
        return 1
    print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    data, source = fashion_or_generated()
    print(f"data: {source}")

    base = hparam_defaults()
    short = {**base, "max_steps": 200}
    gpu, gpu_s = timed_run(short, data, device)
    cpu, cpu_s = timed_run(short, data, torch.device("cpu"))
    print(f"200 steps, 11 evaluations: GPU {gpu_s:.2f} s, CPU {cpu_s:.2f} s")
    for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
        diff = abs(gpu.final[key] - cpu.final[key])
        print(f"  {key:15s} GPU {gpu.final[key]:.6f}  CPU {cpu.final[key]:.6f}  |diff| {diff:.2e}")
        if diff > (2e-3 if "accuracy" in key else 1e-3):
            failures.append(f"{key} differs between GPU and CPU by {diff:.2e}")

    for name, hp in (("base", base), ("hidden_2048", {**base, "hidden": [2048]})):
        timed_run({**hp, "max_steps": 40}, data, device)  # warm-up: kernels, allocator
        result, seconds = timed_run(hp, data, device)
        print(f"full {name} run on the GPU: {seconds:.2f} s, {result.steps} steps, "
              f"final test accuracy {result.final['test_accuracy']:.4f}, status {result.status}")
    print("FAILED: " + "; ".join(failures) if failures else "all GPU checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
