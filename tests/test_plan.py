"""The study's plan: which training jobs a config asks for, their names both ways, their order."""
import json
import math
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import REPO
from mlpstudy import flops, plan
from mlpstudy.config import validate

pytestmark = pytest.mark.unit

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def study(**changes):
    return validate({**DEFAULT, **changes})


def test_the_plan_imports_and_answers_without_torch_or_snakemake():
    probe = textwrap.dedent(f"""
        import json, sys
        sys.modules["torch"] = sys.modules["snakemake"] = None  # importing either fails
        sys.path.insert(0, {str(REPO / "workflow" / "scripts")!r})
        import yaml
        from mlpstudy import config, plan
        study = config.validate({{**yaml.safe_load(open({str(REPO / "config" / "config.yaml")!r})),
                                  "seeds": [0, 1, 2], "seeds_per_job": 2}})
        print(json.dumps(plan.train_jobs(study)))
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    jobs = [tuple(job) for job in json.loads(out)]
    assert ("mnist", "base", "seeds0-1") in jobs and ("mnist", "base", "seeds2") in jobs
    assert ("xor", "xor", "seeds0-1") in jobs and not any(d == "mnist" and a == "xor"
                                                           for d, a, _ in jobs)
    assert len(jobs) == 2 * len(study(seeds=[0, 1, 2])["ablations"])


@pytest.mark.parametrize("seeds", [(0,), (3,), (0, 1, 2, 3, 4), (5, 9, 7)])
def test_a_packs_name_gives_back_its_first_and_last_seed(seeds):
    name = plan.pack_name(seeds)
    assert plan.pack_ends(name) == (seeds[0], seeds[-1])
    assert name == (f"seeds{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}")


@pytest.mark.parametrize("name", ["seeds", "seed3", "seeds1-", "seeds-1", "pack0-4", "seeds0-4x"])
def test_what_is_not_a_packs_name_is_refused(name):
    with pytest.raises(ValueError, match="not a pack's name"):
        plan.pack_ends(name)


def test_packs_are_chunks_of_seeds_per_job_in_each_round():
    config = study(seeds=[0, 1, 2], seeds_per_job=2, adaptive_seeds={"max": 7, "step": 3})
    assert plan.round_seeds(config) == [[0, 1, 2], [3, 4, 5], [6]]
    assert plan.round_packs(config) == [{"seeds0-1": (0, 1), "seeds2": (2,)},
                                        {"seeds3-4": (3, 4), "seeds5": (5,)}, {"seeds6": (6,)}]
    assert plan.packs(config) == {"seeds0-1": (0, 1), "seeds2": (2,), "seeds3-4": (3, 4),
                                  "seeds5": (5,), "seeds6": (6,)}


def test_later_rounds_train_what_the_looks_before_them_asked_for():
    config = study(datasets=["mnist-5k", "fashion-mnist"], seeds=[0, 1],
                   adaptive_seeds={"max": 6, "step": 2})
    asked = []

    def look(dataset, k):  # look 0 on mnist-5k wants more gelu; every later look, nothing
        asked.append((dataset, k))
        return ["gelu"] if (dataset, k) == ("mnist-5k", 0) else []

    jobs = plan.train_jobs(config, look)
    assert ("mnist-5k", "gelu", "seeds2-3") in jobs
    assert ("mnist-5k", "base", "seeds2-3") not in jobs
    assert not any(pack != "seeds0-1" for d, _, pack in jobs if d != "mnist-5k")
    assert not any(pack == "seeds4-5" for *_, pack in jobs)  # look 1 asked for nothing
    assert ("xor", 0) not in asked  # xor, an ablation's own dataset, has no rounds
    # the first looks only, and a dataset's own jobs
    assert {p for d, a, p in plan.train_jobs(config, look, "mnist-5k", looks=1)} == {"seeds0-1"}
    # before any look (or without adaptive seeds), the first round alone
    assert {p for *_, p in plan.train_jobs(config)} == {"seeds0-1"}


def test_bigger_models_start_first_counting_every_linear_layer_of_their_dataset():
    config = study(datasets=["mnist-5k"])
    priority = {a: plan.train_priority(config, d, a) for a in config["ablations"]
                for d in plan.datasets_of(config, a)}
    assert priority["xor"] < priority["base"] == (784 * 256 + 256 * 10) // 1000
    assert priority["maxout"] == (784 * 256 + 256 * 512 + 256 * 10) // 1000 > priority["base"]
    assert priority["hidden_2048"] == max(priority.values())


def test_the_plans_layer_shapes_are_the_networks():
    import torch
    from mlpstudy.models import build_mlp
    config = study()
    for ablation in config["ablations"]:
        hp = plan.hparams(config, ablation, "mnist")
        for features, classes in (plan.MNIST_SHAPE, plan.SHAPES["xor"]):
            network = build_mlp(hp, features, classes)
            linear = [(m.in_features, m.out_features) for m in network.modules()
                      if isinstance(m, torch.nn.Linear)]
            assert flops.linear_shapes(hp, features, classes) == linear, ablation


def test_a_datasets_protocol_sits_between_the_protocol_and_the_ablations_keys():
    config = study(datasets=["mnist", "mnist-5k"],
                   dataset_protocol={"mnist-5k": {"epochs": 15, "max_steps": 938, "lr": 0.2}},
                   ablations={"base": {}, "fast": {"lr": 0.5}}, sweeps={}, figure_groups={},
                   claims=[])
    assert plan.dataset_protocol(config, "mnist-5k") == {"epochs": 15, "max_steps": 938, "lr": 0.2}
    assert plan.dataset_protocol(config, "mnist") == {}
    on_mnist, on_5k = plan.hparams(config, "base", "mnist"), plan.hparams(config, "base", "mnist-5k")
    assert on_mnist == config["protocol"]
    assert on_5k == {**config["protocol"], "epochs": 15, "max_steps": 938, "lr": 0.2}
    # The ablation's own key wins over the dataset's; the dataset's others still apply.
    fast = plan.hparams(config, "fast", "mnist-5k")
    assert (fast["lr"], fast["epochs"], fast["max_steps"]) == (0.5, 15, 938)
    assert plan.hparams(config, "fast", "mnist")["lr"] == 0.5
    # The merge is computed, never written back: the protocol itself is unchanged.
    assert config["protocol"]["epochs"] == 1 and config["protocol"]["lr"] == 0.1


def test_the_default_mnist_5k_runs_the_reports_steps_on_the_reports_grid():
    from mlpstudy.training import planned_steps
    config = study(datasets=["mnist", "mnist-5k"])
    for ablation in plan.ablations_on(config, "mnist-5k"):
        report = plan.hparams(config, ablation, "mnist")
        hp = plan.hparams(config, ablation, "mnist-5k")
        steps = planned_steps(hp, 4000)  # mnist-5k's training digits
        assert steps == planned_steps(report, 60_000) == 938, ablation
        # Evaluations after step 0: every eval_every steps and at the last step.
        assert hp["eval_every"] == 20 and math.ceil(steps / hp["eval_every"]) == 47, ablation


def test_a_sweep_point_is_its_starting_ablation_only_if_it_is_on_every_dataset():
    # mnist-5k sets lr 0.2 itself: lr 0.1 is base on mnist but not on mnist-5k, so the point
    # is an ablation of its own, which gets lr 0.1 on both.
    config = study(datasets=["mnist", "mnist-5k"], dataset_protocol={"mnist-5k": {"lr": 0.2}})
    points = plan.sweep_points("lr", config["sweeps"]["lr"], config)
    assert [p["ablation"] for p in points if p["values"]["lr"] == 0.1] == ["base_lr0p1",
                                                                          "maxout_lr0p1"]
    assert {plan.hparams(config, "base_lr0p1", d)["lr"] for d in ("mnist", "mnist-5k")} == {0.1}
    # The default mnist-5k protocol sets no swept key: lr 0.1 is base itself there too.
    points = plan.sweep_points("lr", config["sweeps"]["lr"], study(datasets=["mnist", "mnist-5k"]))
    assert [p["ablation"] for p in points if p["values"]["lr"] == 0.1] == ["base", "maxout"]


def test_each_claim_is_checked_where_both_its_ablations_run():
    config = study(datasets=["fashion-mnist", "mnist-5k"])
    claim = next(c for c in config["claims"] if c["ablation"] == "gelu")
    assert claim["datasets"] == plan.claim_datasets(config, claim) == ["fashion-mnist", "mnist-5k"]
    xor_vs_base = {**claim, "ablation": "xor", "reference": "base"}
    assert plan.claim_datasets(config, xor_vs_base) == []


def test_each_ablation_is_compared_per_class_with_its_claims_reference_else_the_baseline():
    config = study(datasets=["mnist-5k"])
    references = plan.references(config, "mnist-5k")
    assert references["maxout"] == "base"  # its claims' reference
    assert references["hidden_2048"] == "hidden_24" and references["l2"] == "weight_decay"
    assert references["deep_512_256"] == "hidden_784"  # the first claim that has a reference
    assert references["dropout"] == "base"  # in no claim with a reference: the baseline
    assert "base" not in references and "xor" not in references  # xor runs on its own dataset
    assert plan.references(config, "xor") == {}  # a dataset with one ablation


def test_a_dataset_job_depends_only_on_its_own_config_keys():
    config = study(custom_datasets={"mine": "data/mine"})
    assert plan.data_options("mnist-5k", config) == {}
    assert plan.data_options("xor", config) == {"xor": config["xor"]}
    assert set(plan.data_options("fashion-mnist", config)) == {"data_dirs", "download"}
    assert plan.data_options("mine", config) == {"custom_datasets": {"mine": "data/mine"}}


def test_the_config_hash_ignores_how_jobs_run_but_not_what_they_compute():
    config = study()
    assert plan.config_hash({**config, "tensorboard": False}) == plan.config_hash(config)
    assert plan.config_hash(study(seeds=[0, 1])) != plan.config_hash(config)
    assert plan.config_hash(study(dataset_protocol={})) != plan.config_hash(config)
