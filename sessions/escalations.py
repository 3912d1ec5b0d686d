"""Escalations: everything a worker (or podium) asks a person, in one inbox.

Owns the recognisers (data: TOML, built in and user-extendable) that find approval
prompts on a worker's rendered screen and extract what is asked; decision cards (files
a worker writes into `decisions/pending/`, in the guides' format); the tiers (autonomous,
notify, gate) chosen by rules; and the escalation records themselves. The supervisor
drives them; nothing here touches a PTY or a socket.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from .fsutil import now_iso
from .states import EscalationState, Tier

BUILTIN = Path(__file__).with_name("recognisers.toml")
TIERS = tuple(Tier)


class RecogniserError(Exception):
    pass


@dataclass
class Recogniser:
    name: str
    match: re.Pattern[str]
    where: str = "screen"
    modes: tuple[str, ...] = ("*",)
    extract: dict[str, re.Pattern[str]] = field(default_factory=dict)
    approve: str = "y\r"
    approve_session: str | None = None
    deny: str = "n\r"

    def still_there(self, esc: "Escalation", lines: list[str], cursor_y: int) -> bool:
        """Is the prompt of `esc` still waiting? A cursor-line prompt is, while the cursor
        stays on its line and the line still begins with the question (the terminal echoes
        a typed answer even when the program does not read it)."""
        if self.where == "cursor_line":
            return esc.anchor == cursor_y and 0 <= cursor_y < len(lines) and lines[cursor_y].strip().startswith(esc.question)
        found = self.find(lines, cursor_y)
        # The same prompt, not merely one of its kind: a next dialog is a new escalation.
        return found is not None and (found["question"], found.get("command"), found.get("file")) == (esc.question, esc.command, esc.file)

    def applies(self, mode: str) -> bool:
        return "*" in self.modes or mode in self.modes

    def find(self, lines: list[str], cursor_y: int) -> dict[str, Any] | None:
        """What is asked, if this prompt is on the screen now."""
        text = "\n".join(line.rstrip() for line in lines)
        if self.where == "cursor_line":
            if not 0 <= cursor_y < len(lines):
                return None
            line = lines[cursor_y].rstrip()
            m = self.match.search(line)
            if not m:
                return None
            question = line.strip()
            context = [ln.rstrip() for ln in lines[max(0, cursor_y - 4) : cursor_y + 1] if ln.strip()]
            found_anchor: int | None = cursor_y
        else:
            m = self.match.search(text)
            if not m:
                return None
            question = m.group(0).strip()
            context = [ln.rstrip() for ln in lines if ln.strip()][-14:]
            found_anchor = None
        found: dict[str, Any] = {"question": question, "lines": context, "anchor": found_anchor}
        for key, pattern in self.extract.items():
            em = pattern.search(text)
            if em:
                found[key] = em.group("value").strip()
        return found


def _compile(where: str, name: str, key: str, value: Any) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise RecogniserError(f"{where}: recogniser {name!r}: {key} must be a string (a regex)")
    try:
        return re.compile(value, re.MULTILINE)
    except re.error as exc:
        raise RecogniserError(f"{where}: recogniser {name!r}: {key} is not a valid regex: {exc}") from None


def recognisers_from(tables: list[dict[str, Any]], where: str) -> list[Recogniser]:
    if not isinstance(tables, list):
        raise RecogniserError(f"{where}: escalations.recogniser must be an array of tables ([[escalations.recogniser]])")
    out = []
    for n, t in enumerate(tables, start=1):
        if not isinstance(t, dict):
            raise RecogniserError(f"{where}: recogniser #{n} is not a table")
        name = str(t.get("name") or f"#{n}")
        if "match" not in t:
            raise RecogniserError(f"{where}: recogniser {name!r} has no match")
        extract = {k: _compile(where, name, k, t[k]) for k in ("command", "reason", "file") if k in t}
        out.append(
            Recogniser(
                name=name,
                match=_compile(where, name, "match", t["match"]),
                where=str(t.get("where", "screen")),
                modes=tuple(t.get("modes", ["*"])),
                extract=extract,
                approve=str(t.get("approve", "y\r")),
                approve_session=t.get("approve_session"),
                deny=str(t.get("deny", "n\r")),
            )
        )
    return out


def load_recognisers(user_tables: list[dict[str, Any]] | None = None, user_where: str = "config") -> list[Recogniser]:
    """The person's recognisers first (they win), then the built-in ones."""
    with open(BUILTIN, "rb") as f:
        builtin = recognisers_from(tomllib.load(f)["recogniser"], str(BUILTIN))
    return recognisers_from(user_tables or [], user_where) + builtin


# -- tiers ---------------------------------------------------------------------------------
@dataclass
class TierRule:
    tier: str
    source: str | None = None
    recogniser: str | None = None
    worker: str | None = None
    command: str | None = None

    def matches(self, esc: Escalation) -> bool:
        if self.source and self.source != esc.source:
            return False
        if self.recogniser and (esc.recogniser is None or self.recogniser != esc.recogniser.name):
            return False
        if self.worker and not fnmatch.fnmatch(esc.worker or "", self.worker):
            return False
        if self.command and not fnmatch.fnmatch(esc.command or "", self.command):
            return False
        return True


def rules_from(tables: list[dict[str, Any]], where: str) -> list[TierRule]:
    rules = []
    if not isinstance(tables, list):
        raise RecogniserError(f"{where}: escalations.rule must be an array of tables ([[escalations.rule]])")
    for n, t in enumerate(tables, start=1):
        if not isinstance(t, dict):
            raise RecogniserError(f"{where}: escalations.rule #{n} is not a table")
        tier = t.get("tier")
        if tier not in TIERS:
            raise RecogniserError(f"{where}: escalations.rule #{n}: tier must be one of {', '.join(TIERS)}, not {tier!r}")
        rules.append(TierRule(tier, t.get("source"), t.get("recogniser"), t.get("worker"), t.get("command")))
    return rules


def tier_for(esc: Escalation, rules: list[TierRule]) -> Tier:
    for rule in rules:
        if rule.matches(esc):
            return Tier(rule.tier)
    return Tier.GATE


# -- escalations -----------------------------------------------------------------------
@dataclass
class Escalation:
    source: str  # a Source
    worker: str | None
    question: str
    options: list[dict[str, str]]
    recogniser: Recogniser | None = None  # the one that saw it (screen prompts)
    tier: str = Tier.GATE
    command: str | None = None
    reason: str | None = None
    file: str | None = None
    lines: list[str] = field(default_factory=list)
    card: dict[str, Any] | None = None
    id: str = field(default_factory=lambda: "e" + secrets.token_hex(3))
    state: str = EscalationState.PENDING
    created: str = field(default_factory=now_iso)
    created_at: float = field(default_factory=time.time)
    answer: dict[str, Any] | None = None
    note: str = ""
    anchor: int | None = None  # the cursor line of a cursor-line prompt
    offset_at_answer: int = -1  # the worker's output offset when the answer was sent
    checks: int = 0  # how many times the after-answer check looked again

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "worker": self.worker,
            "tier": self.tier,
            "source": self.source,
            "recogniser": self.recogniser.name if self.recogniser else None,
            "question": self.question,
            "command": self.command,
            "reason": self.reason,
            "file": self.file,
            "options": self.options,
            "lines": self.lines,
            "card": self.card,
            "state": self.state,
            "created": self.created,
            "answer": self.answer,
            "note": self.note,
        }


def screen_options(rec: Recogniser) -> list[dict[str, str]]:
    opts = [{"key": "y", "label": "approve"}]
    if rec.approve_session:
        opts.append({"key": "a", "label": "approve for the session"})
    opts.append({"key": "n", "label": "deny"})
    return opts


# -- decision cards ------------------------------------------------------------------------
_OPTION = re.compile(r"^\s*(?:[-*]\s*)?\**(?:Option\s+)?([A-Z])[.):]\**\s*(.+)$")
_DURATION = re.compile(r"(\d+)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)(?![A-Za-z])", re.IGNORECASE)


def parse_duration(text: str) -> float | None:
    """'30m', '1h30m', '90 seconds', '2 hrs': the sum of every amount given."""
    found = _DURATION.findall(text)
    if not found:
        return None
    total = 0
    for n, unit in found:
        unit = unit.lower()
        total += int(n) * (1 if unit.startswith("s") else 60 if unit.startswith("m") else 3600)
    return float(timedelta(seconds=total).total_seconds())


def parse_card(text: str, where: str) -> dict[str, Any]:
    """A decision card: Context, Options A/B/C (pros/cons), Recommended, Risk, Cost, Default
    with a timeout. Raises ValueError naming the file and line of what is wrong."""
    lines = text.splitlines()
    card: dict[str, Any] = {"title": "", "worker": None, "context": "", "options": [], "recommended": None, "risk": "", "cost": "", "default": None, "timeout": None}
    section = None
    buf: dict[str, list[str]] = {}
    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        heading = re.match(r"^#+\s*(.+?)\s*$", line)
        key_value = re.match(r"^\**(Worker|Recommended|Risk|Cost|Default|Context)\**\s*:\s*\**\s*(.*)$", line, re.IGNORECASE)
        if heading and section == "option" and _OPTION.match(heading.group(1)):
            m = _OPTION.match(heading.group(1))
            assert m is not None
            card["options"].append({"key": m.group(1), "label": m.group(2).strip(), "line": n})
            continue
        if heading:
            title = heading.group(1)
            kv = re.match(r"^(Worker|Recommended|Risk|Cost|Default|Context|Options?)\s*:?\s*(.*)$", title, re.IGNORECASE)
            if kv:
                section = kv.group(1).lower().rstrip("s") if kv.group(1).lower().startswith("option") else kv.group(1).lower()
                if kv.group(2):
                    buf.setdefault(section, []).append(kv.group(2))
            elif not card["title"]:
                card["title"] = re.sub(r"^Decision\s*:?\s*", "", title, flags=re.IGNORECASE)
                section = None
            continue
        if key_value:
            section = key_value.group(1).lower()
            if key_value.group(2):
                buf.setdefault(section, []).append(key_value.group(2))
            continue
        if section == "option":
            m = _OPTION.match(line)
            if m:
                card["options"].append({"key": m.group(1), "label": m.group(2).strip(), "line": n})
            elif line.strip() and card["options"]:
                card["options"][-1]["label"] += " " + line.strip()
            continue
        if section and line.strip():
            buf.setdefault(section, []).append(line.strip())
    buf = {k: [v.strip().lstrip("*").strip() for v in vs] for k, vs in buf.items()}
    card["context"] = "\n".join(buf.get("context", []))
    card["worker"] = (buf.get("worker") or [None])[0]
    card["risk"] = " ".join(buf.get("risk", []))
    card["cost"] = " ".join(buf.get("cost", []))
    keys = [o["key"] for o in card["options"]]
    if not card["options"]:
        raise ValueError(f"{where}: no options (expected lines like 'A. do this' under '## Options')")
    if len(set(keys)) != len(keys):
        raise ValueError(f"{where}: option letters repeat ({', '.join(keys)})")
    rec = " ".join(buf.get("recommended", []))
    if rec:
        m = re.match(r"\s*\**(?:Option\s+)?([A-Z])\b", rec)
        if not m or m.group(1) not in keys:
            raise ValueError(f"{where}: Recommended names {rec!r}, which is not one of the options {', '.join(keys)}")
        card["recommended"] = m.group(1)
    default = " ".join(buf.get("default", []))
    if default:
        m = re.match(r"\s*\**(?:Option\s+)?([A-Z])\b", default)
        if not m or m.group(1) not in keys:
            raise ValueError(f"{where}: Default names {default!r}, which is not one of the options {', '.join(keys)}")
        card["default"] = m.group(1)
        card["timeout"] = parse_duration(default)
        if card["timeout"] is None:
            raise ValueError(f"{where}: Default {default!r} has no timeout (like 'B after 30m')")
    for o in card["options"]:
        o.pop("line", None)
    return card


def resolve_card(text: str, choice: str, label: str, by: str, how: str) -> str:
    return text.rstrip("\n") + f"\n\n## Answer\n\nChosen: {choice}. {label}\nBy: {by}\nHow: {how}\nAt: {now_iso()}\n"
