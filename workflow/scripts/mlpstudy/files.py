"""Files: every atomic write of the package, and checksums.

Written under a temporary name and renamed, a file is never half-written under its final
name, whenever its job is killed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, temp_prefix: str | None = None):
    """Yield a temporary path beside `path` (named `temp_prefix`..., by default after `path`);
    on success rename it to `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix or f".{path.name}.")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | Path, data: bytes, temp_prefix: str | None = None) -> None:
    with atomic_path(path, temp_prefix) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, obj: dict) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_atomic(obj, path: str | Path) -> None:
    """torch.save under a temporary name, then rename."""
    import torch  # here: the report's scripts write through this module without loading torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
