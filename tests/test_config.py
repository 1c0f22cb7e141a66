"""Config validation: defaults, overrides, and errors that name the bad key."""
import copy

import pytest
import yaml

from conftest import REPO
from mlpstudy.config import ConfigError, hparam_defaults, load_schema, validate
from mlpstudy.plan import claim_datasets, datasets_of, hparams, sweep_points

pytestmark = pytest.mark.unit

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_is_the_reports_protocol():
    config = validate(DEFAULT)
    assert config["datasets"] == ["mnist"] and config["seeds"] == [0, 1, 2, 3, 4]
    base = hparams(config, "base", "mnist")
    assert base == {**hparam_defaults(), **{}}  # base overrides nothing
    assert (base["hidden"], base["activation"], base["loss"], base["lr"], base["momentum"],
            base["weight_decay"], base["batch_size"], base["epochs"], base["eval_every"]) == \
           ([256], "relu", "cross_entropy", 0.1, 0.0, 0.0, 64, 1, 20)


REPORT_ABLATIONS = {"base", "gelu", "maxout", "kl_div", "hidden_12", "hidden_24", "hidden_784",
                    "hidden_2048", "deep_512_256", "l2", "weight_decay", "dropout", "batch_norm",
                    "xor"}
# lr 0.1 is the protocol's: base and maxout themselves are those points.
LR_SWEEP = {f"{a}_lr{v}" for a in ("base", "maxout") for v in ("0p05", "0p2", "0p5", "1")}


def test_default_config_has_every_ablation_of_the_report_and_the_lr_sweep():
    assert set(validate(DEFAULT)["ablations"]) == REPORT_ABLATIONS | LR_SWEEP


def test_default_claims_compare_the_reports_widths_and_check_its_dynamics():
    claims = {c["text"]: c for c in validate(DEFAULT)["claims"]}
    width = [c for c in claims.values() if c["ablation"] == "hidden_2048" and c.get("reference")]
    assert [(c["reference"], c["size"]) for c in width] == [("hidden_24", 3.5)]
    metrics = {(c["ablation"], c["metric"]) for c in claims.values()}
    assert {("kl_div", "steps_to_accuracy"), ("kl_div", "stable_accuracy"),
            ("maxout", "steps_to_stable"), ("maxout_lr1", "diverged_fraction")} <= metrics


def test_ablation_overrides_only_its_keys_and_may_name_its_dataset():
    config = validate(DEFAULT)
    assert hparams(config, "maxout", "mnist")["activation"] == "maxout"
    assert hparams(config, "maxout", "mnist")["lr"] == config["protocol"]["lr"]
    assert hparams(config, "l2", "mnist")["l2"] == \
        hparams(config, "weight_decay", "mnist")["weight_decay"] > 0
    assert datasets_of(config, "xor") == ["xor"] and datasets_of(config, "gelu") == ["mnist"]


def test_every_ablation_runs_on_every_dataset_except_those_with_their_own():
    config = validate({**DEFAULT, "datasets": ["fashion-mnist", "mnist-5k"]})
    assert datasets_of(config, "gelu") == ["fashion-mnist", "mnist-5k"]
    assert datasets_of(config, "maxout_lr0p5") == ["fashion-mnist", "mnist-5k"]
    assert datasets_of(config, "xor") == ["xor"]
    claim = next(c for c in config["claims"] if c["ablation"] == "gelu")
    assert claim_datasets(config, claim) == ["fashion-mnist", "mnist-5k"]


def test_one_dataset_on_the_command_line_replaces_the_list():
    # `--config dataset=X`, the README's habit, still chooses the one dataset.
    assert validate({**DEFAULT, "dataset": "mnist-5k"})["datasets"] == ["mnist-5k"]
    assert validate({**DEFAULT, "datasets": ["mnist-5k", "fashion-mnist"]})["datasets"] == \
        ["mnist-5k", "fashion-mnist"]
    with pytest.raises(ConfigError, match="datasets: unknown dataset 'cifar'"):
        validate({**DEFAULT, "datasets": ["mnist", "cifar"]})


def test_a_sweep_expands_into_named_ablations():
    config = validate({**DEFAULT, "sweeps": {**DEFAULT["sweeps"], "grid": {
        "ablations": ["base", "hidden_12"],
        "values": {"lr": [0.05, 1.0], "hidden": [[64, 32]], "batch_norm": [True]}}}})
    names = [p["ablation"] for p in sweep_points("grid", config["sweeps"]["grid"], config)]
    assert names == ["base_lr0p05_hidden64x32_batch_normtrue",
                     "base_lr1_hidden64x32_batch_normtrue",
                     "hidden_12_lr0p05_hidden64x32_batch_normtrue",
                     "hidden_12_lr1_hidden64x32_batch_normtrue"]
    assert hparams(config, names[1], "mnist")["lr"] == 1.0 and hparams(config, names[1], "mnist")["hidden"] == [64, 32]
    # The starting ablation's own overrides are kept where the grid does not set them.
    maxout = hparams(validate(DEFAULT), "maxout_lr0p5", "mnist")
    assert (maxout["activation"], maxout["lr"]) == ("maxout", 0.5)
    assert validate(DEFAULT)["ablations"]["maxout_lr0p5"]["description"].endswith(
        "(sweep lr: lr=0.5)")


def test_a_sweep_point_that_changes_nothing_is_its_starting_ablation():
    # lr 0.1 is the protocol's lr: base and maxout at 0.1 are trained once, as themselves.
    config = validate(DEFAULT)
    points = sweep_points("lr", config["sweeps"]["lr"], config)
    assert [p["ablation"] for p in points if p["values"]["lr"] == 0.1] == ["base", "maxout"]
    assert not {"base_lr0p1", "maxout_lr0p1"} & set(config["ablations"])
    # An ablation's own override counts too: starting from lr 0.5, the point at 0.5 is it.
    config = validate({**DEFAULT, "sweeps": {"lr": {"ablations": ["fast"], "values": {
        "lr": [0.5, 0.1]}}}, "ablations": {**DEFAULT["ablations"], "fast": {"lr": 0.5}},
        "claims": []})
    assert [p["ablation"] for p in sweep_points("lr", config["sweeps"]["lr"], config)] == \
        ["fast", "fast_lr0p1"]


@pytest.mark.parametrize("sweep, message", [
    ({"ablations": ["base"], "values": {"learning_rate": [0.1]}},
     "sweeps.bad: unknown key 'learning_rate'"),
    ({"ablations": ["base"], "values": {"lr": []}}, "sweeps.bad.values.lr = []: must list at least 1"),
    ({"ablations": ["base"], "values": {}}, "sweeps.bad.values = {}"),
    ({"ablations": ["nope"], "values": {"lr": [0.1]}},
     "sweeps.bad: starting ablation 'nope' is not an ablation"),
    ({"ablations": ["hidden"], "values": {"_12": [1]}}, "sweeps.bad: starting ablation 'hidden'"),
    ({"ablations": ["base"], "values": {"lr": [-1]}}, "sweeps.bad: base_lrm1: lr = -1: must be > 0"),
    ({"ablations": ["base"], "values": {"activation": ["relu/x"]}},
     "sweeps.bad: value(s) {'activation': 'relu/x'}"),
])
def test_a_bad_sweep_fails_naming_it(sweep, message):
    with pytest.raises(ConfigError) as error:
        validate({**DEFAULT, "sweeps": {**DEFAULT["sweeps"], "bad": sweep}})
    assert message in str(error.value)


@pytest.mark.parametrize("entries, message", [
    ({"mnst-5k": {"epochs": 15}}, "dataset_protocol.mnst-5k: unknown dataset 'mnst-5k'; "
                                  "choose one of fashion-mnist, mnist, mnist-5k, xor"),
    ({"mnist-5k": {"epoch": 15}}, "unknown key 'epoch' in dataset_protocol.mnist-5k; allowed "
                                  "keys are: activation, batch_norm, batch_size"),
    ({"mnist-5k": {"description": "x"}}, "unknown key 'description' in dataset_protocol.mnist-5k"),
    ({"mnist-5k": {"max_steps": 0}}, "dataset_protocol.mnist-5k.max_steps = 0: must be >= 1 "
                                     "(max_steps: Stop after"),
    ({"mnist-5k": {"lr": "fast"}}, "dataset_protocol.mnist-5k.lr = 'fast': must be a number"),
    ({"mnist-5k": 15}, "dataset_protocol.mnist-5k = 15: must be a mapping of keys"),
    ({"../x": {}}, "invalid name '../x' in dataset_protocol"),
])
def test_a_bad_dataset_protocol_fails_naming_the_key(entries, message):
    with pytest.raises(ConfigError) as error:
        validate({**DEFAULT, "dataset_protocol": entries})
    assert message in str(error.value)


def test_a_dataset_protocol_may_name_any_known_dataset_not_only_the_studys():
    # The default config sets mnist-5k's protocol and studies mnist: `--config
    # dataset=mnist-5k` must find it there. A custom dataset is known once declared.
    assert validate(DEFAULT)["datasets"] == ["mnist"]
    assert "mnist-5k" in validate(DEFAULT)["dataset_protocol"]
    config = validate({**DEFAULT, "custom_datasets": {"mine": "data/mine"},
                       "dataset_protocol": {"mine": {"epochs": 3}}})
    assert config["dataset_protocol"] == {"mine": {"epochs": 3}}  # no defaults filled in


def test_a_sweep_name_clash_with_an_ablation_fails_naming_both():
    config = copy.deepcopy(DEFAULT)
    config["ablations"]["base_lr0p5"] = {"lr": 0.5}
    with pytest.raises(ConfigError) as error:
        validate(config)
    assert "sweeps.lr: expanded name 'base_lr0p5' clashes with an ablation" in str(error.value)


def test_missing_keys_get_the_schema_defaults():
    config = validate({"ablations": {"base": {}}})
    assert config["protocol"] == hparam_defaults()
    assert config["seeds"] == [0, 1, 2, 3, 4] and config["device"] == "auto"


def test_the_schema_defaults_reach_every_level():
    config = validate({"ablations": {"base": {}, "wide": {"hidden": [512], "description": "w"}},
                       "sweeps": {"lr": {"ablations": ["base"], "values": {"lr": [0.5]}}},
                       "claims": [{"text": "t", "ablation": "wide", "metric": "test_accuracy",
                                   "expect": "greater"}]})
    assert config["ablations"]["base"] == {"description": ""}  # no hyper-parameter filled in
    assert config["ablations"]["wide"] == {"hidden": [512], "description": "w"}
    assert config["sweeps"]["lr"]["description"] == ""
    assert config["xor"] == {"repeats": 1, "jitter": 0.0}
    claim = config["claims"][0]
    assert (claim["reference"], claim["split"], claim["size"], claim["datasets"]) == \
        (None, "test", 0, ["mnist"])


def test_every_schema_key_has_type_description_and_default():
    schema = load_schema()
    for name, spec in {**schema["properties"], **schema["$defs"]["hparams"]["properties"]}.items():
        assert "description" in spec, name
        assert "default" in spec, name
        assert "type" in spec or "$ref" in spec, name


def test_a_claim_key_is_either_required_or_has_a_default():
    claim = load_schema()["properties"]["claims"]["items"]
    for name, spec in claim["properties"].items():
        assert (name in claim["required"]) != ("default" in spec), name


def broken(path, value):
    config = copy.deepcopy(DEFAULT)
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


@pytest.mark.parametrize("path, value, named", [
    (("learning_rate",), 0.1, "'learning_rate'"),
    (("ablations", "gelu", "activaton"), "gelu", "'activaton'"),
    (("protocol", "lr"), "fast", "protocol.lr"),
    (("protocol", "lr"), 0, "protocol.lr"),
    (("ablations", "maxout", "maxout_k"), 1, "ablations.maxout.maxout_k"),
    (("ablations", "base", "hidden"), [0], "ablations.base.hidden.0"),
    (("ablations", "gelu", "activation"), "swish", "ablations.gelu.activation"),
    (("seeds",), [], "seeds"),
    (("dataset",), "cifar", "cifar"),
])
def test_bad_config_fails_naming_the_key(path, value, named):
    with pytest.raises(ConfigError) as error:
        validate(broken(path, value))
    assert named in str(error.value)


@pytest.mark.parametrize("metric, key, bad", [("steps_to_accuracy", "threshold", 101),
                                              ("steps_to_stable", "within", 0)])
def test_a_claims_per_dataset_value_must_cover_the_datasets_it_is_checked_on(metric, key, bad):
    config = {**copy.deepcopy(DEFAULT), "datasets": ["mnist", "mnist-5k"]}
    claim = next(c for c in config["claims"] if c["metric"] == metric)
    claim[key] = {"mnist": 3.0}
    with pytest.raises(ConfigError, match=rf"{key} gives no value for dataset\(s\) mnist-5k, "
                                          "where the claim is checked"):
        validate(config)
    claim[key] = {"mnist": 3.0, "mnist-5k": bad}
    with pytest.raises(ConfigError, match=rf"claims.\d+.{key}.mnist-5k = {bad}: must be "):
        validate(config)


@pytest.mark.parametrize("name", ["../escape", "a/b", "with space", ".."])
def test_ablation_names_that_could_escape_results_are_rejected(name):
    config = copy.deepcopy(DEFAULT)
    config["ablations"][name] = {}
    with pytest.raises(ConfigError, match="invalid name"):
        validate(config)


def test_command_line_seeds_arrive_as_strings_and_are_accepted():
    assert validate({**DEFAULT, "seeds": ["3", "4"]})["seeds"] == [3, 4]


def test_uncertainty_must_count_the_seeds():
    with pytest.raises(ConfigError, match=r"uncertainty = \[\"test_set\"\]: must include seeds"):
        validate({**DEFAULT, "uncertainty": ["test_set"]})
    assert validate(DEFAULT)["uncertainty"] == ["seeds", "test_set"]
    assert validate({**DEFAULT, "uncertainty": ["seeds"]})["uncertainty"] == ["seeds"]


def test_command_line_protocol_keys_arrive_as_strings_and_are_read_as_yaml():
    # What Snakemake makes of --config 'dataset_protocol={mnist-5k: {max_steps: 100}}'.
    config = validate({**DEFAULT, "dataset": "mnist-5k",
                       "protocol": {**DEFAULT["protocol"], "lr": "0.3", "activation": "gelu"},
                       "dataset_protocol": {"mnist-5k": {"max_steps": "100", "hidden": "[64, 32]",
                                                         "batch_norm": "true"}},
                       "ablations": {**DEFAULT["ablations"], "base": {"dropout": "0.1"}}})
    base = hparams(config, "base", "mnist-5k")
    assert (base["lr"], base["activation"], base["max_steps"], base["hidden"],
            base["batch_norm"], base["dropout"]) == (0.3, "gelu", 100, [64, 32], True, 0.1)
    # A string that is not a value of the key is still named.
    with pytest.raises(ConfigError, match="dataset_protocol.mnist-5k.lr = 'fast': must be a"):
        validate({**DEFAULT, "dataset_protocol": {"mnist-5k": {"lr": "fast"}}})
