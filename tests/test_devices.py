"""GPU choice and the multi-GPU slot logic, on fake device lists (no GPU needed)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import pack_dir, run_snakemake, seed_file, tiny_config
from mlpstudy import devices
from mlpstudy.devices import GpuSlot, NoFreeGpu, choose_device, claim_gpu, gpu_request

pytestmark = pytest.mark.workflow

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


@pytest.fixture(autouse=True)
def plain_env(monkeypatch, tmp_path):
    """No SLURM job, no CUDA_VISIBLE_DEVICES, private lock directory."""
    for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(devices.LOCK_DIR_ENV, str(tmp_path / "locks"))


@pytest.mark.parametrize("visible, expected", [
    ("0,1", ["0", "1"]), ("3", ["3"]), ("", []), ("-1", []), ("NoDevFiles", []),
    ("GPU-1a2b,GPU-3c4d", ["GPU-1a2b", "GPU-3c4d"]), ("1,-1,2", ["1"]),
])
def test_visible_gpu_ids_follow_cuda_visible_devices(monkeypatch, visible, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert devices.visible_gpu_ids() == expected
    assert devices.gpus_visible() == len(expected)


def test_a_slurm_job_without_assigned_gpus_sees_none(monkeypatch):
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: ["/dev/nvidia0", "/dev/nvidia1"])
    assert devices.visible_gpu_ids() == ["0", "1"]
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert devices.visible_gpu_ids() == []


def test_gpu_request(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert (gpu_request("auto"), gpu_request("cpu"), gpu_request("cuda")) == (1, 0, 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    # No GPU here: nothing waits on one, unless the user insists (cluster submit hosts).
    assert (gpu_request("auto"), gpu_request("cpu"), gpu_request("cuda")) == (0, 0, 1)


def test_concurrent_claims_get_distinct_gpus_until_none_is_left(tmp_path):
    ids = ["0", "1", "2"]
    slots = [claim_gpu(ids, lock_dir=tmp_path, wait=False) for _ in ids]
    assert sorted(s.index for s in slots) == [0, 1, 2]
    assert [s.gpu_id for s in slots] == [ids[s.index] for s in slots]
    with pytest.raises(NoFreeGpu):
        claim_gpu(ids, lock_dir=tmp_path, wait=False)
    slots[1].release()
    again = claim_gpu(ids, lock_dir=tmp_path, wait=False)
    assert again.index == slots[1].index
    for s in (slots[0], slots[2], again):
        s.release()


def test_a_claim_waits_for_a_slot_to_be_released(tmp_path):
    held = claim_gpu(["7"], lock_dir=tmp_path)
    lines, released_at = [], []

    def release():
        released_at.append(time.monotonic())
        held.release()

    threading.Timer(0.5, release).start()
    with claim_gpu(["7"], lock_dir=tmp_path, poll_s=0.05, log=lines.append) as slot:
        # got only once the holder let go (an order of events, not a duration)
        assert slot.gpu_id == "7" and released_at and time.monotonic() >= released_at[0]
    assert lines and "waiting" in lines[0]


CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from mlpstudy.devices import claim_gpu
slot = claim_gpu(sys.argv[3].split(","), lock_dir=sys.argv[2], wait=False)
print(slot.index, flush=True)
sys.stdin.read()  # hold the GPU until the parent closes our stdin (or kills us)
"""


def _start_child(lock_dir: Path, ids: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(SCRIPTS), str(lock_dir), ids],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_separate_processes_share_out_gpus_and_a_killed_job_frees_its_gpu(tmp_path):
    """Four jobs on four fake GPUs: four distinct devices, none piles onto cuda:0;
    a fifth finds none free; SIGKILL of a holder frees its GPU for the next job."""
    ids = "0,1,2,3"
    children = [_start_child(tmp_path, ids) for _ in range(4)]
    try:
        indices = [int(c.stdout.readline()) for c in children]
        assert sorted(indices) == [0, 1, 2, 3]
        extra = _start_child(tmp_path, ids)
        _, err = extra.communicate(timeout=60)
        assert extra.returncode != 0 and "NoFreeGpu" in err
        victim = children[2]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        with claim_gpu(ids.split(","), lock_dir=tmp_path, wait=False) as slot:
            assert slot.index == indices[2]
    finally:
        for c in children:
            if c.poll() is None:
                c.stdin.close()
                c.wait(timeout=30)


def test_inside_slurm_the_assigned_gpu_is_used_without_a_lock(monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    first = claim_gpu(lock_dir=tmp_path, wait=False)
    second = claim_gpu(lock_dir=tmp_path, wait=False)  # another job on the node: its own GPU
    assert (first.index, first.gpu_id, first.lock_path) == (0, "3", None)
    assert second.index == 0
    assert not list(tmp_path.iterdir())


def test_choose_device_without_a_gpu_resource_is_the_cpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert choose_device(0) == (torch.device("cpu"), None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a CUDA-less machine")
def test_a_gpu_job_where_cuda_does_not_work_trains_on_the_cpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # e.g. a fake or driverless GPU
    assert choose_device(1) == (torch.device("cpu"), None)


def test_choose_device_spreads_gpu_jobs_over_a_fake_two_gpu_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: ["/dev/nvidia0", "/dev/nvidia1"])
    (d0, s0), (d1, s1) = choose_device(1), choose_device(1)
    assert {d0, d1} == {torch.device("cuda", 0), torch.device("cuda", 1)}
    assert chosen == [d0, d1]
    s0.release()
    d2, s2 = choose_device(1)
    assert d2 == d0 and isinstance(s2, GpuSlot)
    s1.release()
    s2.release()


# --- through the workflow -----------------------------------------------------------


def _train_gpu_requests(dry_run_output: str) -> list[str]:
    blocks = dry_run_output.split("rule train:")[1:]
    return [re.search(r"resources: .*?\bgpu=(\d+)", b).group(1) for b in blocks]


def test_the_device_setting_decides_the_gpu_request(workdir):
    """cpu forces the CPU (no GPU asked for), cuda always asks, auto asks only where a
    GPU is visible: on a machine without one nothing waits for a GPU."""
    tiny_config(workdir, ablations={"base": {}}, seeds=(0,))
    auto = "1" if devices.gpus_visible() else "0"
    for setting, expected in (("cpu", "0"), ("cuda", "1"), ("auto", auto)):
        out = run_snakemake(workdir, "-n", "--config", f"device={setting}").stdout
        assert _train_gpu_requests(out) == [expected], setting


def test_gpu_jobs_run_one_at_a_time_under_resources_gpu_1(workdir):
    """Two GPU training jobs, two cores, `--resources gpu=1`: the second starts only
    after the first finished; without CUDA both train on the CPU and say so."""
    tiny_config(workdir, ablations={"base": {}, "gelu": {"activation": "gelu"}}, seeds=(0,),
                device="cuda")
    targets = [pack_dir("tiny", a, "seeds0") for a in ("base", "gelu")]
    out = run_snakemake(workdir, "--resources", "gpu=1", "--", *targets, timeout=300).stdout
    running, most = 0, 0
    for line in out.splitlines():
        if re.match(r"(local)?rule train:", line):
            running += 1
            most = max(most, running)
        elif re.match(r"Finished jobid: \d+ \(Rule: train\)", line):
            running -= 1
    assert most == 1 and out.count("Rule: train)") == 2, out[-3000:]
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    for ablation in ("base", "gelu"):
        run = workdir / seed_file("tiny", ablation, "seeds0", 0, "run.json")
        assert json.loads(run.read_text())["device"] == expected
