"""Validate the study config and resolve each ablation's hyper-parameters.

The Snakefile calls `validate(config)` once at parse time, so every mistake is
reported before any job runs, with the offending key named. Everything else
(rules, scripts, tests) works on the validated dict.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from pathlib import Path

import jsonschema
import yaml

from .datasets import BUILTIN

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
BUILTIN_DATASETS = tuple(BUILTIN)
# Settings of how jobs run, not of what they compute: the scripts read them from the config
# (common.smk puts the validated values there), not from params, so changing one reruns nothing.
RUN_SETTINGS = ("tensorboard",)


class ConfigError(ValueError):
    """A config mistake, with a message meant for the user."""


def load_schema() -> dict:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


# An ablation's keys that are not hyper-parameters: the schema's own properties of an ablation.
ABLATION_INFO_KEYS = tuple(load_schema()["properties"]["ablations"]["additionalProperties"]
                           ["properties"])


def hparam_defaults(schema: dict | None = None) -> dict:
    props = (schema or load_schema())["$defs"]["hparams"]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in props.items()}


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _key_path(error)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(error.schema.get("properties", {}))
        if error.validator == "unevaluatedProperties":
            allowed = sorted(set(allowed) | set(load_schema()["$defs"]["hparams"]["properties"]))
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(repr(k) for k in extra)
        return (f"unknown key {keys} in {where}; allowed keys are: {', '.join(allowed)}. "
                "Check the spelling (config/README.md lists every key).")
    if "propertyNames" in error.schema_path:
        return (f"invalid name {error.instance!r} in {where}: names may only contain "
                "letters, digits, '_' and '-' (they become directory names).")
    return f"{where} = {_show(error.instance)}: {_what_is_wrong(error)}{_meaning(error)}"


_TYPE_NAMES = {"number": "a number", "integer": "a whole number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping of keys",
               "null": "null"}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _show(value) -> str:
    return json.dumps(value) if isinstance(value, (bool, type(None), list, dict)) else repr(value)


def _what_is_wrong(error: jsonschema.ValidationError) -> str:
    """jsonschema's own messages ("0 is less than or equal to the minimum of 0"), said plainly."""
    kind, limit = error.validator, error.validator_value
    if kind == "type":
        wanted = [limit] if isinstance(limit, str) else limit
        return "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
    if kind == "enum":
        return "must be one of " + ", ".join(map(str, limit))
    if kind in _BOUNDS:
        return f"must be {_BOUNDS[kind]} {limit}"
    if kind == "minItems":
        return f"must list at least {limit} item{'s' if limit != 1 else ''}"
    if kind == "minProperties":
        return f"must have at least {limit} entr{'ies' if limit != 1 else 'y'}"
    if kind == "uniqueItems":
        return "lists an item more than once"
    if kind == "required":
        return error.message.replace("is a required property", "must be given")
    return error.message


def _meaning(error: jsonschema.ValidationError) -> str:
    """The schema's description of the key at fault, so the message says what it is for."""
    keys = [p for p in error.absolute_path if isinstance(p, str)]
    if not keys:
        return ""
    schema = load_schema()
    spec = (schema["$defs"]["hparams"]["properties"].get(keys[-1])
            if len(keys) > 1 and keys[0] in ("protocol", "ablations")
            else schema["properties"].get(keys[0]) if len(keys) == 1 else None)
    description = (spec or {}).get("description", "").strip()
    return f" ({keys[-1]}: {description})" if description else ""


def _fill_defaults(config: dict, schema: dict) -> None:
    for key, spec in schema["properties"].items():
        if key not in config and "default" in spec:
            config[key] = copy.deepcopy(spec["default"])
    config["protocol"] = {**hparam_defaults(schema), **config["protocol"]}
    xor = schema["properties"]["xor"]["properties"]
    config["xor"] = {**{key: spec["default"] for key, spec in xor.items()}, **config["xor"]}


def _integer(value):
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def validate(config: dict) -> dict:
    """Return a validated copy of `config` with defaults filled; raise ConfigError."""
    schema = load_schema()
    config = copy.deepcopy(dict(config))
    # `--config seeds=[0,1] 'adaptive_seeds={max: 9, step: 3}'` arrive as strings; accept
    # them as the integers they spell.
    if isinstance(config.get("seeds"), list):
        config["seeds"] = [_integer(s) for s in config["seeds"]]
    if isinstance(config.get("adaptive_seeds"), dict):
        config["adaptive_seeds"] = {k: _integer(v) for k, v in config["adaptive_seeds"].items()}
    # ... and `--config tensorboard=false` as the word: the top-level true/false keys take it.
    for key, spec in schema["properties"].items():
        if spec.get("type") == "boolean" and str(config.get(key)).lower() in ("true", "false"):
            config[key] = str(config[key]).lower() == "true"
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(_describe(e) for e in errors))
    _fill_defaults(config, schema)
    # `dataset: X` (the README's `--config dataset=X`) is the one-dataset shorthand.
    key = "datasets"
    if config["dataset"] is not None:
        config["datasets"], key = [config["dataset"]], "dataset"
    config.pop("dataset")
    known = set(BUILTIN_DATASETS) | set(config["custom_datasets"])
    # The study's datasets first: ablations without their own inherit them, and the
    # message must name the key that is actually wrong.
    for name in config["datasets"]:
        if name not in known:
            raise ConfigError(f"{key}: unknown dataset {name!r}; choose one of "
                              f"{', '.join(sorted(known))} or declare it under custom_datasets.")
    for ablation, spec in config["ablations"].items():
        if spec.get("dataset", config["datasets"][0]) not in known:
            raise ConfigError(
                f"ablations.{ablation}.dataset: unknown dataset {spec['dataset']!r}; choose one of "
                f"{', '.join(sorted(known))} or declare it under custom_datasets.")
    adaptive = config["adaptive_seeds"]
    if adaptive and adaptive["max"] < len(config["seeds"]):
        raise ConfigError(f"adaptive_seeds.max = {adaptive['max']}: fewer than the "
                          f"{len(config['seeds'])} seeds of the first round (seeds); set max to "
                          f"{len(config['seeds'])} or more, or list fewer seeds.")
    _expand_sweeps(config, schema)
    _check_report_names(config, schema)
    return config


def _value_name(value) -> str:
    """A grid value as part of a file-safe ablation name: 0.05 -> 0p05, [64, 32] -> 64x32."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        text = f"{value:g}"
        return text.replace(".", "p").replace("-", "m").replace("+", "")
    if isinstance(value, list):
        return "x".join(_value_name(v) for v in value) or "none"
    if value is None:
        return "none"
    return str(value)


def sweep_points(name: str, sweep: dict, config: dict) -> list[dict]:
    """The grid of a sweep, in a fixed order (starting ablation, then the values as listed):
    [{"ablation": expanded name, "start": starting ablation, "values": {key: value}}].
    A point that changes nothing in its starting ablation (lr 0.1 where the protocol's lr
    is 0.1) is that ablation itself: the same runs, trained once."""
    keys = list(sweep["values"])
    points = []
    for start in sweep["ablations"]:
        own = hparams(config, start)
        for combo in itertools.product(*(sweep["values"][k] for k in keys)):
            values = dict(zip(keys, combo))
            label = "_".join(f"{k}{_value_name(v)}" for k, v in values.items())
            same = all(own.get(k) == v for k, v in values.items())
            points.append({"ablation": start if same else f"{start}_{label}", "start": start,
                           "values": values})
    return points


def _expand_sweeps(config: dict, schema: dict) -> None:
    """Each sweep becomes ordinary ablations; any mistake names the sweep."""
    hparam_schema = {"$defs": schema["$defs"], **schema["$defs"]["hparams"],
                     "unevaluatedProperties": False}
    keys = set(schema["$defs"]["hparams"]["properties"])
    declared = dict(config["ablations"])
    for name, sweep in config["sweeps"].items():
        where = f"sweeps.{name}"
        for start in sweep["ablations"]:
            if start not in declared:
                raise ConfigError(f"{where}: starting ablation {start!r} is not an ablation "
                                  f"(sweeps start from ablations declared under ablations).")
        for key in sweep["values"]:
            if key not in keys:
                raise ConfigError(f"{where}: unknown key {key!r}; a sweep varies protocol keys: "
                                  f"{', '.join(sorted(keys))}.")
        for point in sweep_points(name, sweep, config):
            ablation = point["ablation"]
            if ablation == point["start"]:
                continue  # the starting ablation itself
            if ablation in config["ablations"]:
                owner = "an ablation" if ablation in declared else "a point of another sweep"
                raise ConfigError(f"{where}: expanded name {ablation!r} clashes with {owner} "
                                  "of the same name; rename one of them.")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", ablation):
                raise ConfigError(f"{where}: value(s) {point['values']} give the name "
                                  f"{ablation!r}, which is not file-safe.")
            start = declared[point["start"]]
            spec = {**start, **point["values"]}
            errors = list(jsonschema.Draft202012Validator(hparam_schema).iter_errors(
                overrides(spec)))
            if errors:
                raise ConfigError(f"{where}: {ablation}: " + "; ".join(
                    f"{_key_path(e)} = {_show(e.instance)}: {_what_is_wrong(e)}" for e in errors))
            changes = ", ".join(f"{k}={v}" for k, v in point["values"].items())
            spec["description"] = (f"{start.get('description') or point['start']} "
                                   f"(sweep {name}: {changes})")
            config["ablations"][ablation] = spec


def _check_report_names(config: dict, schema: dict) -> None:
    """Figure groups and claims may only name configured ablations; fill claim defaults."""
    names = config["ablations"]
    choices = f"the ablations are: {', '.join(names)}"
    for group, members in config["figure_groups"].items():
        for ablation in members:
            if ablation not in names:
                raise ConfigError(f"figure_groups.{group}: unknown ablation {ablation!r}; "
                                  f"{choices}.")
    claim_props = schema["properties"]["claims"]["items"]["properties"]
    for i, claim in enumerate(config["claims"]):
        for key in ("ablation", "reference"):
            if claim.get(key) is not None and claim[key] not in names:
                raise ConfigError(f"claims[{i}] ({claim['text']!r}): {key} {claim[key]!r} is not "
                                  f"an ablation; {choices}.")
        for key, spec in claim_props.items():
            if "default" in spec:  # the required keys have none
                claim.setdefault(key, copy.deepcopy(spec["default"]))
        where = f"claims[{i}] ({claim['text']!r})"
        if claim["metric"] == "accuracy_at_step" and claim["step"] is None:
            raise ConfigError(f"{where}: metric accuracy_at_step needs step (the iteration).")
        if claim["metric"] == "steps_to_accuracy":
            threshold = claim["threshold"]
            if threshold is None:
                raise ConfigError(f"{where}: metric steps_to_accuracy needs threshold "
                                  "(accuracy in percent, or dataset -> accuracy).")
            if isinstance(threshold, dict):
                wanted = set(claim_datasets(config, claim))
                missing = sorted(wanted - set(threshold))
                if missing:
                    raise ConfigError(f"{where}: threshold gives no value for dataset(s) "
                                      f"{', '.join(missing)}, where the claim is checked.")


def claim_datasets(config: dict, claim: dict) -> list[str]:
    """Datasets a claim is checked on: those where its ablation (and reference) both run."""
    names = [claim["ablation"]] + ([claim["reference"]] if claim.get("reference") else [])
    common = [d for d in datasets_of(config, names[0])
              if all(d in datasets_of(config, n) for n in names[1:])]
    return common


def datasets_of(config: dict, ablation: str) -> list[str]:
    """The datasets an ablation runs on: its own (e.g. xor), else every study dataset."""
    own = config["ablations"][ablation].get("dataset")
    return [own] if own else list(config["datasets"])


def round_seeds(config: dict) -> list[list[int]]:
    """The seeds of each round: the config's `seeds`, then (adaptive_seeds) `step` new seeds
    a round, counting on from the largest seed, until the rounds hold `max` seeds in all."""
    rounds = [list(config["seeds"])]
    adaptive = config.get("adaptive_seeds")
    if not adaptive:
        return rounds
    total, next_seed = len(rounds[0]), max(rounds[0]) + 1
    while total < adaptive["max"]:
        size = min(adaptive["step"], adaptive["max"] - total)
        rounds.append(list(range(next_seed, next_seed + size)))
        total, next_seed = total + size, next_seed + size
    return rounds


def round_packs(config: dict) -> list[dict[str, tuple[int, ...]]]:
    """The seeds of each training job of each round, by the job's name (its `pack`
    wildcard): fixed chunks of seeds_per_job of the round's seeds in their order, so a seed
    added at the end of `seeds` changes only the last chunk."""
    packs = []
    for seeds in round_seeds(config):
        size = config["seeds_per_job"] or len(seeds)
        chunks = [tuple(seeds[i:i + size]) for i in range(0, len(seeds), size)]
        packs.append({pack_label(pack): pack for pack in chunks})
    return packs


def pack_label(pack: tuple[int, ...]) -> str:
    """A pack's name in paths: its first and last seed, seeds0-4 (or seeds3 for one seed)."""
    return f"seeds{pack[0]}" if len(pack) == 1 else f"seeds{pack[0]}-{pack[-1]}"


def hparams(config: dict, ablation: str) -> dict:
    """The ablation's full hyper-parameters: protocol defaults plus its overrides."""
    return dict(sorted({**config["protocol"], **overrides(config["ablations"][ablation])}.items()))


def overrides(spec: dict) -> dict:
    """The protocol keys an ablation's entry sets (its description and dataset left out)."""
    return {k: v for k, v in spec.items() if k not in ABLATION_INFO_KEYS}


def config_hash(config: dict) -> str:
    """Short, stable fingerprint of what a validated config computes (shown in the summary):
    the run settings (RUN_SETTINGS), which change nothing computed, are left out."""
    computed = {k: v for k, v in config.items() if k not in RUN_SETTINGS}
    blob = json.dumps(computed, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
