"""Keyword arguments as a command's config: `eigen.search(max_generations=3, schedule_scale=0.1)`.

A keyword is named as its flag (`--max-generations` is `max_generations=`) and goes through the same
parser as the flag and a config file's key (`configfile.parse_setting`), so Python can set nothing the
command line could not: `time_budget="30m"` is 1800 seconds, `max_generations=0` is the flag's own
sentence. A switch takes True or False; `ray=True` is `--ray` alone (a Ray cluster on this machine).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..configfile import ConfigFileError, parse_setting


def config_from(config_class: type, call: str, settings: dict[str, Any]) -> Any:
    """`config_class` with `settings` over its defaults, each checked as its flag would be; an
    unknown name is one sentence listing the known ones."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    parsed = {}
    for name, value in settings.items():
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigFileError(f"{call}() has no setting {name!r} (its settings, named as the flags: {known})")
        if name == "ray" and value is True:
            value = fields[name].metadata["const"]
        parsed[name] = parse_setting(fields[name], value, f"{call}() sets", python=True)
    return config_class(**parsed)
