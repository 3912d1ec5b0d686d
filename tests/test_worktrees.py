"""Issue 17's first part, with real git repositories made here: a writer in a worktree of
its own (branch podium/NAME, outside the repository's tree, `.worktreeinclude` copied),
two writers merged one after the other, the same lines changed twice found as a conflict
before anything is merged, discarding that asks first when work would be lost, and each
piece of bad input (not a repository, a missing base, a branch that exists, a dirty main
tree, a detached HEAD, a worktree deleted by hand) answered in words, losing nothing."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from conftest import eventually, podium_cli
from gitrepo import done, init_repo, sh
from test_plans import complete, write_plan

from podium.sessions.blackboard import read_journal
from podium.sessions.client import RequestFailed


@pytest.fixture
def repo(workspace: Path) -> Path:
    repo = init_repo(workspace, {"a.txt": "alpha\n", "b.txt": "beta\n", ".gitignore": ".env\n.podium/\n", ".env": "SECRET_FOR_TESTS=1\n", ".worktreeinclude": "# local files a worker needs\n.env\n"})
    return repo


def writer(path: str, text: str, report: str) -> list[str]:
    """A worker that changes one file, commits, and reports like an agent."""
    return ["sh", "-c", f"printf '{text}\\n' > {path} && git add {path} && git commit -q -m 'edit {path}' && printf 'COMPLETED: {report}\\n\\nStatus: Done\\n'"]


async def test_two_writers_in_their_own_worktrees_merge_one_after_the_other(supervised, repo):
    ws, client = supervised
    one = await client.request("worktree_spawn", name="one", argv=writer("a.txt", "alpha from one", "a.txt rewritten"))
    two = await client.request("worktree_spawn", name="two", argv=writer("b.txt", "beta from two", "b.txt rewritten"))
    for out, name in ((one, "one"), (two, "two")):
        where = Path(out["worktree"]["path"])
        assert out["worktree"]["branch"] == f"podium/{name}" and where.parent == ws.parent / ".podium-worktrees" / ws.name, out
        assert not where.is_relative_to(ws), "the worktree is inside the repository's tree"
        assert (where / ".env").read_text() == "SECRET_FOR_TESTS=1\n" and out["worktree"]["copied"] == [".env"]
        assert (await done(client, name))["state"] == "done"
    listed = {w["name"]: w for w in await client.request("ls")}
    assert listed["one"]["worktree"]["branch"] == "podium/one" and listed["one"]["cwd"] == one["worktree"]["path"]
    assert (ws / "a.txt").read_text() == "alpha\n", "a writer changed the main working tree"
    check = await client.request("worktree_merge", name="one", check=True)
    assert check["clean"] and check["commits"] == 1 and check["conflicts"] == [] and check["target"] == "main"
    merged = await client.request("worktree_merge", name="one")
    assert (ws / "a.txt").read_text() == "alpha from one\n"
    merged2 = await client.request("worktree_merge", name="two")  # checked again against the updated main
    assert (ws / "b.txt").read_text() == "beta from two\n"
    log = sh(ws, "git", "log", "--format=%s", "-3")
    assert log.splitlines()[:2] == ["b.txt rewritten", "a.txt rewritten"], log  # messages from the reports
    assert merged["merged"]["how"] == "merge" and merged2["merged"]["into"] == "main"
    out = await client.request("worktree_discard", name="one")  # merged: no question
    assert not Path(out["removed"]).exists() and "podium/one" not in sh(ws, "git", "branch")


async def test_the_same_lines_changed_twice_conflict_before_anything_is_merged(supervised, repo):
    ws, client = supervised
    for name in ("left", "right"):
        await client.request("worktree_spawn", name=name, argv=writer("a.txt", f"alpha by {name}", f"{name} rewrote a.txt"))
        await done(client, name)
    await client.request("worktree_merge", name="left")
    before = sh(ws, "git", "rev-parse", "HEAD")
    check = await client.request("worktree_merge", name="right", check=True)
    assert not check["clean"] and check["conflicts"] == ["a.txt"], check
    with pytest.raises(RequestFailed, match="conflicts in a.txt; nothing was merged"):
        await client.request("worktree_merge", name="right")
    assert sh(ws, "git", "rev-parse", "HEAD") == before and sh(ws, "git", "status", "--porcelain") == "", "half merged"
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "merge", "right", "--check")
    assert r.returncode == 1 and "conflicts in a.txt" in r.stdout, r.stdout + r.stderr


async def test_discard_asks_before_losing_work_and_the_cli_says_so(supervised, repo):
    ws, client = supervised
    out = await client.request("worktree_spawn", name="w", argv=writer("a.txt", "unmerged", "a.txt"))
    await done(client, "w")
    (Path(out["worktree"]["path"]) / "b.txt").write_text("uncommitted\n")
    with pytest.raises(RequestFailed, match=r"holds work: 1 uncommitted change\(s\) in .*; 1 commit\(s\) on podium/w that no other branch has"):
        await client.request("worktree_discard", name="w")
    assert Path(out["worktree"]["path"]).exists()
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "discard", "w")  # no terminal to ask on: refused, kept
    assert r.returncode != 0 and "holds work" in r.stderr and Path(out["worktree"]["path"]).exists(), r.stderr
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "discard", "w", "--yes")
    assert r.returncode == 0 and not Path(out["worktree"]["path"]).exists(), r.stderr
    gone = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "worktree" and e.get("action") == "discarded"]
    assert len(gone[0]["lost"]) == 2, gone


async def test_bad_input_is_answered_in_words_and_loses_nothing(supervised, repo):
    ws, client = supervised
    with pytest.raises(RequestFailed, match="base 'no-such-branch' does not exist"):
        await client.request("worktree_spawn", name="x", argv=["true"], base="no-such-branch")
    sh(ws, "git", "branch", "podium/taken")
    with pytest.raises(RequestFailed, match="branch podium/taken already exists"):
        await client.request("worktree_spawn", name="taken", argv=["true"])
    out = await client.request("worktree_spawn", name="w", argv=writer("a.txt", "from w", "w"))
    await done(client, "w")
    (ws / "b.txt").write_text("the person's own edit\n")
    with pytest.raises(RequestFailed, match="main working tree.*uncommitted changes: commit or stash them first; nothing was merged"):
        await client.request("worktree_merge", name="w")
    assert (ws / "b.txt").read_text() == "the person's own edit\n"
    sh(ws, "git", "checkout", "-q", "b.txt")
    sh(ws, "git", "checkout", "-q", "--detach")
    with pytest.raises(RequestFailed, match="detached HEAD"):
        await client.request("worktree_merge", name="w")
    sh(ws, "git", "checkout", "-q", "main")
    shutil.rmtree(out["worktree"]["path"])
    with pytest.raises(RequestFailed, match="was removed by hand: its branch podium/w is kept"):
        await client.request("worktree_merge", name="w")
    assert "podium/w" in sh(ws, "git", "branch")


async def test_outside_a_repository_a_worker_runs_in_place_and_is_told(supervised):
    ws, client = supervised
    out = await client.request("worktree_spawn", name="here", argv=["true"])
    assert "is not a git repository: here runs in place" in out["note"] and out["worker"]["cwd"] == str(ws)


async def test_a_worktree_outlives_a_restart_and_one_whose_worker_is_gone_is_pointed_out(repo):
    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    ws = repo
    client, _ = await connect_or_start(ws, client="test")
    try:
        out = await client.request("worktree_spawn", name="kept", argv=writer("a.txt", "kept", "kept"))
        await client.request("worktree_spawn", name="orphan", argv=writer("b.txt", "orphan", "orphan"))
        for name in ("kept", "orphan"):
            await done(client, name)
        await client.request("stop", grace=0.5)
        await asyncio.wait_for(client.closed.wait(), 10)
        shutil.rmtree(ws / ".podium/workers/orphan")  # its worker is gone; its worktree and branch are not
        client, _ = await connect_or_start(ws, client="test")
        listed = {w["name"]: w for w in await client.request("ls")}
        assert listed["kept"]["worktree"]["path"] == out["worktree"]["path"], listed["kept"]
        notice = await eventually(lambda: _left_behind(client), what="the left-behind worktree pointed out")
        assert "orphan (" in notice["question"] and "kept (" not in notice["question"], notice
    finally:
        await shut_down(client, ws)


async def _left_behind(client):
    found = [e for e in await client.request("decisions") if "Worktrees left behind" in e["question"]]
    return found[0] if found else None


async def test_the_diff_has_committed_uncommitted_and_new_files_with_their_counts(supervised, repo):
    ws, client = supervised
    out = await client.request("worktree_spawn", name="w", argv=writer("a.txt", "alpha changed\\nmore", "a.txt"))
    await done(client, "w")
    where = Path(out["worktree"]["path"])
    (where / "b.txt").write_text("beta\nuncommitted line\n")
    (where / "new.py").write_text("print('new')\n")
    diff = await client.request("review_diff", worker="w")
    files = {f["path"]: f for f in diff["files"]}
    assert set(files) == {"a.txt", "b.txt", "new.py"}, files.keys()
    assert (files["a.txt"]["added"], files["a.txt"]["removed"], files["a.txt"]["status"]) == (2, 1, "modified")
    assert (files["b.txt"]["added"], files["b.txt"]["removed"]) == (1, 0)
    assert files["new.py"]["status"] == "added" and files["new.py"]["hunks"][0]["lines"] == ["+print('new')"]
    assert files["a.txt"]["hunks"][0]["new_start"] == 1


@pytest.mark.slow
async def test_comments_reach_a_real_codex_as_one_follow_up_with_file_and_line(supervised, repo, tmp_path):
    """The person comments twice on a codex exec writer's diff; one key sends both, and
    codex (resumed in its own conversation) is asked once with both, file and line; a
    comment whose lines changed since is marked stale."""
    import os

    from fake_model import FakeModel, message, shell_call
    from test_plan_agents import agent_env, codex_prompt

    ws, client = supervised
    asked: list[str] = []

    def model(body):
        text = codex_prompt(body)
        if "Review comments on your changes" in text:
            asked.append(text)
            return [message("COMPLETED: addressed the review\n\nStatus: Done\n")]
        if any(i.get("type") == "function_call_output" for i in body.get("input") or [] if isinstance(i, dict)):
            return [message("COMPLETED: wrote greet.py\n\nStatus: Done\n")]
        return [shell_call("printf 'def greet():\\n    return \"hi\"\\n' > greet.py && git add greet.py && git commit -q -m greet")]

    with FakeModel(codex_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        argv = ["codex", "exec", "-s", "danger-full-access", "write greet.py"]
        await client.request("worktree_spawn", name="cx", argv=argv, env=env)
        assert (await done(client, "cx"))["state"] == "done"
        diff = await client.request("review_diff", worker="cx")
        assert [f["path"] for f in diff["files"]] == ["greet.py"], diff["files"]
        await client.request("review_comment", worker="cx", file="greet.py", line=1, code="def greet():", text="take a name and greet it")
        await client.request("review_comment", worker="cx", file="greet.py", line=2, code="    return 'gone'", text="return an f-string")
        shown = (await client.request("review_diff", worker="cx"))["comments"]
        assert [c["stale"] for c in shown] == [False, True], shown  # the second's lines are not in the diff
        sent = await client.request("review_send", worker="cx", env=env)
        assert sent["sent"] == 2
        await eventually(lambda: asked, what="codex asked with the comments")
        await done(client, "cx")
    (prompt,) = asked
    assert "1. greet.py:1" in prompt and "take a name and greet it" in prompt and "def greet():" in prompt, prompt
    assert "2. greet.py:2 (the code has changed since this comment was made)" in prompt and "return an f-string" in prompt
    with pytest.raises(RequestFailed, match="no open comments"):
        await client.request("review_send", worker="cx")


async def test_the_diff_view_lists_files_comments_sends_and_merges(supervised, repo):
    """D on a writer: its files with counts and hunks; c comments on the current hunk, S
    sends (the worker here is a shell: it cannot resume, and says so), m merges once asked."""
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.tui.diff_screen import DiffScreen
    from podium.tui.screens import ConfirmScreen, PromptScreen
    from test_plans import text_of

    ws, client = supervised
    await client.request("worktree_spawn", name="w", argv=writer("a.txt", "alpha, reviewed", "a.txt reviewed"))
    await done(client, "w")
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(140, 36)) as pilot:
        await eventually(lambda: "w" in app.dashboard.panes, pilot=pilot, what="w on the dashboard")
        await pilot.press("1", "D")
        await eventually(lambda: isinstance(app.screen, DiffScreen) and app.screen.diff["files"], pilot=pilot, what="the diff view with its files")
        view = app.screen
        assert [f["path"] for f in view.diff["files"]] == ["a.txt"]
        await eventually(lambda: "+alpha, reviewed" in text_of(view.query_one("#hunk-text")), pilot=pilot, what="the hunk shown", show=lambda: text_of(view.query_one("#hunk-text")))
        await pilot.press("c")
        await eventually(lambda: isinstance(app.screen, PromptScreen), pilot=pilot, what="the comment prompt")
        await pilot.press(*"say why", "enter")
        await eventually(lambda: isinstance(app.screen, DiffScreen) and app.screen.diff.get("comments"), pilot=pilot, what="the comment saved")
        (comment,) = view.diff["comments"]
        assert (comment["file"], comment["line"], comment["code"], comment["text"]) == ("a.txt", 1, "alpha, reviewed", "say why")
        app.save_screenshot(str(ws.parent / "diff.svg"))
        await pilot.press("m")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot, what="the merge question")
        await pilot.press("y")
        await eventually(lambda: (ws / "a.txt").read_text() == "alpha, reviewed\n", pilot=pilot, what="merged into main")


async def test_podium_diff_prints_the_files_hunks_and_comments(supervised, repo):
    ws, client = supervised
    await client.request("worktree_spawn", name="w", argv=writer("a.txt", "alpha via cli", "a.txt"))
    await done(client, "w")
    await client.request("review_comment", worker="w", file="a.txt", line=1, code="alpha via cli", text="why this?")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "diff", "w")
    assert r.returncode == 0, r.stderr
    assert "M a.txt  +1 -1" in r.stdout and "+alpha via cli" in r.stdout and "comment a.txt:1 (open): why this?" in r.stdout, r.stdout


async def test_the_merge_queue_merges_in_order_and_a_conflict_stops_it_and_is_sent_back(supervised, repo):
    """Three writers: one and two change different files, three the same line as one.
    The queue merges one and two, re-checks three against the updated main, stops there,
    and (--send-back) asks three to rebase and resolve; nothing is half merged."""
    ws, client = supervised
    await client.request("worktree_spawn", name="one", argv=writer("a.txt", "one", "one"))
    await client.request("worktree_spawn", name="two", argv=writer("b.txt", "two", "two"))
    await client.request("worktree_spawn", name="three", argv=["sh", "-c", "printf 'three\\n' > a.txt && git commit -qam three && echo 'COMPLETED: three'; exec cat"])
    for name in ("one", "two"):
        await done(client, name)
    await eventually(lambda: _committed(client, "three"), what="three's commit")
    await client.request("interrupt", worker="three")
    await done(client, "three")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "merge", "one", "two", "three", "--send-back")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "one merged into main" in r.stdout and "two merged into main" in r.stdout and "queue stopped at three (3 of 3)" in r.stdout and "conflicts with main in a.txt" in r.stdout, r.stdout
    assert (ws / "a.txt").read_text() == "one\n" and (ws / "b.txt").read_text() == "two\n" and sh(ws, "git", "status", "--porcelain") == ""
    # three is a shell: it has no conversation to send the conflict back to, and the queue says so
    # (an agent is resumed with the rebase prompt, as review comments are: see above).
    assert "three cannot be asked (cannot resume three: a shell worker has no conversation to resume" in r.stdout, r.stdout


async def _committed(client, name: str) -> bool:
    from podium.sessions.client import RequestFailed as Refused

    try:
        check = await client.request("worktree_merge", name=name, check=True)
    except Refused:
        return False
    return check["commits"] == 1


async def test_the_new_worker_dialog_starts_a_writer_in_its_own_worktree(supervised, repo):
    from textual.widgets import Checkbox, Input, TextArea

    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.tui.screens import NewWorkerScreen

    ws, client = supervised
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(140, 44)) as pilot:
        await eventually(lambda: app.link.connected.is_set(), pilot=pilot, what="connected")
        await pilot.press("n")
        await eventually(lambda: isinstance(app.screen, NewWorkerScreen), pilot=pilot, what="the new-worker dialog")
        app.screen.query_one("#name", Input).value = "writer"
        app.screen.query_one("#task", TextArea).text = "printf 'by the dialog\\n' > a.txt && git commit -qam dialog"
        app.screen.query_one("#worktree", Checkbox).value = True
        await pilot.press("ctrl+s")
        await eventually(lambda: (app.link.roster.get("writer") or {}).get("worktree"), pilot=pilot, what="writer started in a worktree")
    w = await done(client, "writer")
    assert w["cwd"] == w["worktree"]["path"] and w["worktree"]["branch"] == "podium/writer"
    assert (ws / "a.txt").read_text() == "alpha\n" and (Path(w["cwd"]) / "a.txt").read_text() == "by the dialog\n"


async def test_a_plans_writers_get_worktrees_that_rounds_verifiers_and_the_queue_share(supervised, repo):
    """A plan in a repository: `first` writes in a worktree of its own, and its failed verify's
    follow-up round goes on in the same worktree (it finds what the first round left there);
    `second` comes after it and starts from first's branch; the verifier reads second's
    worktree; the main tree is untouched until `podium merge --plan` merges both in plan order."""
    ws, client = supervised
    commit = "git add -A && git commit -q -m"
    path = write_plan(ws, f'''
title = "writers in worktrees"
[defaults]
agent = "shell"
worktrees = true  # shell writers too
[[task]]
id = "first"
goal = "write c.txt (the second round finishes it)"
command = "if [ -e round1 ]; then rm round1; printf 'gamma\\\\n' > c.txt; {commit} 'c.txt'; else touch round1; fi"
verify = "test -e c.txt"
[[task]]
id = "second"
goal = "write d.txt beside c.txt"
after = ["first"]
command = "test -e c.txt && printf 'delta\\\\n' > d.txt && {commit} 'd.txt'"
[[task]]
id = "check"
role = "verifier"
goal = "both files are there"
after = ["second"]
command = "test -e c.txt && test -e d.txt && pwd > {ws}/.podium/check-ran-in"
''')
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    by_id = {t["id"]: t for t in plan["tasks"]}
    assert {k: t["state"] for k, t in by_id.items()} == {"first": "superseded", "first-fix1": "done", "second": "done", "check": "done"}, plan
    first_tree = Path(by_id["first"]["cwd"])
    assert by_id["first"]["worktree"] == by_id["first-fix1"]["worktree"] == "first" and by_id["first-fix1"]["cwd"] == str(first_tree)
    assert first_tree.parent == ws.parent / ".podium-worktrees" / ws.name and (first_tree / "c.txt").exists()
    second_tree = Path(by_id["second"]["cwd"])
    assert by_id["second"]["worktree"] == "second" and second_tree != first_tree
    assert (ws / ".podium/check-ran-in").read_text().strip() == str(second_tree), "the verifier did not read the writer's worktree"
    assert "on branch podium/second (from podium/first)" in (ws / ".podium/tasks/second/envelope.md").read_text()
    envelope = (ws / ".podium/tasks/first/envelope.md").read_text()
    assert "WHERE YOU WORK:" in envelope and "on branch podium/first" in envelope and "Commit your work" in envelope
    assert not (ws / "c.txt").exists() and not (ws / "d.txt").exists(), "a plan's writer changed the main working tree"
    ls = {w["name"]: w for w in await client.request("ls")}
    assert ls["first-fix1"]["worktree"]["branch"] == "podium/first", "a follow-up round's worker is not shown with its worktree"
    assert "Its writers' branches, podium/first, podium/second: `podium merge --plan`" in (ws / ".podium/plan-summary.md").read_text()
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "merge", "--plan")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.index("first merged into main") < r.stdout.index("second merged into main"), r.stdout
    assert (ws / "c.txt").read_text() == "gamma\n" and (ws / "d.txt").read_text() == "delta\n"
    assert sh(ws, "git", "status", "--porcelain") == ""


async def test_a_plan_outside_a_repository_writes_in_place_and_one_whose_worktree_was_removed_stops_its_round(supervised, repo, tmp_path):
    """A shell writer (the default `worktrees = "agents"`) works in the plan's directory; a follow-up round
    whose worktree the person discarded meanwhile does not start somewhere else: it fails,
    saying why."""
    ws, client = supervised
    path = write_plan(ws, '''
title = "in place"
[defaults]
agent = "shell"  # (a shell writer, by default, writes in place)
[[task]]
id = "here"
goal = "write e.txt"
command = "printf 'eps\\\\n' > e.txt"
''')
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert plan["tasks"][0]["state"] == "done" and not plan["tasks"][0]["worktree"] and (ws / "e.txt").exists()
    gate = tmp_path / "gate"
    path = write_plan(ws, f'''
title = "discarded"
[defaults]
agent = "shell"
worktrees = true  # shell writers too
[[task]]
id = "gone"
goal = "a round that waits"
command = "touch mark; while [ ! -e {gate} ]; do sleep 0.05; done"
verify = "false"
''')
    await client.request("plan_run", path=str(path))

    async def running():
        plan = await client.request("plan_show")
        return plan["tasks"][0] if plan["tasks"][0]["state"] == "running" and plan["tasks"][0].get("cwd") else None

    task = await eventually(running, what="gone running in its worktree")
    tree = Path(task["cwd"])
    await eventually(lambda: (tree / "mark").exists(), what="the worker in its worktree")
    shutil.rmtree(tree)  # the person removes it by hand while it works
    gate.touch()
    plan = await complete(client)
    by_id = {t["id"]: t for t in plan["tasks"]}
    assert by_id["gone-fix1"]["state"] == "failed" and "was removed" in by_id["gone-fix1"]["reason"], by_id["gone-fix1"]


@pytest.mark.slow
async def test_a_conflict_in_the_queue_is_sent_back_to_a_real_codex_which_rebases_and_the_queue_finishes(supervised, repo, tmp_path):
    """A codex exec writer changes a.txt; the same line changes on main meanwhile. The queue
    stops at it and sends the conflict back: codex is resumed in its own conversation with
    the rebase prompt (branch, target, file), rebases and resolves, and the queue run again
    merges it."""
    import os

    from fake_model import FakeModel, message, shell_call
    from test_plan_agents import agent_env, codex_prompt

    ws, client = supervised
    asked: list[str] = []
    resolve = "git rebase main >/dev/null 2>&1 || { printf 'alpha from both\\n' > a.txt && git add a.txt && GIT_EDITOR=true git rebase --continue; }"

    def model(body):
        text = codex_prompt(body)
        answered = any(i.get("type") == "function_call_output" for i in body.get("input") or [] if isinstance(i, dict))
        if "no longer merges cleanly" in text and not asked:
            asked.append(text)
            return [shell_call(resolve)]
        if answered:
            return [message("COMPLETED: done\n\nStatus: Done\n")]
        return [shell_call("printf 'alpha from codex\\n' > a.txt && git commit -qam 'codex edits a.txt'")]

    with FakeModel(codex_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("worktree_spawn", name="cx", argv=["codex", "exec", "-s", "danger-full-access", "edit a.txt"], env=env)
        assert (await done(client, "cx"))["state"] == "done"
        (ws / "a.txt").write_text("alpha from main\n")
        sh(ws, "git", "commit", "-qam", "main edits a.txt")
        out = await client.request("merge_queue", names=["cx"], send_back=True, env=env)  # (the CLI sends its own environment)
        assert out["merged"] == [] and out["stopped"]["conflicts"] == ["a.txt"] and out["stopped"]["sent_back"] == "", out
        await eventually(lambda: asked, what="codex asked to rebase")
        assert (await done(client, "cx"))["state"] == "done"
    (prompt,) = asked
    assert "podium/cx" in prompt and "Rebase onto main" in prompt and "conflicts in a.txt" in prompt, prompt
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "merge", "cx")
    assert r.returncode == 0 and "podium/cx merged into main" in r.stdout, r.stdout + r.stderr
    assert (ws / "a.txt").read_text() == "alpha from both\n" and sh(ws, "git", "status", "--porcelain") == ""


async def test_a_repository_with_submodules_gets_them_in_the_worktree_and_discard_counts_their_work(supervised, repo, tmp_path):
    """git leaves a new worktree's submodules empty: podium checks them out; one it cannot
    check out is named in the spawn's note (the worker starts anyway); a discard counts what
    only a submodule holds (an uncommitted change, a commit no remote has) and asks first."""
    ws, client = supervised
    lib = tmp_path / "lib"
    lib.mkdir()
    sh(lib, "git", "init", "-q", "-b", "main")
    (lib / "x.txt").write_text("x\n")
    sh(lib, "git", "add", "x.txt")
    sh(lib, "git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "lib")
    sh(ws, "git", "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    sh(ws, "git", "commit", "-q", "-m", "with lib")
    out = await client.request("worktree_spawn", name="sub", argv=["sh", "-c", "cd lib && echo y > y.txt && git -c user.email=t@example.com -c user.name=t commit -q --allow-empty -m mine && echo 'COMPLETED: ok'"])
    where = Path(out["worktree"]["path"])
    assert (where / "lib/x.txt").read_text() == "x\n" and not out["note"], out
    await done(client, "sub")
    with pytest.raises(RequestFailed) as refused:
        await client.request("worktree_discard", name="sub")
    said = str(refused.value)
    assert "uncommitted change(s) in submodule lib" in said and "1 commit(s) in submodule lib that none of its remote branches has" in said, said
    assert (where / "lib/y.txt").exists(), "the refused discard touched the worktree"
    await client.request("worktree_discard", name="sub", force=True)
    assert not where.exists()
    shutil.rmtree(lib)  # its URL now leads nowhere: the next worktree cannot check it out
    out = await client.request("worktree_spawn", name="sub2", argv=["true"])
    assert "its submodules (lib) are not checked out in the worktree" in out["note"] and "git submodule update --init --recursive" in out["note"], out
    assert out["worker"]["name"] == "sub2" and (await done(client, "sub2"))["state"] == "done"


async def test_m_on_a_writer_merges_it_and_then_offers_to_remove_its_worktree(supervised, repo):
    """The dashboard's m: checked, asked, merged; then asked whether to remove the worktree
    and branch (y removes them). A second writer's m, answered no at the offer, keeps them."""
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.tui.screens import ConfirmScreen

    ws, client = supervised
    one = await client.request("worktree_spawn", name="one", argv=writer("a.txt", "alpha via m", "a.txt via m"))
    two = await client.request("worktree_spawn", name="two", argv=writer("b.txt", "beta via m", "b.txt via m"))
    await done(client, "one")
    await done(client, "two")
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(140, 36)) as pilot:
        await eventually(lambda: {"one", "two"} <= set(app.dashboard.panes), pilot=pilot, what="the writers on the dashboard")
        for key, name, keep in (("1", "one", False), ("2", "two", True)):
            await pilot.press(key, "m")
            await eventually(lambda: isinstance(app.screen, ConfirmScreen) and "Merge podium/" in app.screen.question, pilot=pilot, what=f"the merge question for {name}")
            assert f"podium/{name} (1 commit(s)) into main" in app.screen.question
            await pilot.press("y")
            await eventually(lambda: isinstance(app.screen, ConfirmScreen) and "Remove the worktree" in app.screen.question, pilot=pilot, what="the offer to remove it")
            await pilot.press("n" if keep else "y")
            await eventually(lambda: not isinstance(app.screen, ConfirmScreen), pilot=pilot, what="the question answered")
        await eventually(lambda: not Path(one["worktree"]["path"]).exists(), pilot=pilot, what="one's worktree removed")
        from podium.widgets.worker_list import WorkerList

        listed = app.dashboard.query_one(WorkerList)
        await eventually(lambda: str(listed.get_cell("two", "worker")).endswith("two ⎇✓"), pilot=pilot, what="two marked merged in the list", show=lambda: str(listed.get_cell("two", "worker")))
        assert str(listed.get_cell("one", "worker")) == "one", "a removed worktree is still marked"
    assert (ws / "a.txt").read_text() == "alpha via m\n" and (ws / "b.txt").read_text() == "beta via m\n"
    branches = sh(ws, "git", "branch")
    assert "podium/one" not in branches and "podium/two" in branches and Path(two["worktree"]["path"]).exists()


async def test_m_on_the_plan_screen_merges_the_plans_writers_in_plan_order(supervised, repo):
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.tui.plan_screen import PlanScreen
    from podium.tui.screens import ConfirmScreen

    ws, client = supervised
    commit = "git add -A && git commit -q -m"
    path = write_plan(ws, f'''
title = "two writers"
[defaults]
agent = "shell"
worktrees = true  # shell writers too
[[task]]
id = "left"
goal = "f.txt"
command = "printf 'f\\\\n' > f.txt && {commit} f"
[[task]]
id = "right"
goal = "g.txt"
command = "printf 'g\\\\n' > g.txt && {commit} g"
''')
    await client.request("plan_run", path=str(path))
    await complete(client)
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(140, 40)) as pilot:
        await eventually(lambda: app.link.plan.get("state") == "complete", pilot=pilot, what="the plan seen")
        await pilot.press("P")
        await eventually(lambda: isinstance(app.screen, PlanScreen), pilot=pilot, what="the plan screen")
        await pilot.press("m")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot, what="the queue's question")
        assert "Merge left (1 commit(s)), right (1 commit(s)) into main, in this order?" in app.screen.question, app.screen.question
        await pilot.press("y")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen) and "Remove the worktree and branch of left, right" in app.screen.question, pilot=pilot, what="the offer to remove them")
        await pilot.press("y")
        await eventually(lambda: "podium/" not in sh(ws, "git", "branch"), pilot=pilot, what="both branches removed")
    assert (ws / "f.txt").exists() and (ws / "g.txt").exists()
    log = sh(ws, "git", "log", "--first-parent", "--format=%B", "-2")  # newest first
    assert log.index("Merged from podium/right") < log.index("Merged from podium/left"), log


async def test_a_plan_writer_whose_branch_is_taken_gets_the_next_free_name(supervised, repo):
    """A branch podium/solo left from before (its .podium/ gone): the plan's writer does not
    fail on it, it writes on podium/solo-2, and the old branch is left as it was."""
    ws, client = supervised
    sh(ws, "git", "branch", "podium/solo")
    old = sh(ws, "git", "rev-parse", "podium/solo")
    path = write_plan(ws, '''
title = "taken"
[defaults]
agent = "shell"
worktrees = true  # shell writers too
[[task]]
id = "solo"
goal = "h.txt"
command = "printf 'h\\\\n' > h.txt && git add h.txt && git commit -qm h"
''')
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    (task,) = plan["tasks"]
    assert task["state"] == "done" and task["worktree"] == "solo-2" and task["cwd"].endswith("/solo-2"), task
    assert sh(ws, "git", "rev-parse", "podium/solo") == old and "h.txt" in sh(ws, "git", "show", "--stat", "podium/solo-2")


@pytest.mark.slow
async def test_the_demo_plan_writes_in_worktrees_and_merges_into_the_demo_repository(supervised):
    """The demo's workspace is a repository with the importer's bug: its plan's two
    implementers write and commit in worktrees of their own (the fix round in the same
    one), main is untouched until the plan's merge queue merges both."""
    from podium.sessions.demo.plan import write_demo_plan
    from podium.sessions.demo.repo import make_demo_repository

    ws, client = supervised
    assert make_demo_repository(ws)
    write_demo_plan(ws / ".podium")
    await client.request("plan_run", path=str(ws / ".podium/plan.toml"))
    plan = await complete(client)
    by_id = {t["id"]: t for t in plan["tasks"]}
    assert by_id["fix-rows-fix1"]["state"] == "done" and by_id["fix-rows-fix1"]["worktree"] == "fix-rows" and by_id["test-rows"]["worktree"] == "test-rows", plan
    assert by_id["verify"]["cwd"] == by_id["fix-rows"]["cwd"] and not by_id["scout"]["worktree"] and by_id["scout"]["cwd"] == str(ws)
    assert "[:-1]" in (ws / "importer/rows.py").read_text()
    told = (ws / ".podium/tasks/verify/envelope.md").read_text()
    assert "The worktree of fix-rows" in told and "Other writers' branches before you, not in it: podium/test-rows" in told, told
    out = await client.request("merge_queue", names=["fix-rows", "test-rows"])
    assert [m["name"] for m in out["merged"]] == ["fix-rows", "test-rows"] and out["stopped"] is None, out
    assert "splitlines()" in (ws / "importer/rows.py").read_text() and "test_last_row_without_newline" in (ws / "tests/test_read.py").read_text()
    assert sh(ws, "git", "status", "--porcelain") == ""


async def test_a_plan_in_a_subdirectory_runs_its_writer_in_the_same_subdirectory_of_its_worktree(supervised, repo):
    ws, client = supervised
    (ws / "pkg").mkdir()
    (ws / "pkg/keep.txt").write_text("k\n")
    sh(ws, "git", "add", "-A")
    sh(ws, "git", "commit", "-q", "-m", "pkg")
    path = write_plan(ws, '''
title = "in pkg"
[defaults]
agent = "shell"
worktrees = true  # shell writers too
cwd = "pkg"
[[task]]
id = "deep"
goal = "write in pkg"
command = "test -e keep.txt && printf 'i\\\\n' > i.txt && git add i.txt && git commit -qm i"
''')
    await client.request("plan_run", path=str(path))
    (task,) = (await complete(client))["tasks"]
    assert task["state"] == "done" and task["cwd"].endswith("/deep/pkg"), task
    assert "pkg/i.txt" in sh(ws, "git", "show", "--stat", "--format=", "podium/deep")


async def test_merging_and_discarding_never_lose_what_came_after_or_half_merge(supervised, repo):
    """A commit made on a branch after it merged is asked about before a discard; a merge a
    repository's hook refuses is undone (no half merge left in the main tree); a squashed
    branch is not offered again until it has something new."""
    ws, client = supervised
    out = await client.request("worktree_spawn", name="w", argv=writer("a.txt", "first", "first"))
    await done(client, "w")
    tree = Path(out["worktree"]["path"])
    hook = ws / ".git/hooks/commit-msg"
    hook.write_text("#!/bin/sh\necho 'refused by the commit-msg hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(RequestFailed, match="failed and was undone, nothing merged"):
        await client.request("worktree_merge", name="w")
    assert sh(ws, "git", "status", "--porcelain") == "" and not (ws / ".git/MERGE_HEAD").exists() and (ws / "a.txt").read_text() == "alpha\n"
    hook.unlink()
    merged = await client.request("worktree_merge", name="w", how="squash")
    assert merged["merged"]["how"] == "squash" and (ws / "a.txt").read_text() == "first\n"
    again = await client.request("merge_queue", names=["w"])
    assert again["merged"] == [] and again["passed"][0]["name"] == "w", again  # squashed: nothing new
    sh(tree, "sh", "-c", "printf 'after\\n' > a.txt && git commit -qam after")  # work after the merge
    with pytest.raises(RequestFailed, match="1 commit\\(s\\) on podium/w that no other branch has"):
        await client.request("worktree_discard", name="w")
    assert tree.exists() and "podium/w" in sh(ws, "git", "branch")


async def test_a_worktree_someone_still_works_in_is_neither_merged_nor_removed(supervised, repo, tmp_path):
    ws, client = supervised
    gate = tmp_path / "gate"
    out = await client.request("worktree_spawn", name="w", argv=["sh", "-c", f"printf 'x\\n' > a.txt && git commit -qam x; while [ ! -e {gate} ]; do sleep 0.05; done"])
    tree = out["worktree"]["path"]
    await eventually(lambda: _committed(client, "w"), what="w's commit")
    await client.request("spawn", name="reader", argv=["sleep", "600"], cwd=tree)
    with pytest.raises(RequestFailed, match="w, reader still work\\(s\\) in .*nothing was merged"):
        await client.request("worktree_merge", name="w")
    gate.touch()
    await done(client, "w")
    with pytest.raises(RequestFailed, match="reader still work\\(s\\) in .*nothing was removed"):
        await client.request("worktree_discard", name="w", force=True)
    check = await client.request("merge_queue", names=["w"], check=True)
    assert check["stopped"]["busy"] == ["reader"] and check["clean"] == [], check
    await client.request("kill", worker="reader", grace=0.5)
    await done(client, "reader")
    assert (await client.request("worktree_merge", name="w"))["merged"]["into"] == "main"


async def test_the_plans_queue_takes_done_writers_and_a_retry_after_merge_and_removal_starts_afresh(supervised, repo):
    """`podium merge --plan` merges the writer that is done and leaves the failed one out;
    once the merged worktree is removed, a retry of that writer starts in a fresh worktree
    from what it merged into (not a failure about work that is gone: it is in main)."""
    from podium.sessions.task_places import plan_writers

    ws, client = supervised
    path = write_plan(ws, '''
title = "one fails"
[defaults]
agent = "shell"
worktrees = true
[[task]]
id = "solo"
goal = "j.txt"
command = "if [ -e j.txt ]; then echo again > k.txt; git add k.txt; git commit -qm k; else printf 'j\\\\n' > j.txt && git add j.txt && git commit -qm j; fi"
[[task]]
id = "broken"
goal = "fails"
command = "printf 'half\\\\n' > half.txt && git add half.txt && git commit -qm half && exit 3"
''')
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert {t["id"]: t["state"] for t in plan["tasks"]} == {"solo": "done", "broken": "failed"} and plan_writers(plan) == ["solo"], plan
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "merge", "--plan")
    assert r.returncode == 0 and "solo merged into main" in r.stdout and "broken" not in r.stdout, r.stdout + r.stderr
    assert (ws / "j.txt").exists() and not (ws / "half.txt").exists()
    await client.request("worktree_discard", name="solo")
    again = await client.request("merge_queue", names=["solo"])  # merged and removed: passed over, not an error
    assert again["passed"] == [{"name": "solo", "why": "merged, and its worktree removed"}], again
    await client.request("task_retry", task="solo")
    plan = await complete(client)
    solo = {t["id"]: t for t in plan["tasks"]}["solo"]
    assert solo["state"] == "done" and Path(solo["cwd"]).exists(), solo
    assert "k.txt" in sh(ws, "git", "show", "--stat", "--format=", f"podium/{solo['worktree']}"), "the retry did not start from what solo merged into"


async def test_what_a_writer_leaves_uncommitted_is_committed_when_it_finishes_or_when_the_person_merges(supervised, repo):
    """A sandboxed agent may not be able to commit (codex's workspace-write keeps .git
    read-only): a plan writer's leftovers are committed when it finishes; a person's own
    writer's are committed at merge only with --commit (asked), never silently."""
    ws, client = supervised
    path = write_plan(ws, '''
title = "leaves it"
[defaults]
agent = "shell"
worktrees = true
[[task]]
id = "loose"
goal = "write u.txt"
command = "printf 'u\\\\n' > u.txt"
''')
    await client.request("plan_run", path=str(path))
    (task,) = (await complete(client))["tasks"]
    assert task["state"] == "done"
    log = sh(ws, "git", "log", "--format=%B", "-1", "podium/loose")
    assert "loose: write u.txt" in log and "committed by podium" in log and "u.txt" in sh(ws, "git", "show", "--stat", "--format=", "podium/loose")
    out = await client.request("worktree_spawn", name="mine", argv=["sh", "-c", "printf 'v\\n' > v.txt"])
    await done(client, "mine")
    with pytest.raises(RequestFailed, match="1 uncommitted change\\(s\\) that a merge would leave behind"):
        await client.request("worktree_merge", name="mine")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "merge", "mine", "--commit")
    assert r.returncode == 0 and "podium/mine merged into main" in r.stdout, r.stdout + r.stderr
    assert (ws / "v.txt").read_text() == "v\n" and Path(out["worktree"]["path"]).exists()


async def test_a_writer_whose_worktree_could_not_be_made_does_not_run_in_place_on_retry(supervised, repo):
    ws, client = supervised
    path = write_plan(ws, '''
title = "bad base"
[defaults]
agent = "shell"
worktrees = true
worktree_base = "no-such-branch"
[[task]]
id = "w"
goal = "x"
command = "pwd > where.txt"
''')
    await client.request("plan_run", path=str(path))
    (task,) = (await complete(client))["tasks"]
    assert task["state"] == "failed" and "base 'no-such-branch' does not exist" in task["reason"], task
    await client.request("task_retry", task="w")
    (task,) = (await complete(client))["tasks"]
    assert task["state"] == "failed" and "no-such-branch" in task["reason"] and not (ws / "where.txt").exists(), task
