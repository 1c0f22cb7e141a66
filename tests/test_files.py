"""Atomic writes: a failure mid-write leaves neither the target nor a temporary file."""
import os

import pytest

from mlpstudy.files import atomic_path

pytestmark = pytest.mark.unit


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out" / "metrics.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a file")
            raise RuntimeError("killed")
    assert not target.exists() and os.listdir(target.parent) == []


def test_a_successful_write_replaces_the_target_with_normal_permissions(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # the old file stays whole until the rename
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["run.json"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
