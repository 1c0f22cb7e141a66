"""Watching a run as it trains: TensorBoard event files that hold exactly its recorded rows
(also across a kill and a resume), and progress lines in the job's log."""
import re

import pytest
import torch

from conftest import as_float32, event_rows
from mlpstudy.config import hparam_defaults
from mlpstudy.live import TensorBoardCurves, tensorboard_dir
from mlpstudy.training import train_pack

pytestmark = pytest.mark.unit

CPU = torch.device("cpu")


def hp(**changes):
    return {**hparam_defaults(), "hidden": [8], "batch_size": 16, "eval_every": 4, **changes}


def random_data(n_train=320, n_test=48, features=20, classes=3):
    g = torch.Generator().manual_seed(0)
    return {"train_x": torch.randint(0, 256, (n_train, features), generator=g, dtype=torch.uint8),
            "train_y": torch.randint(0, classes, (n_train,), generator=g),
            "test_x": torch.randint(0, 256, (n_test, features), generator=g, dtype=torch.uint8),
            "test_y": torch.randint(0, classes, (n_test,), generator=g),
            "scale": 1 / 255, "classes": classes}


def tensorboard(root):
    return lambda seed: TensorBoardCurves(tensorboard_dir(root, "data", "ablation", seed))


@pytest.mark.parametrize("batched", [False, True])
def test_each_seeds_event_files_hold_its_rows_at_every_step(tmp_path, batched):
    results = train_pack(hp(epochs=2), random_data(), [0, 1], CPU, batched=batched,
                         log=lambda _: None, curves=tensorboard(tmp_path))
    for seed, result in zip([0, 1], results):
        events = event_rows(tensorboard_dir(tmp_path, "data", "ablation", seed))
        assert events == as_float32(result.rows)
        assert {split for _, split, _, _ in events} == {"batch", "train", "test"}
    # the two seeds are two different curves, each in its own run directory
    assert event_rows(tmp_path / "data/ablation/seed0") != event_rows(tmp_path / "data/ablation/seed1")


def test_a_run_killed_and_resumed_has_every_step_once_in_its_event_files(tmp_path):
    setting = hp(epochs=3, checkpoint_every=7)  # 20 steps an epoch
    whole = train_pack(setting, random_data(), [0], CPU, log=lambda _: None)[0]

    class Killed(Exception):
        pass

    def die_in_the_second_epoch(line):
        if "seed 0: step 32/" in line:
            raise Killed

    checkpoints = {0: tmp_path / "seed0.pt"}
    with pytest.raises(Killed):
        train_pack(setting, random_data(), [0], CPU, checkpoints=checkpoints,
                   log=die_in_the_second_epoch, curves=tensorboard(tmp_path / "tb"))
    killed = event_rows(tmp_path / "tb/data/ablation/seed0")
    assert killed and max(step for step, *_ in killed) >= 28  # written past the checkpoint
    resumed = train_pack(setting, random_data(), [0], CPU, checkpoints=checkpoints,
                         log=lambda _: None, curves=tensorboard(tmp_path / "tb"))[0]
    assert resumed.resumed_from_step == 28  # the checkpoint at step 28, mid second epoch
    events = event_rows(tmp_path / "tb/data/ablation/seed0")
    assert len(events) == len(set(events))  # no step twice
    assert len(list((tmp_path / "tb/data/ablation/seed0").glob("events.out.tfevents.*"))) == 1
    assert events == as_float32(whole.rows)  # and none missing


def test_a_pack_logs_its_progress_at_least_every_tenth_of_its_steps():
    lines = []
    train_pack(hp(epochs=3), random_data(), [3, 4], CPU, log=lines.append)  # 2 x 60 steps
    progress = [line for line in lines if line.startswith("progress: ")]
    steps = [int(re.search(r"step (\d+)/120 ", line).group(1)) for line in progress]
    assert steps[-1] == 120 and steps == sorted(steps)
    assert max(b - a for a, b in zip([0] + steps, steps)) <= 12
    pattern = (r"progress: seeds 3, 4 \(2, one after another\): step \d+/120 \(\d+%\), "
               r"[\d.]+ steps/s, [\d.]+ (s|min|h) elapsed, about [\d.]+ (s|min|h) left")
    assert all(re.fullmatch(pattern, line) for line in progress), progress[0]
