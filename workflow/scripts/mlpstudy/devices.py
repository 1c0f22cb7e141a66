"""Choosing the device of a training job, and how a pack of seeds trains on it, in one place.

Snakemake counts GPUs (`--resources gpu=N`) but does not say which one a job gets
(snakemake issue #281). So a job that was given a GPU claims one of the machine's
GPUs itself: it takes an exclusive `flock` on that GPU's lock file and keeps the file
open while it trains. The kernel drops the lock when the process ends, however it ends
(crash, SIGKILL, OOM), so a dead job never keeps a GPU. Under SLURM the scheduler has
already bound the job to its own GPU(s) through CUDA_VISIBLE_DEVICES: no lock is needed.
"""
from __future__ import annotations

import fcntl
import glob
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:  # torch is imported only where a device is chosen: parsing stays fast
    import torch

LOCK_DIR_ENV = "MLPSTUDY_GPU_LOCK_DIR"


def _in_slurm_job() -> bool:
    return "SLURM_JOB_ID" in os.environ


def visible_gpu_ids() -> list[str]:
    """The GPUs this process may use, as the machine names them, without importing CUDA.

    CUDA_VISIBLE_DEVICES when set (entries are indices or UUIDs); else one id per
    /dev/nvidia<N> device node. Inside a SLURM job only the GPUs SLURM assigned count:
    a job that asked for none must not wander onto a node's GPUs.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
        # CUDA stops at the first invalid entry; "-1" and SLURM's "NoDevFiles" mean none.
        kept = []
        for d in ids:
            if d == "-1" or d.lower() == "nodevfiles":
                break
            kept.append(d)
        return kept
    if _in_slurm_job():
        return []
    return sorted((p[len("/dev/nvidia"):] for p in glob.glob("/dev/nvidia[0-9]*")), key=int)


def gpus_visible() -> int:
    """How many GPUs this process may use (cheap enough for Snakefile parsing)."""
    return len(visible_gpu_ids())


def gpu_request(device_setting: str) -> int:
    """The `gpu` resource a training job asks for: 1 only where a GPU will be used."""
    if device_setting == "cpu":
        return 0
    if device_setting == "cuda":
        return 1
    return 1 if gpus_visible() > 0 else 0


def default_lock_dir() -> Path:
    """One directory per user and machine, shared by every workflow that user runs."""
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"mlpstudy-gpu-slots-{os.getuid()}"


class NoFreeGpu(RuntimeError):
    """Every GPU slot is held by another running job (raised only when not waiting)."""


@dataclass
class GpuSlot:
    """One claimed GPU: `index` for torch (cuda:index), `gpu_id` as the machine names it.

    Holds the lock file open until `release()` (or process exit, which the kernel
    handles); usable as a context manager.
    """

    index: int
    gpu_id: str
    lock_path: Optional[Path] = None
    _fd: Optional[int] = field(default=None, repr=False)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "GpuSlot":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _try_lock(path: Path) -> Optional[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # The holder's PID, for a human wondering who has the GPU; the lock is the flock.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def claim_gpu(gpu_ids: Optional[list[str]] = None, lock_dir: Optional[Path] = None,
              wait: bool = True, poll_s: float = 0.5,
              log: Callable[[str], None] = lambda line: None) -> GpuSlot:
    """Claim one GPU for this process, so concurrent jobs never share one.

    `gpu_ids` defaults to visible_gpu_ids() (tests pass a fake list). Inside a SLURM
    job the scheduler's CUDA_VISIBLE_DEVICES are the job's own: take the first, no
    lock. Otherwise try each GPU's lock file in turn; when all are held, wait for one
    (wait=True; only happens when --resources gpu=N exceeds the GPUs) or raise NoFreeGpu.
    """
    ids = visible_gpu_ids() if gpu_ids is None else list(gpu_ids)
    if not ids:
        raise NoFreeGpu("no GPU is visible to this process")
    if _in_slurm_job() and os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return GpuSlot(index=0, gpu_id=ids[0])
    directory = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index, gpu_id in enumerate(ids):
            # Keyed by the machine's name for the GPU, so jobs with different
            # CUDA_VISIBLE_DEVICES orders still agree on which lock is which GPU.
            path = directory / f"gpu-{gpu_id.replace('/', '_')}.lock"
            fd = _try_lock(path)
            if fd is not None:
                return GpuSlot(index=index, gpu_id=gpu_id, lock_path=path, _fd=fd)
        if not wait:
            raise NoFreeGpu(f"all {len(ids)} GPU slot(s) in {directory} are held")
        if not waited:
            log(f"all {len(ids)} GPU(s) busy (more --resources gpu than GPUs?): waiting for one")
            waited = True
        time.sleep(poll_s)


def choose_device(gpu_resource: int, log: Callable[[str], None] = lambda line: None
                  ) -> "tuple[torch.device, Optional[GpuSlot]]":
    """The job's device and, for a GPU, the slot to hold while training.

    CUDA only when the job was given a GPU (`gpu_resource` > 0) and CUDA works; a job
    given a GPU that CUDA cannot use (e.g. a cluster's GPU request on a node without
    drivers) trains on the CPU.
    """
    import torch

    if gpu_resource > 0 and torch.cuda.is_available():
        count = torch.cuda.device_count()
        # torch may see fewer devices than the device nodes suggest (containers, MIG).
        ids = (visible_gpu_ids() or [str(i) for i in range(count)])[:count]
        slot = claim_gpu(ids, log=log)
        device = torch.device("cuda", slot.index)
        torch.cuda.set_device(device)  # stray allocations land on our GPU, not cuda:0
        return device, slot
    return torch.device("cpu"), None


def trains_batched(device: "torch.device") -> bool:
    """Whether a pack of seeds trains as one batched model on `device`: on a GPU, where
    per-step launches dominate; not on a CPU, where batched matmuls measured no faster
    and the seeds train one after another, each bitwise the run it is alone."""
    return device.type == "cuda"
