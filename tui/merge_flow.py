"""Merging from the screens, written once for the dashboard's `m` on a writer, the diff
view's `m` and the plan screen's `m` (the plan's writers, in plan order): each branch is
checked first without touching any working tree, merged only after the person's yes, and
then the person is offered the removal of the merged worktrees and branches (asked, never
assumed). A queue that stops at a conflict says where and offers to send the conflict back
to that worker in its own conversation (rebase onto the target and resolve). Both must run
inside a Textual worker (`screen.run_worker(...)`): they wait for the person's answers."""

from __future__ import annotations

import os
from typing import Any

from textual.screen import Screen

from podium.sessions.client import NotRunning, RequestFailed

from .link import SupervisorLink
from .screens import ConfirmScreen


async def _ask(screen: Screen[Any], link: SupervisorLink, op: str, **fields: Any) -> Any:
    """The request's answer, or None after a toast saying why not."""
    try:
        return await link.ask(op, **fields)
    except (RequestFailed, NotRunning) as exc:
        screen.notify(str(exc), severity="error", timeout=8)
        return None


async def merge_one(screen: Screen[Any], link: SupervisorLink, name: str) -> None:
    check = await _ask(screen, link, "worktree_merge", name=name, check=True)
    if check is None:
        return
    if not check["clean"]:
        screen.notify(f"{check['branch']} conflicts with {check['target']} in {', '.join(check['conflicts'])}: nothing merged (podium merge {name} --send-back asks it to rebase)", severity="error", timeout=8)
        return
    if check["busy"]:
        screen.notify(f"{', '.join(check['busy'])} still work(s) in {name}'s worktree: merge once they have ended", severity="warning", timeout=8)
        return
    pending = len(check["uncommitted"])
    if not check["commits"] and not pending:
        screen.notify(f"{check['branch']} has nothing {check['target']} lacks", severity="warning")
        return
    said = f"Merge {check['branch']} ({check['commits']} commit(s)) into {check['target']}? It merges cleanly."
    if pending:
        said = f"{name}'s worktree has {pending} uncommitted change(s). Commit them on {check['branch']} (as podium) and merge it into {check['target']}?"
    if not await screen.app.push_screen_wait(ConfirmScreen(said)):
        return
    out = await _ask(screen, link, "worktree_merge", name=name, commit=bool(pending))
    if out is not None:
        screen.notify(f"merged {check['branch']} into {out['merged']['into']} ({out['merged']['commit'][:10]})", timeout=5)
        await offer_discard(screen, link, [name])


async def merge_queue(screen: Screen[Any], link: SupervisorLink, names: list[str]) -> None:
    check = await _ask(screen, link, "merge_queue", names=names, check=True)
    if check is None:
        return
    ready = [f"{c['name']} ({c['commits']} commit(s))" for c in check["clean"]]
    stop = check["stopped"]
    if not ready and stop is None:
        screen.notify("nothing to merge: " + "; ".join(f"{p['name']}: {p['why']}" for p in check["passed"]), severity="warning", timeout=6)
        return
    said = f"Merge {', '.join(ready)} into {(check['clean'] or [stop])[0]['target']}, in this order?" if ready else ""
    if stop is not None:
        said += f" The queue stops at {stop['name']}: {_why(stop)}."
    if ready and not await screen.app.push_screen_wait(ConfirmScreen(said.strip())):
        return
    out = await _ask(screen, link, "merge_queue", names=names) if ready else {"merged": [], "stopped": stop}
    if out is None:
        return
    if out["merged"]:
        screen.notify(f"merged {', '.join(m['name'] for m in out['merged'])} into {out['merged'][0]['into']}", timeout=5)
    stop = out["stopped"]
    if stop is not None and stop["conflicts"]:
        if await screen.app.push_screen_wait(ConfirmScreen(f"{stop['name']}: {_why(stop)}. Send it back to {stop['name']} (rebase onto {stop['target']} and resolve)?")):
            sent = await _ask(screen, link, "merge_queue", names=[stop["name"]], check=True, send_back=True, env=dict(os.environ))
            if sent is not None and sent["stopped"] is not None:
                why = sent["stopped"].get("sent_back", "")
                screen.notify(f"asked {stop['name']} to rebase onto {stop['target']} and resolve" if not why else f"{stop['name']} cannot be asked ({why}): rebase it in its worktree yourself", severity="information" if not why else "warning", timeout=8)
    elif stop is not None:
        screen.notify(f"the queue stopped at {stop['name']}: {_why(stop)}", severity="warning", timeout=8)
    if out["merged"]:
        await offer_discard(screen, link, [m["name"] for m in out["merged"]])


async def offer_discard(screen: Screen[Any], link: SupervisorLink, names: list[str]) -> None:
    """After a merge: remove the merged worktrees and branches? (What is merged is kept in
    the target; the worktree is removed only if it holds nothing more.)"""
    if not await screen.app.push_screen_wait(ConfirmScreen(f"Remove the worktree and branch of {', '.join(names)}? {'Their' if len(names) > 1 else 'Its'} work is merged.")):
        screen.notify(f"kept; podium discard {names[0]} removes one later", timeout=4)
        return
    for name in names:
        out = await _ask(screen, link, "worktree_discard", name=name)
        if out is not None:
            screen.notify(f"removed {out['removed']} and {out['branch']}", timeout=4)


def _why(stop: dict[str, Any]) -> str:
    if stop.get("busy"):
        return f"{', '.join(stop['busy'])} still work(s) in it"
    if stop["conflicts"]:
        return f"{stop['branch']} conflicts with {stop['target']} in {', '.join(stop['conflicts'])}"
    return f"{len(stop['uncommitted'])} uncommitted change(s) in its worktree (commit them there first)"
