"""Bad input is rejected before any training, with a message naming the culprit.

Every config mistake is checked in-process (fast, one case each) and through the
real snakemake CLI (all schema mistakes at once, plus the checks that come after
the schema); bad data files through the CLI; code safety by reading the source.
"""
import ast
import copy
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake, tiny_config, write_tiny_idx_dataset
from mlpstudy.config import ConfigError, validate

pytestmark = pytest.mark.workflow

VALID = {"dataset": "xor", "seeds": [0], "ablations": {"base": {}, "wide": {"hidden": [64]}}}


def with_change(path, value):
    config = copy.deepcopy(VALID)
    target = config
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return config


@pytest.mark.parametrize("path, value, expected", [
    (("lerning_rate",), 0.1, "unknown key 'lerning_rate' in (top level)"),
    (("ablations", "wide", "lerning_rate"), 0.1, "unknown key 'lerning_rate' in ablations.wide"),
    (("protocol", "lr"), "fast", "protocol.lr = 'fast': must be a number"),
    (("protocol", "hidden"), 256, "protocol.hidden = 256: must be a list"),
    (("protocol", "batch_norm"), "yes", "protocol.batch_norm = 'yes': must be true or false"),
    (("protocol", "lr"), 0, "protocol.lr = 0: must be > 0"),
    (("ablations", "wide", "lr"), -0.1, "ablations.wide.lr = -0.1: must be > 0"),
    (("ablations", "wide", "batch_size"), 0, "ablations.wide.batch_size = 0: must be >= 1"),
    (("protocol", "batch_size"), -32, "protocol.batch_size = -32: must be >= 1"),
    (("protocol", "epochs"), 0, "protocol.epochs = 0: must be >= 1"),
    (("ablations", "wide", "hidden"), [64, 0], "ablations.wide.hidden.1 = 0: must be >= 1"),
    (("protocol", "hidden"), [-8], "protocol.hidden.0 = -8: must be >= 1"),
    (("protocol", "dropout"), 1.0, "protocol.dropout = 1.0: must be < 1"),
    (("ablations", "wide", "dropout"), -0.2, "ablations.wide.dropout = -0.2: must be >= 0"),
    (("ablations", "wide", "maxout_k"), 1, "ablations.wide.maxout_k = 1: must be >= 2"),
    (("protocol", "activation"), "tanh", "protocol.activation = 'tanh': must be one of relu, gelu, maxout"),
    (("ablations", "wide", "loss"), "mse", "ablations.wide.loss = 'mse': must be one of cross_entropy, kl_div"),
    (("dataset",), "cifar10", "dataset: unknown dataset 'cifar10'"),
    (("ablations", "wide", "dataset"), "cifar10", "ablations.wide.dataset: unknown dataset 'cifar10'"),
    (("ablations", "a/b"), {}, "invalid name 'a/b' in ablations"),
    (("ablations", ".."), {}, "invalid name '..' in ablations"),
    (("ablations", "my run"), {}, "invalid name 'my run' in ablations"),
    (("figure_groups",), {"widths": ["base", "huge"]}, "figure_groups.widths: unknown ablation 'huge'"),
    (("claims",), [{"text": "t", "ablation": "wide", "reference": "nope", "metric": "test_accuracy",
                    "expect": "greater"}], "reference 'nope' is not an ablation"),
    (("seeds",), [], "seeds = []: must list at least 1 item"),
    (("seeds",), [0, 0], "seeds = [0, 0]: lists an item more than once"),
])
def test_each_config_mistake_is_named(path, value, expected):
    with pytest.raises(ConfigError) as error:
        validate(with_change(path, value))
    assert expected in str(error.value)


def test_schema_mistakes_are_all_reported_at_once_by_snakemake_before_any_job(workdir):
    tiny_config(workdir, ablations={
        "base": {"lerning_rate": 0.1},
        "slow": {"lr": 0, "batch_size": 0, "epochs": -1, "hidden": [0], "dropout": 1.5,
                 "maxout_k": 1, "activation": "tanh", "loss": "mse"},
        "../escape": {},
    }, seeds=[], verbose=True, download="no")
    result = run_snakemake(workdir, check=False)
    assert result.returncode != 0
    for culprit in ("unknown key 'lerning_rate' in ablations.base", "unknown key 'verbose' in (top level)",
                    "ablations.slow.lr = 0: must be > 0", "ablations.slow.batch_size = 0",
                    "ablations.slow.epochs = -1", "ablations.slow.hidden.0 = 0",
                    "ablations.slow.dropout = 1.5: must be < 1", "ablations.slow.maxout_k = 1",
                    "ablations.slow.activation = 'tanh'", "ablations.slow.loss = 'mse'",
                    "invalid name '../escape'", "seeds = []", "download = 'no': must be true or false"):
        assert culprit in result.stdout, culprit
    assert "config/config.yaml" in result.stdout  # where to fix it
    assert not (workdir / "results").exists()  # no job ran, nothing was written


def test_a_figure_group_naming_a_missing_ablation_fails_before_any_job(workdir):
    tiny_config(workdir, figure_groups={"activations": ["base", "gelu", "swish"]})
    result = run_snakemake(workdir, check=False)
    assert result.returncode != 0
    assert "figure_groups.activations: unknown ablation 'swish'" in result.stdout
    assert not (workdir / "results").exists()


def test_a_copy_without_environment_yml_fails_before_any_job_saying_so(workdir):
    (workdir / "environment.yml").unlink()
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "environment.yml is missing next to the Snakefile" in result.stdout + result.stderr


def test_nothing_in_the_config_is_evaluated_as_code(workdir):
    # A YAML tag that would run a command if the config were loaded unsafely.
    tiny_config(workdir)
    config = workdir / "config/config.yaml"
    config.write_text(config.read_text().replace(
        "description: baseline", "description: !!python/object/apply:os.system ['touch pwned-yaml']"))
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0 and "Config file is not valid JSON or YAML" in result.stdout
    # Strings that look like code, in the file and on the command line, stay strings.
    tiny_config(workdir, ablations={"base": {"description": "__import__('os').system('touch pwned-desc')"}})
    result = run_snakemake(workdir, "-n", "--config",
                           "dataset=__import__('os').system('touch pwned-cli')", check=False)
    assert result.returncode != 0 and "unknown dataset" in result.stdout
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("pwned")) == []


def _calls(tree, attribute):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == attribute:
            yield node


def test_every_torch_load_uses_weights_only_and_no_code_is_evaluated():
    sources = sorted((REPO / "workflow").rglob("*.py"))
    assert sources
    loads = 0
    for path in sources:
        tree = ast.parse(path.read_text(), str(path))
        for call in _calls(tree, "load"):
            if getattr(call.func.value, "id", None) == "torch":
                loads += 1
                kwargs = {k.arg: k.value for k in call.keywords}
                assert isinstance(kwargs.get("weights_only"), ast.Constant) \
                    and kwargs["weights_only"].value is True, f"{path}:{call.lineno}"
            if getattr(call.func.value, "id", None) in ("yaml", "pickle"):
                pytest.fail(f"{path}:{call.lineno}: unsafe {call.func.value.id}.load")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("eval", "exec"):
                pytest.fail(f"{path}:{node.lineno}: {node.func.id}()")
    assert loads >= 2  # the prepared data and the checkpoint
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        assert "eval(" not in text and "exec(" not in text, rules


def test_bad_data_files_fail_their_preparation_and_no_training_starts(workdir):
    """A wrong checksum, a truncated file, a non-IDX file, a missing directory: each
    prepare_dataset job fails naming the file; --keep-going shows them all in one go."""
    tiny_config(workdir)
    # A local "mnist" copy that is really other data: the checksums must catch it.
    write_tiny_idx_dataset(workdir / "local" / "mnist")
    truncated = write_tiny_idx_dataset(workdir / "truncated")
    images = truncated / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    not_idx = write_tiny_idx_dataset(workdir / "not-idx")
    (not_idx / "t10k-labels-idx1-ubyte").write_text("label,image\n3,foo.png\n")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config.update(
        dataset="mnist", data_dirs=[str(workdir / "local" / "{name}")], download=True,
        custom_datasets={"truncated": str(truncated), "not-idx": str(not_idx),
                         "gone": str(workdir / "no-such-dir")},
        ablations={"real": {"dataset": "mnist"}, "cut": {"dataset": "truncated"},
                   "odd": {"dataset": "not-idx"}, "lost": {"dataset": "gone"}})
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))

    result = run_snakemake(workdir, "--keep-going", check=False)
    assert result.returncode != 0
    # The plan line cannot count a missing dataset's rows; the study goes on to say why.
    assert "Plan: no estimate (FileNotFoundError" in result.stdout
    logs = workdir / "results" / "logs"

    def last_line(dataset):
        return (logs / "prepare_dataset" / f"{dataset}.log").read_text().strip().splitlines()[-1]

    mnist = last_line("mnist")
    assert "local/mnist/train-images-idx3-ubyte: checksum mismatch" in mnist and "expected" in mnist
    assert "truncated/train-images-idx3-ubyte: IDX file truncated" in last_line("truncated")
    assert "Replace it with a complete copy" in last_line("truncated")
    assert "not-idx/t10k-labels-idx1-ubyte: not an IDX file" in last_line("not-idx")
    assert "no-such-dir: no such directory" in last_line("gone")
    # Nothing was prepared from the bad files and no training job started.
    assert list((workdir / "results" / "data").glob("*.pt")) == []
    assert not (logs / "train").exists() and not (workdir / "results" / "runs").exists()
