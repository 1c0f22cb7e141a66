"""GPU check of the training path, for a machine with a CUDA GPU (not part of pytest).

    python tests/benchmarks/gpu_check.py

1. A training job given a GPU (resource gpu=1) gets cuda:N through the GPU-slot logic.
2. The base protocol trained on the GPU follows the CPU's curves: the same seed gives
   the same batches and initial weights on both, so the final accuracies may differ
   only by float rounding (summation order of the kernels).
3. The full base run and the hidden-2048 run on the GPU, timed.
4. A pack of five seeds trained batched (CUDA graph, and eagerly) follows each seed's run
   alone on the GPU (losses within a relative 1e-4 over 60 steps, accuracies within 0.3
   points), a seed's curves do not depend on its pack-mates, and the pack's full base
   run is timed against the five runs one after another.
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
from mlpstudy.datasets import DataError, load_torchvision_dataset  # noqa: E402
from mlpstudy.devices import choose_device  # noqa: E402
from mlpstudy.training import train_pack, train_seed  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]


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
    result = train_seed(hp, data, 0, device, log=lambda _: None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def worst_difference(alone, packed) -> tuple[float, float]:
    """Largest relative loss difference and absolute accuracy difference, row by row."""
    rel = acc = 0.0
    for a, p in zip(alone.rows, packed.rows):
        if a[3] == "loss":
            rel = max(rel, abs(a[4] - p[4]) / max(abs(a[4]), 1e-12))
        else:
            acc = max(acc, abs(a[4] - p[4]))
    return rel, acc


def timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - start


def check_packs(base: dict, data: dict, device) -> list[str]:
    import os
    failures = []
    quiet = lambda _: None  # noqa: E731
    for ablation, changes in (("base", {}), ("maxout", {"activation": "maxout"}),
                              ("dropout", {"dropout": 0.2}), ("batch_norm", {"batch_norm": True}),
                              ("layer_norm", {"layer_norm": True})):
        hp = {**base, **changes, "max_steps": 60}
        alone = [train_seed(hp, data, s, device, log=quiet) for s in SEEDS]
        for graphs in ("1", "0"):
            os.environ["MLPSTUDY_CUDA_GRAPHS"] = graphs
            packed = train_pack(hp, data, SEEDS, device, log=quiet)
            worst = [worst_difference(a, p) for a, p in zip(alone, packed)]
            rel, acc = max(w[0] for w in worst), max(w[1] for w in worst)
            print(f"pack of {len(SEEDS)} vs alone, {ablation}, graphs {graphs}: worst loss "
                  f"rel {rel:.1e}, accuracy {acc:.4f}")
            if rel > 1e-4 or acc > 0.003:
                failures.append(f"{ablation} pack (graphs {graphs}) drifts: {rel:.1e}, {acc:.4f}")
        os.environ.pop("MLPSTUDY_CUDA_GRAPHS")
        mates = train_pack(hp, data, [SEEDS[2]], device, log=quiet)[0]
        same = mates.rows == packed[2].rows
        print(f"  seed {SEEDS[2]} alone in a pack == with mates: {same} "
              f"(worst {worst_difference(mates, packed[2])})")
    train_pack({**base, "max_steps": 40}, data, SEEDS, device, log=quiet)  # warm-up
    packed, pack_s = timed(lambda: train_pack(base, data, SEEDS, device, log=quiet))
    _, alone_s = timed(lambda: [train_seed(base, data, s, device, log=quiet) for s in SEEDS])
    print(f"full base run, {len(SEEDS)} seeds: one batched pack {pack_s:.2f} s, one after "
          f"another {alone_s:.2f} s ({alone_s / pack_s:.1f}x); in a pack, final test accuracy "
          f"{[round(r.final['test_accuracy'], 4) for r in packed]}")
    return failures


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
    failures += check_packs(base, data, device)
    print("FAILED: " + "; ".join(failures) if failures else "all GPU checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
