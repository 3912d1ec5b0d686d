"""The orchestration guides' patterns A–F as plan presets: each writes an editable,
commented `plan.toml` for a work scope. Nothing starts until the person runs the plan.

A triangulated review: 2–4 reviewers with different lenses, then a merge step.
B review → fix → verify.
C scout → act → verify.
D split by sections: implementers on separate parts (touches keep them apart), then a verifier.
E research → synthesis.
F options sprint: 2–4 workers each work out one option, then a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import AGENTS, parse_plan


@dataclass(frozen=True)
class Pattern:
    letter: str
    name: str
    title: str
    about: str
    default_n: int  # reviewers, sections, questions or options (where the pattern has several)


PATTERNS = {
    p.name: p
    for p in (
        Pattern("A", "triangulated-review", "Triangulated review", "2–4 reviewers, each with its own lens, then one merges their findings", 3),
        Pattern("B", "review-fix", "Review → fix → verify", "a reviewer finds, an implementer fixes, a verifier checks (failures come back as follow-ups)", 1),
        Pattern("C", "scout-act", "Scout → act → verify", "a scout maps the ground, an implementer acts on it, a verifier checks", 1),
        Pattern("D", "split", "Split by sections", "implementers on separate parts at once (touches keep them apart), then a verifier", 3),
        Pattern("E", "research-synthesis", "Research → synthesis", "researchers each answer one question, then one synthesises", 3),
        Pattern("F", "options", "Options sprint", "2–4 workers each work out one option, then a reviewer compares and recommends", 3),
    )
}
LENSES = ["correctness (does it do what it claims, edge cases)", "failure modes (errors, timeouts, partial failure, data loss)", "tests and evidence (what is untested, what the tests really prove)", "security and secrets (input from strangers, what leaks)"]


def pattern_named(name: str) -> Pattern:
    """By name or letter (`review-fix`, `B`, `b`); ValueError listing them otherwise."""
    for p in PATTERNS.values():
        if name in (p.name, p.letter, p.letter.lower()):
            return p
    known = ", ".join(f"{p.letter} {p.name}" for p in PATTERNS.values())
    raise ValueError(f"no pattern {name!r} (patterns: {known})")


def _s(text: str) -> str:
    """A TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _ml(text: str) -> str:
    """A TOML multi-line literal string (or a basic one when the text holds ''')."""
    return f"'''\n{text.strip()}\n'''" if "'''" not in text else _s(text.strip())


def _task(tid: str, goal: str, role: str, after: list[str] | None = None, done: str = "", extra: list[str] | None = None) -> list[str]:
    out = ["", "[[task]]", f"id = {_s(tid)}", f"role = {_s(role)}", f"goal = {_s(goal)}"]
    if after:
        out.append("after = [" + ", ".join(_s(a) for a in after) + "]")
    if done:
        out.append(f"done = {_s(done)}")
    return out + (extra or [])


def preset(pattern: str, scope: str, agent: str = "codex-exec", n: int | None = None, title: str | None = None) -> str:
    """The plan text for `pattern` over `scope` (checked: it parses as a plan)."""
    p = pattern_named(pattern)
    if agent not in AGENTS or agent == "shell":
        raise ValueError(f"a preset's workers are agents: codex-exec, claude-p, codex or claude, not {agent!r}")
    count = n or p.default_n
    if p.default_n > 1 and not 2 <= count <= 4:
        raise ValueError(f"pattern {p.letter} takes 2 to 4 workers, not {count}")
    head = scope.strip().splitlines()[0] if scope.strip() else "the work"
    lines = [
        f"# podium plan: pattern {p.letter}, {p.title}: {p.about}.",
        "# Edit anything below before you run it (podium plan run, or s on the plan screen);",
        "# docs/plan.example.toml explains every key. Nothing has started.",
        f"title = {_s(title or f'{p.title}: {head[:60]}')}",
        f"scope = {_ml(scope or 'Describe the work here.')}",
        "",
        "[defaults]",
        f"agent = {_s(agent)}",
        "max_parallel = 3  # the guides' number",
        'time_cap = "30m"  # per run of a task; then its worker is interrupted',
        "follow_up_rounds = 2  # fix rounds after a failed verification",
        'heartbeat = "10m"',
        'stale_after = "10m"  # no output for this long: the task is marked stale',
    ]
    verify_hint = ['# verify = "pytest -q"  # a command that must exit 0 for the task to be done']
    if p.name == "triangulated-review":
        ids = []
        for i in range(count):
            tid = f"review-{i + 1}"
            ids.append(tid)
            lines += _task(tid, f"Review the scope through one lens: {LENSES[i]}. Change nothing.", "reviewer", done="Findings ranked by severity, each with file:line evidence.")
        lines += _task("merge", "Merge the reviewers' findings: one list, duplicates folded, ranked by severity, disagreements named.", "researcher", ids, "One ranked list with the evidence of each finding and who found it.")
    elif p.name == "review-fix":
        lines += _task("review", "Review the scope; list what must be fixed, with evidence. Change nothing.", "reviewer", done="A ranked list of defects, each with file:line evidence.")
        lines += _task("fix", "Fix what the review found, in the smallest change that does it.", "implementer", ["review"], "Each finding fixed or answered; the tests that cover them pass.", verify_hint)
        lines += _task("verify", "Check the fix: run it, try the findings again, trust nothing you did not see pass.", "verifier", ["fix"], "COMPLETED with Status: Done only if every finding is fixed; otherwise FAILED with what is still wrong.", ['fixes = "fix"'])
    elif p.name == "scout-act":
        lines += _task("scout", "Map the ground for the scope: where the code is, how it is tested, what could go wrong. Change nothing.", "scout", done="File paths and line numbers for every claim; the commands that run the relevant tests.")
        lines += _task("act", "Do the work in the scope, guided by the scout's map.", "implementer", ["scout"], "The change is made and its tests pass.", verify_hint)
        lines += _task("verify", "Check the work: run it and its tests; trust nothing you did not see pass.", "verifier", ["act"], "COMPLETED with Status: Done only if the work does what the scope asks.", ['fixes = "act"'])
    elif p.name == "split":
        ids = []
        for i in range(count):
            tid = f"part-{i + 1}"
            ids.append(tid)
            lines += _task(tid, f"Part {i + 1} of {count} of the scope: name the part here.", "implementer", done="This part is done and its tests pass.", extra=[f'touches = ["part-{i + 1}/**"]  # the files this part may change: parts that overlap never run at once'])
        lines += _task("verify", "Check that the parts fit together: run the whole test suite.", "verifier", ids, "COMPLETED with Status: Done only if everything passes together.", [f"fixes = {_s(ids[0])}  # the part a failure goes back to"])
    elif p.name == "research-synthesis":
        ids = []
        for i in range(count):
            tid = f"question-{i + 1}"
            ids.append(tid)
            lines += _task(tid, f"Question {i + 1}: write the question here. Answer it with sources you actually read.", "researcher", done="An answer with its sources, and what could not be verified.")
        lines += _task("synthesis", "Synthesise the answers into one recommendation for the scope.", "researcher", ids, "One recommendation, the evidence for it, and the open questions.")
    elif p.name == "options":
        ids = []
        for i in range(count):
            tid = f"option-{chr(ord('a') + i)}"
            ids.append(tid)
            lines += _task(tid, f"Work out option {chr(ord('A') + i)} for the scope (name it here): how it would work, its cost, its risks. Change nothing.", "researcher", done="The option described with its cost, risks and a rough plan.")
        lines += _task("compare", "Compare the options side by side and recommend one, saying what would change the choice.", "reviewer", ids, "A comparison table and one recommendation with its reasons.")
    text = "\n".join(lines) + "\n"
    parse_plan(text, f"preset {p.name}")  # a preset that does not parse is podium's bug
    return text
