"""The curated result: `.podium/result.md`, one document built from promoted messages.

Owns the document's format (Markdown; each promoted message is a section between two
HTML comments that carry its provenance and are invisible when rendered), promotion
(with provenance, cleaned of escape sequences, a second promotion of the same run
flagged), the edits the result screen makes (reorder, remove, edit), and conflict
detection: every change names the version (sha256) it was made from, and a change made
from an old version is refused with a reason, never applied silently. The file is the
source of truth: it is read afresh for every operation, so edits made outside podium win.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fsutil import atomic_write, now_iso
from .text import plain_text

HEADER = "# Curated result\n\n"
_OPEN = re.compile(r"^<!-- podium:section (?P<attrs>.*?) -->\s*$")
_CLOSE = "<!-- /podium:section -->"
_ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class ResultConflict(Exception):
    """The document changed since the version a change was made from."""


@dataclass
class Section:
    id: str
    attrs: dict[str, str]
    body: str

    @property
    def worker(self) -> str:
        return self.attrs.get("worker", "")

    @property
    def run(self) -> str:
        return self.attrs.get("run", "")

    def render(self) -> str:
        attrs = " ".join(f'{k}="{_escape(v)}"' for k, v in {"id": self.id, **self.attrs}.items())
        return f"<!-- podium:section {attrs} -->\n{trim_blank_lines(self.body)}\n{_CLOSE}\n"

    def public(self) -> dict[str, Any]:
        return {"id": self.id, **self.attrs, "body": trim_blank_lines(self.body)}


@dataclass
class ResultDoc:
    preamble: str = HEADER
    sections: list[Section] = field(default_factory=list)
    trailer: str = ""

    def render(self) -> str:
        parts = [self.preamble.rstrip("\n") + "\n\n" if self.preamble.strip() else ""]
        parts += [s.render() + "\n" for s in self.sections]
        out = "".join(parts)
        if self.trailer.strip():
            out += self.trailer.strip() + "\n"
        return out

    def find(self, section_id: str) -> Section:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)


class ResultUnreadable(Exception):
    """result.md cannot be read as UTF-8: podium will not rewrite (and so damage) it."""


def trim_blank_lines(text: str) -> str:
    """Blank lines off both ends; the indentation of the first line is kept."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def defuse_markers(text: str) -> str:
    """A message that contains podium's own marker lines must not split its section."""
    out = []
    for line in text.split("\n"):
        if line.startswith("<!-- podium:section") or line.startswith("<!-- /podium:section"):
            line = " " + line
        out.append(line)
    return "\n".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("-->", "-- >")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse(text: str) -> ResultDoc:
    """Sections between podium's markers; everything else (a title, notes the person wrote
    between sections) is kept: before the first section as the preamble, the rest after."""
    doc = ResultDoc(preamble="", sections=[], trailer="")
    lines = text.splitlines(keepends=True)
    loose: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i].rstrip("\n"))
        if not m:
            loose.append(lines[i])
            i += 1
            continue
        attrs = {k: _unescape(v) for k, v in _ATTR.findall(m.group("attrs"))}
        sid = attrs.pop("id", "")
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].rstrip("\r\n") != _CLOSE:
            body.append(lines[i])
            i += 1
        i += 1  # the close marker (or the end of a truncated file)
        if not doc.sections:
            doc.preamble = "".join(loose)
        else:
            # Notes between sections stay with the section before them.
            doc.sections[-1].body = doc.sections[-1].body.rstrip("\n") + ("\n\n" + "".join(loose).strip() if "".join(loose).strip() else "")
        loose = []
        text_body = "".join(body)
        if not sid:  # stable across reads, so a section without an id can still be edited
            sid = hashlib.sha256((attrs.get("worker", "") + text_body).encode()).hexdigest()[:8]
        taken = {s.id for s in doc.sections}
        base_id, n = sid, 2
        while sid in taken:  # a section pasted twice keeps working
            sid = f"{base_id}-{n}"
            n += 1
        doc.sections.append(Section(sid, attrs, text_body))
    if doc.sections:
        doc.trailer = "".join(loose)
    else:
        doc.preamble = "".join(loose)
    return doc


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def clean(text: str) -> str:
    """Worker output made plain Markdown: escape sequences and control characters gone."""
    return plain_text(text.encode("utf-8", "surrogateescape")).strip()


class CuratedResult:
    def __init__(self, path: Path):
        self.path = path

    def read(self) -> tuple[str, ResultDoc]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return "", ResultDoc()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ResultUnreadable(
                f"{self.path}: not UTF-8 at byte {exc.start}; podium will not rewrite it. Fix the file first"
            ) from None
        return text, parse(text) if text else ResultDoc()

    @property
    def version(self) -> str:
        return version_of(self.read()[0])

    def _write(self, doc: ResultDoc) -> str:
        text = doc.render()
        atomic_write(self.path, text, mode=0o644)
        return version_of(text)

    def _check(self, base: str | None, text: str) -> None:
        if base is not None and base != version_of(text):
            raise ResultConflict(
                f"{self.path} changed since you opened it (someone else saved, or it was edited outside podium); "
                "your change was not applied: look at the new version and make it again"
            )

    def promote(self, provenance: dict[str, Any], message: str, force: bool = False) -> dict[str, Any]:
        """Add a section; a second promotion of the same worker's run is flagged, not added."""
        text, doc = self.read()
        worker, run = str(provenance["worker"]), str(provenance.get("run", 1))
        for s in doc.sections:
            if s.worker == worker and s.run == run and not force:
                return {"duplicate": True, "section": s.id, "version": version_of(text)}
        attrs = {k: str(v) for k, v in provenance.items() if v not in (None, "", [])}
        attrs.setdefault("promoted", now_iso())
        title = f"## {worker} · run {run}"
        signals = provenance.get("signals") or ""
        lines = [f"worker `{worker}`", str(provenance.get("kind", ""))]
        if provenance.get("session_id"):
            lines.append(f"session `{provenance['session_id']}`")
        lines.append(f"run {run}")
        lines.append(f"promoted {attrs['promoted']}")
        if signals:
            lines.append(f"signals {signals}")
        if provenance.get("files"):
            lines.append(f"files {provenance['files']}")
        body = f"{title}\n\n> {' · '.join(x for x in lines if x)}\n\n{defuse_markers(clean(message))}\n"
        section = Section(secrets.token_hex(4), attrs, body)
        doc.sections.append(section)
        return {"duplicate": False, "section": section.id, "version": self._write(doc)}

    def change(self, base: str | None, op: str, section: str | None = None, **args: Any) -> str:
        """Apply one edit made from version `base`; returns the new version."""
        text, doc = self.read()
        self._check(base, text)
        if op == "replace":  # the whole document (undo, or an edit in $EDITOR)
            atomic_write(self.path, str(args["text"]), mode=0o644)
            return version_of(str(args["text"]))
        try:
            target = doc.find(str(section))
        except KeyError:
            raise KeyError(f"no section {section} in {self.path}") from None
        index = doc.sections.index(target)
        if op == "remove":
            doc.sections.pop(index)
        elif op == "move":
            to = max(0, min(len(doc.sections) - 1, index + int(args["by"])))
            doc.sections.insert(to, doc.sections.pop(index))
        elif op == "edit":
            target.body = defuse_markers(str(args["body"]).rstrip()) + "\n"
        else:
            raise ValueError(f"unknown result change {op!r}")
        return self._write(doc)

    def as_json(self) -> dict[str, Any]:
        text, doc = self.read()
        return {
            "path": str(self.path),
            "version": version_of(text),
            "preamble": doc.preamble.strip(),
            "sections": [s.public() for s in doc.sections],
            "markdown": text,
        }


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)
