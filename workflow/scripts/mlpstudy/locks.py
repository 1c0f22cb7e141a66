"""Clear the directory lock that a hard-killed Snakemake leaves behind.

Snakemake locks the working directory while it runs and removes the lock when
it exits; SIGKILL, an out-of-memory kill or a power cut leave the lock, and the
next run refuses to start. The lock files do not say who owns them, so we look
for a live owner instead: any other Snakemake process on this machine whose
working directory is ours. With none, the lock is stale and is removed.
(On a cluster, a Snakemake started in the same directory from another login
node is invisible here: run only one at a time per directory, as always.)
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: parent pid
    return pids


def _is_snakemake(cmdline: list[str]) -> bool:
    return any(os.path.basename(arg) == "snakemake" for arg in cmdline[:3])


def other_snakemake_in(directory: Path) -> bool:
    """Is another Snakemake process on this machine running in `directory`?"""
    directory, mine = directory.resolve(), _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if _is_snakemake(cmdline) and Path(os.readlink(entry / "cwd")) == directory:
                return True
        except OSError:  # the process ended, or it is not ours to inspect
            continue
    return False


def clear_stale_lock(workdir: str | Path = ".") -> bool:
    """Remove .snakemake/locks when no other Snakemake runs here; True if one was removed."""
    locks = Path(workdir) / ".snakemake" / "locks"
    if not Path("/proc/self").exists() or not locks.is_dir() or not any(locks.iterdir()):
        return False
    if other_snakemake_in(Path(workdir)):
        return False
    shutil.rmtree(locks)
    print("Removed the directory lock left by a Snakemake run that was killed "
          "(no other Snakemake runs in this directory on this machine).", file=sys.stderr)
    return True
