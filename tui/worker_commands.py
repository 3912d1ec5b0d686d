"""What the person does to the focused worker from the dashboard: interrupt, pause or
continue, kill (asked first), answer its prompt, open its diff or merge its branch (a writer in a worktree), promote its last message, resume its
conversation, and start a new worker. Each goes through the supervisor link as a request,
so no key waits; a refusal comes back as a toast."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from podium.sessions.blackboard import Blackboard
from podium.sessions.launch import build_command

from .diff_screen import DiffScreen
from .link import SupervisorLink
from .merge_flow import merge_one
from .screens import ConfirmScreen, NewWorkerScreen, PromptScreen


class WorkerCommandsScreen(Screen[None]):
    """A screen whose actions act on the worker it has in focus (`DashboardScreen`)."""

    def __init__(self, link: SupervisorLink, blackboard: Blackboard) -> None:
        super().__init__()
        self.link = link
        self.bb = blackboard

    def focused_name(self) -> str | None:
        """The worker in focus; a screen that shows workers says which."""
        return None

    def action_interrupt(self) -> None:
        name = self.focused_name()
        if name is not None:
            self.link.request("interrupt", worker=name)
            self.notify(f"Ctrl+C sent to {name}", timeout=2)

    def toggle_pause(self, name: str) -> None:
        w = self.link.roster.get(name, {})
        self.link.request("continue" if w.get("state") == "paused" else "pause", worker=name)

    def action_diff(self) -> None:
        """The focused writer's changes against its base (a worker in a worktree)."""
        name = self.focused_name()
        if name is None:
            return
        if not (self.link.roster.get(name) or {}).get("worktree"):
            self.notify(f"{name} has no worktree: podium spawn NAME --worktree starts a writer in one", severity="warning")
            return
        self.app.push_screen(DiffScreen(self.link, name))

    def action_merge(self) -> None:
        """The focused writer's branch merged (checked first, asked first), then the offer
        to remove its worktree."""
        name = self.focused_name()
        if name is None:
            return
        if not (self.link.roster.get(name) or {}).get("worktree"):
            self.notify(f"{name} has no worktree to merge", severity="warning")
            return
        self.run_worker(merge_one(self, self.link, name), group="merge", exclusive=True)

    def action_orchestrators(self) -> None:
        """Pause what orchestrating agents (podium mcp) may start, or let them go on."""

        async def toggle() -> None:
            try:
                now = await self.link.ask("mcp_policy")
                policy = await self.link.ask("mcp_policy", paused=not now["paused"])
            except Exception as exc:  # noqa: BLE001 - a refusal or a lost link: a toast, never a crash
                self.notify(f"orchestrators: {exc}", severity="error", timeout=5)
                return
            said = "orchestrators paused: they start nothing new; what runs goes on (M lets them go on)" if policy["paused"] else f"orchestrators may start workers again ({policy['remaining']} left of {policy['max_workers']})"
            self.notify(said, timeout=4)

        self.run_worker(toggle(), group="orchestrators", exclusive=True)

    def action_pause(self) -> None:
        name = self.focused_name()
        if name is not None:
            self.toggle_pause(name)

    def confirm_kill(self, name: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.link.request("kill", worker=name)
                self.notify(f"Terminating {name}", timeout=2)

        self.app.push_screen(ConfirmScreen(f"Kill worker {name}? (SIGHUP as a closed terminal sends, then SIGTERM; SIGKILL after 3 s)"), answered)

    def action_kill(self) -> None:
        name = self.focused_name()
        if name is not None:
            self.confirm_kill(name)

    def action_answer_focused(self, choice: str) -> None:
        name = self.focused_name()
        esc = self.link.pending_prompt(name) if name else None
        if esc is not None:
            self.link.request("answer", escalation=esc["id"], choice=choice)

    def action_promote(self) -> None:
        name = self.focused_name()
        if name is None:
            return

        def promoted(r: dict[str, Any]) -> None:
            if r["duplicate"]:
                self.notify(f"this run of {name} is in the result already (section {r['section']}); `podium promote {name} --force` adds it again", severity="warning", timeout=6)
            else:
                self.notify(f"promoted {name} into the result (o shows it)", timeout=3)

        self.link.request("promote", on_done=promoted, worker=name)

    def action_resume(self) -> None:
        name = self.focused_name()
        if name is None:
            return

        def submitted(prompt: str | None) -> None:
            if prompt is not None:
                self.link.request("resume", worker=name, prompt=prompt or "continue")

        self.app.push_screen(PromptScreen(f"Resume {name}: the follow-up prompt", "continue"), submitted)

    def action_new_worker(self) -> None:
        def submitted(spec: dict[str, Any] | None) -> None:
            if not spec:
                return
            try:
                argv, kind = build_command(spec["kind"], spec["task"], spec["template"])
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            if spec.get("worktree"):  # its place is the worktree (the directory asked is not used)

                def told(out: dict[str, Any]) -> None:
                    if out.get("note"):  # not a git repository: it runs in place
                        self.notify(out["note"], severity="warning", timeout=6)

                self.link.request("worktree_spawn", name=spec["name"], argv=argv, kind=kind, on_done=told)
            else:
                self.link.request("spawn", name=spec["name"], argv=argv, kind=kind, cwd=spec["cwd"])

        self.app.push_screen(NewWorkerScreen(self.bb.workspace, set(self.link.roster)), submitted)
