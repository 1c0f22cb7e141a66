"""Validate the study config: the schema's checks and defaults, with errors that name the key.

The Snakefile calls `validate(config)` once at parse time, so every mistake is
reported before any job runs, with the offending key named. Everything else
(rules, scripts, tests) works on the validated dict; mlpstudy.plan reads it.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import yaml

from .plan import BUILTIN, claim_datasets, overrides, sweep_points

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config mistake, with a message meant for the user."""


def load_schema() -> dict:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


# What a name that becomes a directory (an ablation, a dataset, a sweep, a figure group) may
# look like: the schema's pattern, unanchored (Snakemake's wildcard constraints take it too).
NAME_PATTERN = load_schema()["$defs"]["name"]["pattern"].removeprefix("^").removesuffix("$")


def hparam_defaults(schema: dict | None = None) -> dict:
    props = (schema or load_schema())["$defs"]["hparams"]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in props.items()}


def claim_defaults(schema: dict | None = None) -> dict:
    """A claim's optional keys and their defaults (validation fills them into every claim)."""
    props = (schema or load_schema())["properties"]["claims"]["items"]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in props.items() if "default" in spec}


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
    if kind == "contains" and "const" in limit:
        return f"must include {limit['const']}"
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
            if len(keys) > 1 and keys[0] in ("protocol", "ablations", "dataset_protocol")
            else schema["properties"].get(keys[0]) if len(keys) == 1 else None)
    description = (spec or {}).get("description", "").strip()
    return f" ({keys[-1]}: {description})" if description else ""


def _fill_defaults(value, spec: dict) -> None:
    """Fill in the schema's defaults wherever `value` leaves a key out, at every level below
    `spec`. An ablation's hyper-parameters are left out: it takes them from the protocol."""
    if isinstance(value, dict):
        properties = spec.get("properties", {})
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _fill_defaults(value[key], sub)
        entries = spec.get("additionalProperties")
        if isinstance(entries, dict):
            for key in value.keys() - properties.keys():
                _fill_defaults(value[key], entries)
    elif isinstance(value, list) and isinstance(spec.get("items"), dict):
        for item in value:
            _fill_defaults(item, spec["items"])


def _integer(value):
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _values(mapping) -> list:
    return list(mapping.values()) if isinstance(mapping, dict) else []


def _typed_hparams(entry, props: dict) -> None:
    """Protocol keys given on the command line (`--config 'protocol={lr: 0.5}'`,
    `'dataset_protocol={mnist-5k: {max_steps: 100}}'`) arrive as strings: read each as the
    YAML it spells, unless the key takes a string (activation: relu). A true/false key takes
    only the words true and false, as the top-level ones do: YAML 1.1's yes/no/on/off would
    hide a quoted 'yes' written in the config file."""
    if not isinstance(entry, dict):
        return
    for key, value in entry.items():
        if key not in props or not isinstance(value, str) or props[key].get("type") == "string":
            continue
        if props[key].get("type") == "boolean":
            if value.lower() in ("true", "false"):
                entry[key] = value.lower() == "true"
        else:
            try:
                entry[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                pass  # the schema's check names it


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
    props = schema["$defs"]["hparams"]["properties"]
    for entry in [config.get("protocol"), *_values(config.get("dataset_protocol")),
                  *_values(config.get("ablations"))]:
        _typed_hparams(entry, props)
    # ... and `--config tensorboard=false` as the word: the top-level true/false keys take it.
    for key, spec in schema["properties"].items():
        if spec.get("type") == "boolean" and str(config.get(key)).lower() in ("true", "false"):
            config[key] = str(config[key]).lower() == "true"
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(_describe(e) for e in errors))
    _fill_defaults(config, schema)
    config["protocol"] = {**hparam_defaults(schema), **config["protocol"]}
    # `dataset: X` (the README's `--config dataset=X`) is the one-dataset shorthand.
    key = "datasets"
    if config["dataset"] is not None:
        config["datasets"], key = [config["dataset"]], "dataset"
    config.pop("dataset")
    known = set(BUILTIN) | set(config["custom_datasets"])

    def check_dataset(where: str, name: str) -> None:
        if name not in known:
            raise ConfigError(f"{where}: unknown dataset {name!r}; choose one of "
                              f"{', '.join(sorted(known))} or declare it under custom_datasets.")

    # The study's datasets first: ablations without their own inherit them, and the
    # message must name the key that is actually wrong.
    for name in config["datasets"]:
        check_dataset(key, name)
    # Any known dataset, not only the study's: the default config sets mnist-5k's protocol
    # for `--config dataset=mnist-5k`.
    for name in config["dataset_protocol"]:
        check_dataset(f"dataset_protocol.{name}", name)
    for ablation, spec in config["ablations"].items():
        if "dataset" in spec:
            check_dataset(f"ablations.{ablation}.dataset", spec["dataset"])
    adaptive = config["adaptive_seeds"]
    if adaptive and adaptive["max"] < len(config["seeds"]):
        raise ConfigError(f"adaptive_seeds.max = {adaptive['max']}: fewer than the "
                          f"{len(config['seeds'])} seeds of the first round (seeds); set max to "
                          f"{len(config['seeds'])} or more, or list fewer seeds.")
    _expand_sweeps(config, schema)
    _check_report_names(config)
    return config


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
            if not re.fullmatch(NAME_PATTERN, ablation):
                raise ConfigError(f"{where}: value(s) {point['values']} give the name "
                                  f"{ablation!r}, which is not file-safe.")
            start = declared[point["start"]]
            spec = {**start, **point["values"]}
            errors = list(jsonschema.Draft202012Validator(hparam_schema).iter_errors(
                overrides(config, spec)))
            if errors:
                raise ConfigError(f"{where}: {ablation}: " + "; ".join(
                    f"{_key_path(e)} = {_show(e.instance)}: {_what_is_wrong(e)}" for e in errors))
            changes = ", ".join(f"{k}={v}" for k, v in point["values"].items())
            spec["description"] = (f"{start['description'] or point['start']} "
                                   f"(sweep {name}: {changes})")
            config["ablations"][ablation] = spec


def _check_report_names(config: dict) -> None:
    """Figure groups and claims may only name configured ablations; each claim gets the
    datasets it is checked on (`datasets`), where its thresholds must be given."""
    names = config["ablations"]
    choices = f"the ablations are: {', '.join(names)}"
    for group, members in config["figure_groups"].items():
        for ablation in members:
            if ablation not in names:
                raise ConfigError(f"figure_groups.{group}: unknown ablation {ablation!r}; "
                                  f"{choices}.")
    for i, claim in enumerate(config["claims"]):
        where = f"claims[{i}] ({claim['text']!r})"
        for key in ("ablation", "reference"):
            if claim[key] is not None and claim[key] not in names:
                raise ConfigError(f"{where}: {key} {claim[key]!r} is not an ablation; {choices}.")
        claim["datasets"] = claim_datasets(config, claim)
        if claim["metric"] == "accuracy_at_step" and claim["step"] is None:
            raise ConfigError(f"{where}: metric accuracy_at_step needs step (the iteration).")
        if claim["metric"] == "steps_to_accuracy" and claim["threshold"] is None:
            raise ConfigError(f"{where}: metric steps_to_accuracy needs threshold "
                              "(accuracy in percent, or dataset -> accuracy).")
        # Keys that may be set per dataset (each dataset's curves have their own levels).
        for key in ("threshold", "within"):
            if isinstance(claim[key], dict):
                missing = sorted(set(claim["datasets"]) - set(claim[key]))
                if missing:
                    raise ConfigError(f"{where}: {key} gives no value for dataset(s) "
                                      f"{', '.join(missing)}, where the claim is checked.")
