"""The escalation inbox: every question waiting for the person, from every source, and
how an answer gets back. It looks for approval prompts on a worker's rendered screen,
reads the decision cards workers drop into `decisions/pending/`, raises podium's own
questions, picks each one's tier by the rules, delivers an answer the way its source
expects it (the exact keys of that prompt, or the answer written into the card), checks
that the prompt left the screen, and applies a card's default when its timeout passes.

It sees a worker only through the narrow `Asker` protocol, and tells the rest of the
supervisor what happened through callbacks; every step goes into the journal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .blackboard import DiskThread, Journal
from .escalations import Escalation, Recogniser, TierRule, parse_card, resolve_card, screen_options, tier_for
from .fsutil import atomic_write, now_iso
from .text import masked
from .protocol import Answer, DecisionWait, Decisions, Escalate, Withdraw
from .requests import RequestError, RequestTable
from .states import ACTIVE, EscalationState, OPEN_ESCALATIONS, Source, Tier, WorkerState

log = logging.getLogger("podium")

VERIFY_AFTER = 1.5  # seconds after an answer to look whether the prompt left the screen
HOOK_GRACE = 3.0  # seconds after a hook's answer in which its dialog may still be on the screen
HOOK_CHOICES = ("approve", "approve_session", "deny", "y", "a", "n")  # what a hook's permission request takes
VERIFY_TRIES = 4  # looks again while nothing was printed (a slow program)
CARD_SETTLE = 0.5  # a card younger than this may still be being written
CARD_SCAN_EVERY = 1.0


class Asker(Protocol):
    """What the inbox needs of a worker."""

    name: str
    state: str
    offset: int

    @property
    def mode(self) -> str: ...
    def screen_now(self) -> tuple[list[str], int]: ...  # rows as text, the cursor's row
    def send_keys(self, data: bytes) -> bool: ...
    def set_state(self, state: str, reason: str) -> None: ...


class EscalationInbox:
    def __init__(
        self,
        decisions: Path,
        journal: Journal,
        disk: DiskThread,
        worker_named: Callable[[str], Asker | None],
        publish: Callable[[dict[str, Any]], None],
        asked: Callable[[str], None],
        recognisers: list[Recogniser],
        rules: list[TierRule],
    ):
        self.decisions = decisions
        self.journal = journal
        self.disk = disk
        self.worker_named = worker_named
        self.publish = publish  # an escalation event for every client
        self.asked = asked  # a worker asked once more (its info changed)
        self.recognisers = recognisers
        self.rules = rules
        self._hook_answered: dict[str, float] = {}  # worker -> when a hook's question of it was answered
        self.screen_asked: Callable[[str, str], None] | None = None  # a screen prompt opened (the hooks room judges its hooks)
        self.escalations: dict[str, Escalation] = {}
        self.counts: dict[str, int] = {}  # escalations per worker
        self._cards: dict[str, str] = {}  # card path -> escalation id
        self._card_stamps: dict[str, tuple[int, int]] = {}  # card path -> (mtime, size) read
        self._card_timers: dict[str, asyncio.TimerHandle] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._scanner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._scanner = asyncio.get_running_loop().create_task(self._scan_forever())

    def stop(self) -> None:
        if self._scanner is not None:
            self._scanner.cancel()
        for timer in self._card_timers.values():
            timer.cancel()

    def register(self, table: RequestTable) -> None:
        table.add("decisions", self.op_decisions, Decisions)
        table.add("answer", self.op_answer, Answer)
        table.add("escalate", self.op_escalate, Escalate)
        table.add("decision_wait", self.op_wait, DecisionWait)
        table.add("withdraw", self.op_withdraw, Withdraw)

    # -- the records ------------------------------------------------------------------------
    def pending_for(self, name: str) -> Escalation | None:
        """The screen prompt a worker is stopped at (pending, or answered and not yet gone)."""
        for esc in self.escalations.values():
            if esc.worker == name and esc.source == Source.SCREEN and esc.state in OPEN_ESCALATIONS:
                return esc
        return None

    def asking(self, name: str) -> str | None:
        """What a worker waits on, named by where the question came from."""
        hook = self.hook_asking(name)
        if hook is not None:
            return f"hook:PermissionRequest {hook.created[11:19]}"
        screen = self.pending_for(name)
        return f"screen:{screen.recogniser.name}" if screen is not None and screen.recogniser is not None else None

    def hook_asking(self, name: str) -> Escalation | None:
        for esc in self.escalations.values():
            if esc.worker == name and esc.source == Source.HOOK and esc.state == EscalationState.PENDING:
                return esc
        return None

    def _take_over(self, name: str) -> None:
        """A hook asks what the screen asked already: the screen's question gives way (an
        answer already typed stands, and the hook is told so)."""
        screen = self.pending_for(name)
        if screen is None:
            return
        if screen.state != EscalationState.PENDING:
            raise RequestError(f"{name}'s prompt was answered on its screen already ({(screen.answer or {}).get('choice')})")
        screen.note = "taken over by the agent's own PermissionRequest hook (answered at the source)"
        self._close(screen, EscalationState.RESOLVED)

    def _open(self, esc: Escalation) -> None:
        esc.question, esc.command, esc.reason = masked(esc.question), masked(esc.command) if esc.command else None, masked(esc.reason) if esc.reason else None
        self.escalations[esc.id] = esc
        rec = esc.recogniser.name if esc.recogniser else None
        self.journal.write("escalation", esc.worker, id=esc.id, tier=esc.tier, source=esc.source, question=esc.question, command=esc.command, file=esc.file, recogniser=rec)
        self.publish(esc.public())
        if esc.worker:
            self.counts[esc.worker] = self.counts.get(esc.worker, 0) + 1
            self.asked(esc.worker)

    def _close(self, esc: Escalation, state: EscalationState) -> None:
        esc.state = state
        self.journal.write("escalation", esc.worker, id=esc.id, state=state, answer=esc.answer, note=esc.note or None)
        self.publish(esc.public())

    def _answered(self, esc: Escalation, choice: str, by: str, how: str, **extra: Any) -> None:
        esc.answer = {"choice": choice, "by": by, "how": how, "at": now_iso(), **extra}
        self.journal.write("answer", esc.worker, id=esc.id, choice=choice, by=by, how=how)
        for waiter in self._waiters.pop(esc.id, []):
            if not waiter.done():
                waiter.set_result(esc.answer)

    async def op_wait(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """Until the escalation is answered (or `timeout` seconds): its answer, or None.
        For whoever raised it and wants the person's word (the breaker, an orchestrator)."""
        esc = self.escalations.get(req["escalation"])
        if esc is None:
            raise RequestError(f"no escalation {req['escalation']!r}")
        if esc.answer is None:
            waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(esc.id, []).append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), req.get("timeout"))
            except asyncio.TimeoutError:
                pass
        return {"escalation": esc.public(), "answer": esc.answer}

    # -- prompts on a worker's screen ----------------------------------------------------------
    def check_prompts(self, worker: Asker) -> None:
        """After the screen changed: is an approval prompt on it now, or gone?"""
        if self.hook_asking(worker.name) or time.monotonic() - self._hook_answered.get(worker.name, -HOOK_GRACE) < HOOK_GRACE:
            return  # the agent's own hook asks for the dialog on its screen (or was just answered): one question, answered at the source
        lines, cursor_y = worker.screen_now()
        open_esc = self.pending_for(worker.name)
        if open_esc is not None:
            rec = open_esc.recogniser
            there = rec is not None and rec.still_there(open_esc, lines, cursor_y)
            if open_esc.state == EscalationState.ANSWERED:
                # A dialog that left the screen took the answer; a cursor-line prompt is
                # judged by the check after the answer (the terminal echoes what was typed).
                if there or (rec is not None and rec.where == "cursor_line"):
                    return
                self._close(open_esc, EscalationState.RESOLVED)
            elif there:
                found = rec.find(lines, cursor_y) if rec else None
                if found:
                    open_esc.lines = found["lines"]
                return
            else:  # it left the screen without podium: answered in the terminal
                open_esc.answer = {"choice": "?", "by": "the person", "how": "answered in the terminal", "at": now_iso()}
                self._close(open_esc, EscalationState.RESOLVED)
            if worker.state == WorkerState.WAITING:
                worker.set_state(WorkerState.RUNNING, "approval answered")
            # fall through: a next prompt may already be on the screen
        for rec in self.recognisers:
            if not rec.applies(worker.mode):
                continue
            found = rec.find(lines, cursor_y)
            if found is None:
                continue
            esc = Escalation(
                source=Source.SCREEN,
                worker=worker.name,
                question=found["question"],
                options=screen_options(rec),
                recogniser=rec,
                command=found.get("command"),
                reason=found.get("reason"),
                file=found.get("file"),
                lines=found["lines"],
                anchor=found["anchor"],
            )
            esc.tier = tier_for(esc, self.rules)
            self._open(esc)
            if self.screen_asked is not None:
                self.screen_asked(worker.name, esc.command or esc.file or esc.question)
            if esc.tier == Tier.GATE:
                worker.set_state(WorkerState.WAITING, f"approval: {esc.command or esc.file or esc.question}"[:120])
            else:  # autonomous and notify: podium answers yes itself, and says so
                self._send_keys(esc, worker, "approve", by="podium", how=f"{esc.tier} tier rule")
            return

    def worker_ended(self, name: str, state: str) -> None:
        hook = self.hook_asking(name)
        if hook is not None:  # (its hook is gone with it; the wait there ends on its own)
            hook.note = f"the worker ended ({state}) before its permission request was answered"
            self._close(hook, EscalationState.EXPIRED)
        esc = self.pending_for(name)
        if esc is None:
            return
        if esc.state == EscalationState.ANSWERED:  # it took the answer and went on to the end
            self._close(esc, EscalationState.RESOLVED)
        else:
            esc.note = f"the worker ended ({state}) before the prompt was answered"
            self._close(esc, EscalationState.EXPIRED)

    def _send_keys(self, esc: Escalation, worker: Asker, choice: str, by: str, how: str) -> None:
        rec = esc.recogniser
        assert rec is not None
        if worker.state == WorkerState.PAUSED:
            raise RequestError(f"{worker.name} is paused (SIGSTOP): continue it first (s), then answer")
        keys = {"approve": rec.approve, "approve_session": rec.approve_session, "deny": rec.deny}.get(choice)
        if not keys:
            raise RequestError(f"escalation {esc.id} takes approve{', approve_session' if rec.approve_session else ''} or deny, not {choice!r}")
        if not worker.send_keys(keys.encode()):
            raise RequestError(f"escalation {esc.id}: its worker is gone; nothing sent")
        self._answered(esc, choice, by, how, keys=keys.encode().hex())
        esc.state = EscalationState.ANSWERED
        esc.offset_at_answer = worker.offset
        esc.checks = 0
        self.publish(esc.public())
        asyncio.get_running_loop().call_later(VERIFY_AFTER, self._verify_answer, esc.id)

    def _verify_answer(self, esc_id: str) -> None:
        """The prompt must have left the screen; if not, the escalation comes back."""
        esc = self.escalations.get(esc_id)
        worker = self.worker_named(esc.worker or "") if esc else None
        if esc is None or esc.state != EscalationState.ANSWERED or worker is None:
            return
        lines, cursor_y = worker.screen_now()
        still = esc.recogniser is not None and esc.recogniser.still_there(esc, lines, cursor_y)
        active = worker.state in ACTIVE
        if still and active and worker.offset == esc.offset_at_answer and esc.checks < VERIFY_TRIES:
            esc.checks += 1  # nothing printed since the answer (a slow program): look again
            asyncio.get_running_loop().call_later(VERIFY_AFTER, self._verify_answer, esc_id)
            return
        if still and active:
            esc.state = EscalationState.PENDING
            esc.note = f"the prompt was still on the screen {VERIFY_AFTER} s after the answer ({(esc.answer or {}).get('choice')}); answer again or look at the pane"
            self.journal.write("escalation", worker.name, id=esc.id, state=esc.state, note=esc.note)
            self.publish(esc.public())
            return
        self._close(esc, EscalationState.RESOLVED)
        if worker.state == WorkerState.WAITING:
            worker.set_state(WorkerState.RUNNING, "approval answered")
        if worker.state in ACTIVE:
            self.check_prompts(worker)  # a next prompt may be waiting already

    # -- answers ----------------------------------------------------------------------------------
    async def deliver(self, esc: Escalation, choice: str, by: str, how: str, message: str | None = None) -> None:
        """Send the answer the way its source expects it. Raises RequestError if it cannot."""
        if esc.state != EscalationState.PENDING:
            who = (esc.answer or {}).get("by", "someone")
            raise RequestError(f"escalation {esc.id} is {esc.state} already (answered by {who}); nothing sent")
        if esc.source == Source.SCREEN:
            worker = self.worker_named(esc.worker or "")
            if worker is None or esc.recogniser is None:
                raise RequestError(f"escalation {esc.id}: its worker is gone; nothing sent")
            self._send_keys(esc, worker, choice, by, how)
        elif esc.source == Source.CARD:
            await self._answer_card(esc, choice, by, how)
        elif esc.source == Source.HOOK and choice not in HOOK_CHOICES:
            raise RequestError(f"escalation {esc.id} (an agent's permission request) takes approve, approve_session or deny, not {choice!r}")
        else:
            self._answered(esc, choice, by, how, **({"message": message} if message else {}))
            self._close(esc, EscalationState.RESOLVED)
            if esc.source == Source.HOOK and esc.worker:
                self._hook_answered[esc.worker] = time.monotonic()  # its dialog leaves the screen soon
                self._look_again(esc.worker, HOOK_GRACE + 0.1)  # (a next prompt drawn meanwhile is read then)

    async def op_answer(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        esc = self.escalations.get(req["escalation"])
        if esc is None:
            raise RequestError(f"no escalation {req['escalation']!r} (podium decisions lists them)")
        if esc.state == EscalationState.MALFORMED:
            raise RequestError(f"escalation {esc.id} is a malformed card: {esc.note}")
        await self.deliver(esc, req["choice"], by=str(req.get("by") or client.kind), how=f"via {client.kind}", message=req.get("message"))
        target = self.worker_named(esc.worker or "")
        if target is not None and esc.source != Source.SCREEN and target.state == WorkerState.WAITING and self.pending_for(target.name) is None and self.hook_asking(target.name) is None:
            target.set_state(WorkerState.RUNNING, "decision answered")
        return esc.public()

    async def op_withdraw(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """Whoever raised it no longer waits (a hook that gave up): it expires, unanswered."""
        esc = self.escalations.get(req["escalation"])
        if esc is None:
            raise RequestError(f"no escalation {req['escalation']!r}")
        if esc.state == EscalationState.PENDING:
            esc.note = str(req.get("note") or f"withdrawn by {client.kind}")
            self._close(esc, EscalationState.EXPIRED)
        self._look_again(esc.worker, 0.0)  # the CLI's own dialog may be on the screen already, drawn in silence
        return esc.public()

    def _look_again(self, name: str | None, after: float) -> None:
        """A screen that will not change by itself is read for prompts once more, `after` s on."""
        def look() -> None:
            worker = self.worker_named(name or "")
            if worker is not None and worker.state in ACTIVE:
                self.check_prompts(worker)

        asyncio.get_running_loop().call_later(after, look)

    async def op_decisions(self, client: Any, req: dict[str, Any]) -> list[dict[str, Any]]:
        await self.scan_cards()
        states = req.get("states") or [EscalationState.PENDING, EscalationState.ANSWERED, EscalationState.MALFORMED]
        found = [e for e in self.escalations.values() if states == "all" or e.state in states]
        return [e.public() for e in sorted(found, key=lambda e: e.created_at)]

    async def op_escalate(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """podium's own triggers (and scripts) raise escalations through the same inbox."""
        options = req.get("options") or [{"key": "y", "label": "approve"}, {"key": "n", "label": "deny"}]
        if not all(isinstance(o.get("key"), str) and isinstance(o.get("label"), str) for o in options):
            raise RequestError("options must be a list of {key, label} objects")
        worker = req.get("worker")
        if worker is not None and self.worker_named(worker) is None:
            raise RequestError(f"unknown worker {worker!r}")
        tier = req.get("tier")
        if tier is not None and tier not in Tier.__members__.values():
            raise RequestError(f"tier must be {', '.join(Tier)}, not {tier!r}")
        source = Source.HOOK if req.get("source") == "hook" else Source.PODIUM
        if source == Source.HOOK and worker is not None:
            self._take_over(worker)
        esc = Escalation(source=source, worker=worker, question=req["question"], options=options, command=req.get("command"), file=req.get("file"), reason=req.get("reason"))
        esc.tier = Tier(tier) if tier else tier_for(esc, self.rules)
        self._open(esc)
        return esc.public()

    # -- decision cards ------------------------------------------------------------------------------
    async def _scan_forever(self) -> None:
        """Workers drop cards into decisions/pending/ at any time: look once a second
        (a stat of one directory; nothing is read unless a file appeared or changed)."""
        while True:
            try:
                await self.scan_cards()
            except OSError as exc:
                log.warning(f"decision cards: {exc}")
            await asyncio.sleep(CARD_SCAN_EVERY)

    async def scan_cards(self) -> None:
        known = dict(self._card_stamps)
        seen, changed = await self.disk.run(_look_at_cards, self.decisions / "pending", known)
        for key, stamp, text, error in changed:
            self._take_card(key, stamp, text, error)
        for key in [k for k in self._cards if k not in seen]:
            self._card_stamps.pop(key, None)
            esc = self.escalations.get(self._cards.pop(key))
            if esc is not None and esc.state in (EscalationState.PENDING, EscalationState.MALFORMED):  # (not one being answered)
                esc.note = "the card left decisions/pending/ (moved or deleted outside podium)"
                self._close(esc, EscalationState.RESOLVED)

    def _take_card(self, key: str, stamp: tuple[int, int], text: str | None, error: str | None) -> None:
        if self._card_stamps.get(key) == stamp:
            return  # a scan that ran at the same time took this version already
        old_id = self._cards.get(key)
        if old_id is not None:  # the card changed: it is asked again
            old = self.escalations.get(old_id)
            timer = self._card_timers.pop(old_id, None)
            if timer is not None:
                timer.cancel()
            if old is not None and old.state in (EscalationState.PENDING, EscalationState.MALFORMED):
                old.note = "the card was rewritten; see its new version"
                self._close(old, EscalationState.RESOLVED)
        self._card_stamps[key] = stamp
        name = Path(key).name
        try:
            if error is not None or text is None:
                raise ValueError(error or "unreadable")
            card = parse_card(text, key)
        except ValueError as exc:
            esc = Escalation(source=Source.CARD, worker=None, question=f"malformed decision card {name}", options=[], card={"path": key})
            esc.state, esc.note = EscalationState.MALFORMED, str(exc)
            self._cards[key] = esc.id
            self.escalations[esc.id] = esc
            self.journal.write("escalation", None, id=esc.id, source=esc.source, state=esc.state, note=esc.note)
            self.publish(esc.public())
            return
        card["path"] = key
        esc = Escalation(source=Source.CARD, worker=card.get("worker"), question=card["title"] or Path(key).stem, options=card["options"], card=card)
        esc.tier = tier_for(esc, self.rules)
        self._cards[key] = esc.id
        self._open(esc)
        if card.get("timeout") is not None and card.get("default"):
            self._card_timers[esc.id] = asyncio.get_running_loop().call_later(card["timeout"], self._card_default, esc.id)

    def _card_default(self, esc_id: str) -> None:
        esc = self.escalations.get(esc_id)
        if esc is None or esc.state != EscalationState.PENDING or not esc.card:
            return

        async def apply() -> None:
            assert esc.card is not None
            try:
                await self._answer_card(esc, esc.card["default"], by="podium", how=f"default after {esc.card['timeout']:.0f} s")
            except RequestError as exc:
                esc.note = f"the default could not be applied: {exc}"
                self.publish(esc.public())
                return
            self.journal.write("default", esc.worker, id=esc.id, option=esc.card["default"], note="the card's default was applied when its timeout passed")

        asyncio.get_running_loop().create_task(apply())

    async def _answer_card(self, esc: Escalation, choice: str, by: str, how: str) -> None:
        assert esc.card is not None
        options = {o["key"]: o["label"] for o in esc.card.get("options", [])}
        if choice == "approve":
            choice = esc.card.get("recommended") or (next(iter(options)) if options else "")
        if choice not in options:
            raise RequestError(f"escalation {esc.id} has options {', '.join(options)}, not {choice!r}")
        src = Path(esc.card["path"])
        record = resolve_card_text(choice, options[choice], by, how)
        # While the card moves, it is this answer's: a second answer is refused and a scan
        # that misses the card does not close it as moved by someone else.
        esc.state = EscalationState.ANSWERED
        esc.answer = {"choice": choice, "by": by, "how": how}
        try:
            dst = await self.disk.run(_move_answered_card, src, self.decisions / "resolved", record)
        except FileNotFoundError:
            esc.state, esc.answer = EscalationState.PENDING, None
            raise RequestError(f"the card {src} is gone from decisions/pending/") from None
        except OSError as exc:
            esc.state, esc.answer = EscalationState.PENDING, None
            raise RequestError(f"could not move the card {src} to decisions/resolved/: {exc.strerror}; it is still pending") from None
        self._cards.pop(str(src), None)
        self._card_stamps.pop(str(src), None)
        timer = self._card_timers.pop(esc.id, None)
        if timer is not None:
            timer.cancel()
        self._answered(esc, choice, by, how, label=options[choice], card=str(dst))
        self._close(esc, EscalationState.RESOLVED)


def resolve_card_text(choice: str, label: str, by: str, how: str) -> Callable[[str], str]:
    return lambda text: resolve_card(text, choice, label, by, how)


def _look_at_cards(pending: Path, known: dict[str, tuple[int, int]]) -> tuple[set[str], list[tuple[str, tuple[int, int], str | None, str | None]]]:
    """(every card there now, the new or changed ones with their text or why unreadable).
    On the disk thread."""
    seen: set[str] = set()
    changed = []
    if not pending.is_dir():
        return seen, changed
    now = time.time()
    for path in sorted(pending.glob("*.md")):
        if path.name.startswith("."):  # editor lock and swap files
            continue
        try:
            st = path.stat()
        except OSError:
            continue  # a dangling link, or gone since the listing
        key = str(path)
        seen.add(key)
        stamp = (st.st_mtime_ns, st.st_size)
        if known.get(key) == stamp or now - st.st_mtime < CARD_SETTLE:
            continue  # read already, or still being written (read it on the next look)
        try:
            changed.append((key, stamp, path.read_text(encoding="utf-8"), None))
        except (UnicodeDecodeError, OSError) as exc:
            changed.append((key, stamp, None, f"{key}: {exc}"))
    return seen, changed


def _move_answered_card(src: Path, resolved: Path, record: Callable[[str], str]) -> Path:
    """The card with its answer goes to decisions/resolved/ (never over an older record);
    the pending one is removed. On the disk thread."""
    text = src.read_text(encoding="utf-8")
    dst = resolved / src.name
    resolved.mkdir(parents=True, exist_ok=True)
    n = 2
    while dst.exists():  # a card name used again: keep the earlier record
        dst = dst.with_name(f"{src.stem}.{n}{src.suffix}")
        n += 1
    atomic_write(dst, record(text), mode=0o644)
    src.unlink()
    return dst
