"""Choosing the device of a training job, in one place."""
from __future__ import annotations

import glob
import os

import torch


def gpus_visible() -> int:
    """GPUs this machine shows, without importing CUDA (cheap enough for Snakefile parsing).

    Counts /dev/nvidia<N> device nodes, limited by CUDA_VISIBLE_DEVICES when set.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len(glob.glob("/dev/nvidia[0-9]*"))


def gpu_request(device_setting: str) -> int:
    """The `gpu` resource a training job asks for: 1 only where a GPU will be used."""
    if device_setting == "cpu":
        return 0
    if device_setting == "cuda":
        return 1
    return 1 if gpus_visible() > 0 else 0


def choose_device(gpu_resource: int) -> torch.device:
    """CUDA when the job was given a GPU and CUDA works, else the CPU."""
    if gpu_resource > 0 and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")
