"""Config validation: defaults, overrides, and errors that name the bad key."""
import copy

import pytest
import yaml

from conftest import REPO
from mlpstudy.config import ConfigError, dataset_of, hparam_defaults, hparams, load_schema, validate

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_is_the_reports_protocol():
    config = validate(DEFAULT)
    assert config["dataset"] == "mnist" and config["seeds"] == [0, 1, 2, 3, 4]
    base = hparams(config, "base")
    assert base == {**hparam_defaults(), **{}}  # base overrides nothing
    assert (base["hidden"], base["activation"], base["loss"], base["lr"], base["momentum"],
            base["weight_decay"], base["batch_size"], base["epochs"], base["eval_every"]) == \
           ([256], "relu", "cross_entropy", 0.1, 0.0, 0.0, 64, 1, 20)


def test_default_config_has_every_ablation_of_the_report():
    assert set(validate(DEFAULT)["ablations"]) == {
        "base", "gelu", "maxout", "kl_div", "hidden_12", "hidden_24", "hidden_784", "hidden_2048",
        "deep_512_256", "l2", "weight_decay", "dropout", "batch_norm", "xor"}


def test_ablation_overrides_only_its_keys_and_may_name_its_dataset():
    config = validate(DEFAULT)
    assert hparams(config, "maxout")["activation"] == "maxout"
    assert hparams(config, "maxout")["lr"] == config["protocol"]["lr"]
    assert hparams(config, "l2")["l2"] == hparams(config, "weight_decay")["weight_decay"] > 0
    assert dataset_of(config, "xor") == "xor" and dataset_of(config, "gelu") == "mnist"


def test_missing_keys_get_the_schema_defaults():
    config = validate({"ablations": {"base": {}}})
    assert config["protocol"] == hparam_defaults()
    assert config["seeds"] == [0, 1, 2, 3, 4] and config["device"] == "auto"


def test_every_schema_key_has_type_description_and_default():
    schema = load_schema()
    for name, spec in {**schema["properties"], **schema["$defs"]["hparams"]["properties"]}.items():
        assert "description" in spec, name
        assert "default" in spec, name
        assert "type" in spec or "$ref" in spec, name


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


@pytest.mark.parametrize("name", ["../escape", "a/b", "with space", ".."])
def test_ablation_names_that_could_escape_results_are_rejected(name):
    config = copy.deepcopy(DEFAULT)
    config["ablations"][name] = {}
    with pytest.raises(ConfigError, match="invalid name"):
        validate(config)


def test_command_line_seeds_arrive_as_strings_and_are_accepted():
    assert validate({**DEFAULT, "seeds": ["3", "4"]})["seeds"] == [3, 4]
