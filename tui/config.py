"""The person's configuration file (TOML): theme, key remaps, and later policies.

Found at $PODIUM_CONFIG, else the platform's config dir (`~/.config/podium/config.toml`).
A bad file never stops podium: every problem comes back as a message naming the file and
line or field, and the defaults stand for what could not be read.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Config:
    path: Path | None = None
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bell: bool = True
    desktop_notify: bool = True


def config_path() -> Path:
    explicit = os.environ.get("PODIUM_CONFIG")
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_path

    return user_config_path("podium") / "config.toml"


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    cfg = Config(path=path)
    if os.environ.get("PODIUM_CONFIG") == "" or not path.exists():
        return cfg
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        cfg.problems.append(f"{path}: not UTF-8 at byte {exc.start}; using defaults")
        return cfg
    except tomllib.TOMLDecodeError as exc:
        cfg.problems.append(f"{path}: {exc}; using defaults")
        return cfg
    except OSError as exc:
        cfg.problems.append(f"{path}: {exc.strerror}; using defaults")
        return cfg
    ui = data.get("ui", {})
    if not isinstance(ui, dict):
        cfg.problems.append(f"{path}: [ui] must be a table")
        ui = {}
    theme = ui.get("theme")
    if theme is not None and not isinstance(theme, str):
        cfg.problems.append(f"{path}: ui.theme must be a string, not {type(theme).__name__}")
    else:
        cfg.theme = theme
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        cfg.problems.append(f"{path}: [keys] must be a table of binding id = \"key\"")
        keys = {}
    for binding_id, key in keys.items():
        if isinstance(key, str) and key.strip():
            cfg.keys[str(binding_id)] = key.strip()
        else:
            cfg.problems.append(f"{path}: keys.{binding_id} must be a non-empty string like \"ctrl+k\"")
    esc = data.get("escalations", {})
    if isinstance(esc, dict):
        for key in ("bell", "desktop_notify"):
            if key in esc:
                if isinstance(esc[key], bool):
                    setattr(cfg, key, esc[key])
                else:
                    cfg.problems.append(f"{path}: escalations.{key} must be true or false")
    for section in data:
        if section not in ("ui", "keys", "escalations", "policies"):
            cfg.problems.append(f"{path}: unknown section [{section}] ignored")
    return cfg
