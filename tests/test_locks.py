"""A stale directory lock is cleared only when no other Snakemake runs in the directory."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlpstudy.locks import clear_stale_lock, other_snakemake_in

pytestmark = pytest.mark.unit


def make_lock(workdir):
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("results/x\n")
    return locks


def test_a_stale_lock_is_removed(tmp_path):
    locks = make_lock(tmp_path)
    assert clear_stale_lock(tmp_path) and not locks.exists()
    assert not clear_stale_lock(tmp_path)  # nothing left to clear


def started(proc: subprocess.Popen) -> subprocess.Popen:
    """`proc` once it runs its own program: just after Popen the child may not have exec'd yet."""
    deadline = time.monotonic() + 10
    while b"snakemake" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the fake snakemake did not start"
        time.sleep(0.01)
    return proc


def test_the_lock_of_a_live_snakemake_in_the_same_directory_is_kept(tmp_path):
    locks = make_lock(tmp_path)
    fake = tmp_path / "bin" / "snakemake"  # a process whose command is `snakemake ...`
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport time; time.sleep(60)\n")
    fake.chmod(0o755)
    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    elsewhere = started(subprocess.Popen([str(fake), "--cores", "1"], cwd=other_dir))
    try:
        assert not other_snakemake_in(tmp_path)  # running, but in another directory
        here = started(subprocess.Popen([str(fake), "--cores", "1"], cwd=tmp_path))
        try:
            assert other_snakemake_in(tmp_path)
            assert not clear_stale_lock(tmp_path) and locks.exists()
        finally:
            here.kill(); here.wait()
    finally:
        elsewhere.kill(); elsewhere.wait()
    assert clear_stale_lock(tmp_path)
