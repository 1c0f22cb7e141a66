"""The built-in datasets and the config keys each one is built from, in one place.

No torch here: the Snakefile reads this while it is parsed (the dataset names are
checked then, and each prepare_dataset job gets only its own dataset's keys as params,
so editing another key rebuilds nothing). mlpstudy.data builds them.
"""
from __future__ import annotations

# name -> the config keys its preparation reads
BUILTIN = {
    "mnist": ("data_dirs", "download"),
    "fashion-mnist": ("data_dirs", "download"),
    "mnist-5k": (),
    "xor": ("xor",),
}


def data_options(name: str, config: dict) -> dict:
    """Only the config keys dataset `name` depends on (a custom dataset: its own entry)."""
    if name in config["custom_datasets"]:
        return {"custom_datasets": {name: config["custom_datasets"][name]}}
    return {key: config[key] for key in BUILTIN[name]}
