"""The person's configuration file (TOML), read in one place for every podium process:
the dashboard takes the theme, key remaps and notification settings from it, the
supervisor its escalation recognisers and tier rules.

Found at $PODIUM_CONFIG (set but empty: no file at all), else the platform's config dir
(`~/.config/podium/config.toml`, or under $XDG_CONFIG_HOME). A bad file never stops
podium: every problem comes back as a message naming the file and the line or field, and
the defaults stand for what could not be read.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .escalations import Recogniser, RecogniserError, TierRule, load_recognisers, rules_from

SECTIONS = ("ui", "keys", "escalations", "policies", "budget")
BUDGET = {"workspace_tokens": int, "workspace_usd": float, "usd_per_mtok": float}  # [budget]: each workspace's ceilings


@dataclass
class Config:
    path: Path | None = None
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bell: bool = True
    desktop_notify: bool = True
    recognisers: list[Recogniser] = field(default_factory=load_recognisers)
    rules: list[TierRule] = field(default_factory=list)
    budget: dict[str, float] = field(default_factory=dict)  # [budget]'s keys that were read


def config_path() -> Path | None:
    """Where the person's config file is (None: $PODIUM_CONFIG is set empty, so none)."""
    explicit = os.environ.get("PODIUM_CONFIG")
    if explicit is not None:
        return Path(explicit) if explicit else None
    from platformdirs import user_config_path

    return user_config_path("podium") / "config.toml"


def _read(path: Path, cfg: Config) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        cfg.problems.append(f"{path}: not UTF-8 at byte {exc.start}; using defaults")
    except tomllib.TOMLDecodeError as exc:
        cfg.problems.append(f"{path}: {exc}; using defaults")
    except OSError as exc:
        cfg.problems.append(f"{path}: {exc.strerror}; using defaults")
    return {}


def _table(data: dict[str, Any], name: str, path: Path, cfg: Config) -> dict[str, Any]:
    value = data.get(name, {})
    if isinstance(value, dict):
        return value
    cfg.problems.append(f"{path}: [{name}] must be a table")
    return {}


def load_config(path: Path | None = None) -> Config:
    path = path if path is not None else config_path()
    cfg = Config(path=path)
    if path is None:
        return cfg
    data = _read(path, cfg)
    ui = _table(data, "ui", path, cfg)
    theme = ui.get("theme")
    if theme is not None and not isinstance(theme, str):
        cfg.problems.append(f"{path}: ui.theme must be a string, not {type(theme).__name__}")
    else:
        cfg.theme = theme
    for binding_id, key in _table(data, "keys", path, cfg).items():
        if isinstance(key, str) and key.strip():
            cfg.keys[str(binding_id)] = key.strip()
        else:
            cfg.problems.append(f"{path}: keys.{binding_id} must be a non-empty string like \"ctrl+k\"")
    esc = _table(data, "escalations", path, cfg)
    for key in ("bell", "desktop_notify"):
        if key in esc:
            if isinstance(esc[key], bool):
                setattr(cfg, key, esc[key])
            else:
                cfg.problems.append(f"{path}: escalations.{key} must be true or false")
    try:
        cfg.recognisers = load_recognisers(esc.get("recogniser", []), str(path))
    except RecogniserError as exc:
        cfg.problems.append(f"{exc}; using the built-in recognisers only")
    try:
        cfg.rules = rules_from(esc.get("rule", []), str(path))
    except RecogniserError as exc:
        cfg.problems.append(f"{exc}; every escalation is a gate")
    for key, value in _table(data, "budget", path, cfg).items():
        kind = BUDGET.get(key)
        if kind is None:
            cfg.problems.append(f"{path}: budget.{key}: unknown key (known: {', '.join(BUDGET)})")
        elif isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
            cfg.problems.append(f"{path}: budget.{key} must be {'an integer' if kind is int else 'a number'} above 0, not {value!r}; no such ceiling")
        else:
            cfg.budget[key] = kind(value)
    for section in data:
        if section not in SECTIONS:
            cfg.problems.append(f"{path}: unknown section [{section}] ignored")
    return cfg
