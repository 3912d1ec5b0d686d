"""The supervisor and its holders: workers outlive every podium process."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import eventually, processes_mentioning, screen_text, shows, wait_state

from podium.sessions import protocol
from podium.sessions.blackboard import Blackboard, read_journal, read_toml
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start, start_supervisor

CHATTY = textwrap.dedent(
    """
    import hashlib, os, sys, time, tty
    tty.setraw(1)                      # the transcript must equal these bytes exactly
    name, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
    h = hashlib.sha256()
    i = 0
    while True:                        # until the test creates the stop file
        chunk = b"%s line %06d \\x1b[3%dmcolour\\x1b[0m \\xff raw\\r\\n" % (name.encode(), i, i % 8)
        h.update(chunk)
        os.write(1, chunk)
        i += 1
        if i % 50 == 0:
            if os.path.exists(stop):
                break
            time.sleep(0.005)
    open(out, "w").write(h.hexdigest())
    """
)


def transcript_digest(wdir: Path) -> str:
    from podium.sessions.transcript import segment_paths

    h = hashlib.sha256()
    for p in segment_paths(wdir):
        h.update(p.read_bytes())
    return h.hexdigest()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
async def test_kill9_supervisor_while_8_workers_print(supervised, tmp_path):
    ws, client = supervised
    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    stop = tmp_path / "stop"  # the workers print until it exists
    names = [f"w{i}" for i in range(8)]
    for name in names:
        await client.request("spawn", name=name, argv=[sys.executable, str(script), name, str(stop), str(tmp_path / f"{name}.sum")])
    workers = {w["name"]: w for w in await client.request("ls")}
    await asyncio.sleep(1.0)  # the scenario: the workers print for a while under a live supervisor
    sup_pid = client.info["pid"]
    os.kill(sup_pid, signal.SIGKILL)
    await asyncio.wait_for(client.closed.wait(), 5)
    await asyncio.sleep(0.5)  # the workers keep printing with nobody listening
    for name in names:
        assert alive(workers[name]["pid"]), f"{name} died with the supervisor"
        assert alive(workers[name]["holder_pid"])
    client2, started = await connect_or_start(ws, client="test")
    assert started and client2.info["pid"] != sup_pid
    stop.touch()  # done with them printing: each ends, writing its digest
    try:
        for name in names:
            w = await wait_state(client2, name, ("done", "failed", "lost"), timeout=30)
            assert w["state"] == "done", w
            assert transcript_digest(ws / ".podium/workers" / name) == (tmp_path / f"{name}.sum").read_text()
            # The screen was rebuilt from the transcript and is current.
            snap = await client2.request("screen", worker=name)
            text = "".join(run[0] for run in snap["lines"][str(snap["cursor"][1] - 1)])
            assert text.startswith(f"{name} line ")
        entries, errors = read_journal(ws / ".podium/journal.jsonl")
        assert not errors
        assert any(e["type"] == "state" and e.get("reason") == "reattached to its holder" for e in entries)
    finally:
        stop.touch()
        await client2.request("stop", grace=0.5)
        await client2.close()


async def test_holder_death_loses_only_that_worker(supervised):
    ws, client = supervised
    for name in ("victim", "bystander"):
        await client.request("spawn", name=name, argv=["sleep", "60"])
    workers = {w["name"]: w for w in await client.request("ls")}
    os.kill(workers["victim"]["holder_pid"], signal.SIGKILL)
    victim = await wait_state(client, "victim", ("lost",))
    assert "holder" in victim["reason"] and str(workers["victim"]["holder_pid"]) in victim["reason"]
    bystander = await wait_state(client, "bystander", ("running",))
    assert alive(bystander["pid"])
    meta = lambda: read_toml(ws / ".podium/workers/victim/meta.toml")  # noqa: E731  (written off the event loop)
    await eventually(lambda: meta().get("state") == "lost", timeout=10, what="victim's meta.toml to say lost", show=meta)
    assert meta()["state"] == "lost"


async def test_worker_killed_by_a_signal_says_so(supervised):
    ws, client = supervised
    await client.request("spawn", name="doomed", argv=["sleep", "60"])
    await client.request("spawn", name="other", argv=["sleep", "60"])
    doomed = (await client.request("ls"))[0]
    os.kill(doomed["pid"], signal.SIGKILL)
    w = await wait_state(client, "doomed", ("failed",))
    assert w["reason"] == "killed by SIGKILL" and w["exit_code"] == 137
    assert (await wait_state(client, "other", ("running",)))["state"] == "running"


async def test_reboot_marks_workers_lost_and_keeps_transcripts(supervised):
    ws, client = supervised
    await client.request("spawn", name="longrun", argv=["bash", "-c", "echo before the reboot; sleep 60"])
    transcript = ws / ".podium/workers/longrun/transcript.log"
    # What the new supervisor must show is what reached the transcript before the reboot.
    await eventually(lambda: transcript.exists() and b"before the reboot" in transcript.read_bytes(), what="the line in the transcript")
    w = (await client.request("ls"))[0]
    # A reboot: every podium process and worker is gone at once.
    os.kill(client.info["pid"], signal.SIGKILL)
    os.kill(w["holder_pid"], signal.SIGKILL)
    os.kill(w["pid"], signal.SIGKILL)
    await asyncio.wait_for(client.closed.wait(), 5)
    client2, _ = await connect_or_start(ws, client="test")
    try:
        lost = await wait_state(client2, "longrun", ("lost",))
        assert "holder not found" in lost["reason"]
        snap = await client2.request("screen", worker="longrun")
        assert snap["lines"]["0"][0][0] == "before the reboot"
    finally:
        await client2.request("stop", grace=0.5)
        await client2.close()


async def test_two_clients_see_what_the_other_does(supervised, script):
    ws, client = supervised
    argv = script(
        "trap",
        """
        import signal, sys, time
        signal.signal(signal.SIGINT, lambda *a: (print("got SIGINT", flush=True), sys.exit(9)))
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    await client.request("spawn", name="t", argv=argv)
    other = await SupervisorClient.connect(ws, client="second")
    try:
        await other.request("subscribe", screens=["t"], events=True)
        # Interrupt once its SIGINT handler is in place (it says "ready" after).
        await eventually(lambda: shows(client, "t", "ready"), what="t ready", show=lambda: screen_text(client, "t"))
        await client.request("interrupt", worker="t")
        seen = []
        while True:
            event = await asyncio.wait_for(other.events.get(), 10)
            seen.append(event)
            if event["event"] == "worker" and event["worker"]["state"] in ("done", "failed", "interrupted"):
                break
        # The second client saw the first one's interrupt, the worker's reaction on its
        # screen, and how it ended (it traps SIGINT and exits 9: that is a failure).
        assert {"event": "signal", "worker": "t", "signal": "interrupt", "by": "test"} in seen
        ended = seen[-1]["worker"]
        assert (ended["state"], ended["exit_code"]) == ("failed", 9)
        screens = [e for e in seen if e["event"] == "screen"]
        assert any("got SIGINT" in "".join(r[0] for row in e["lines"].values() for r in row) for e in screens)
    finally:
        await other.close()


async def test_two_supervisors_started_at_once_exactly_one_runs(workspace):
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(start_supervisor(workspace))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(bool(r.get("already_running")) for r in results) == [False, True]
        winner = next(r for r in results if not r.get("already_running"))
        loser = next(r for r in results if r.get("already_running"))
        assert loser["pid"] == winner["pid"]
        # The loser reports, then exits.
        await eventually(
            lambda: processes_mentioning(str(workspace)) == [winner["pid"]], timeout=10,
            what=f"only the winner {winner['pid']} left running", show=lambda: processes_mentioning(str(workspace)),
        )
        assert processes_mentioning(str(workspace)) == [winner["pid"]]
    finally:
        client = await SupervisorClient.connect(workspace)
        await client.request("stop")
        await client.close()


async def test_socket_is_owner_only_and_a_second_uid_is_refused(supervised):
    if os.geteuid() != 0:
        pytest.skip("becoming a second uid (nobody) takes root: run the suite as root for this test")
    ws, client = supervised
    bb = Blackboard(ws)
    assert bb.socket_path.stat().st_mode & 0o777 == 0o600
    assert bb.run_dir.stat().st_mode & 0o777 == 0o700
    # Open the directory and socket to everyone for the test, so that only the
    # SO_PEERCRED check stands between `nobody` and the supervisor.
    private = [bb.run_dir.parent.parent, bb.run_dir.parent, bb.run_dir]
    for d in private:
        os.chmod(d, 0o755)
    os.chmod(bb.socket_path, 0o666)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child becomes nobody and tries
        os.close(r)
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(str(bb.socket_path))
            # The refusal comes at once; sending first could race the close into a reset.
            reply = s.recv(4096)
            os.write(w, reply or b"<closed>")
        except OSError as exc:
            os.write(w, f"<oserror {exc.errno}>".encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        reply = f.read()
    for d in private:
        os.chmod(d, 0o700)
    os.chmod(bb.socket_path, 0o600)
    assert b"permission denied" in reply, reply
    assert b'"ok":true' not in reply


async def test_protocol_mismatch_is_a_clear_error(supervised):
    ws, client = supervised
    reader, writer = await asyncio.open_unix_connection(str(Blackboard(ws).socket_path))
    writer.write(protocol.encode_line({"op": "hello", "id": 0, "version": 999}))
    reply = await asyncio.wait_for(protocol.read_line(reader), 5)
    writer.close()
    assert reply["ok"] is False and "protocol mismatch" in reply["error"] and "999" in reply["error"]


async def test_a_stuck_client_slows_nothing(supervised, tmp_path):
    ws, client = supervised
    # A client that subscribes to a flood's screen and output and then never reads.
    reader, writer = await asyncio.open_unix_connection(str(Blackboard(ws).socket_path))
    writer.write(protocol.encode_line({"op": "hello", "id": 0, "version": protocol.PROTOCOL_VERSION, "client": "stuck"}))
    await client.request("spawn", name="flood", argv=["bash", "-c", "sleep 0.3; seq 1 1500000"])
    writer.write(protocol.encode_line({"op": "subscribe", "id": 1, "screens": ["flood"], "events": True}))
    writer.write(protocol.encode_line({"op": "follow", "id": 2, "worker": "flood"}))
    await writer.drain()
    w = await wait_state(client, "flood", ("done", "failed"), timeout=60)
    assert w["state"] == "done"
    # The supervisor still answers at once, and the flood's screen is current.
    started = time.monotonic()
    snap = await client.request("screen", worker="flood")
    assert time.monotonic() - started < 2
    rows = ["".join(r[0] for r in snap["lines"][str(y)]) for y in range(snap["rows"])]
    assert "1500000" in rows
    assert (ws / ".podium/workers/flood/transcript.log").stat().st_size == sum(len(str(i)) + 2 for i in range(1, 1500001))
    writer.close()


async def test_blackboard_files(supervised):
    ws, client = supervised
    await client.request("spawn", name="bb", argv=["bash", "-c", "echo hi"])
    await wait_state(client, "bb", ("done",))
    session = read_toml(ws / ".podium/session.toml")
    assert session["supervisor_pid"] == client.info["pid"]
    assert session["socket"] == str(Blackboard(ws).socket_path)
    # meta.toml is written off the event loop.
    await eventually(lambda: read_toml(ws / ".podium/workers/bb/meta.toml").get("state") == "done", timeout=10, what="bb's meta.toml to say done")
    meta = read_toml(ws / ".podium/workers/bb/meta.toml")
    assert meta["state"] == "done" and meta["exit_code"] == 0 and meta["command"] == ["bash", "-c", "echo hi"]
    assert meta["runs"][0]["exit_code"] == 0
    assert (ws / ".podium/workers/bb/transcript.log").read_bytes() == b"hi\r\n"
    entries, errors = read_journal(ws / ".podium/journal.jsonl")
    mine = [e for e in entries if e.get("worker") == "bb"]
    assert mine[0]["type"] == "spawn" and mine[0]["command"] == ["bash", "-c", "echo hi"]
    assert (mine[-1]["type"], mine[-1]["state"], mine[-1]["reason"]) == ("state", "done", "exit code 0")
    # No temp files left behind by atomic writes, and the environment is not recorded.
    assert not list((ws / ".podium").rglob("*.tmp"))
    assert "PATH" not in (ws / ".podium/journal.jsonl").read_text()


async def test_unknown_worker_and_duplicate_names(supervised):
    ws, client = supervised
    with pytest.raises(RequestFailed, match="unknown worker 'ghost'"):
        await client.request("interrupt", worker="ghost")
    await client.request("spawn", name="dup", argv=["sleep", "30"])
    with pytest.raises(RequestFailed, match="already exists"):
        await client.request("spawn", name="dup", argv=["sleep", "30"])
    with pytest.raises(RequestFailed, match="bad worker name"):
        await client.request("spawn", name="../evil", argv=["true"])
    w = await client.request("spawn", name="missing", argv=["no-such-binary-xyz"])
    assert w["state"] == "failed" and "command not found" in w["reason"] and w["exit_code"] == 127


async def test_exec_and_write_through_the_supervisor(supervised):
    ws, client = supervised
    r = await client.request("exec", cmd=["python3", "-i", "-q"], yield_time_ms=1500)
    sid = r["session_id"]
    r = await client.request("write", session_id=sid, chars="print(7*6)\n", yield_time_ms=500)
    assert r["session_id"] == sid
    out = [r["output"]]

    async def answered() -> bool:  # the answer may come after that yield: keep reading
        if "42" not in "".join(out):
            out.append((await client.request("write", session_id=sid, chars="", yield_time_ms=100))["output"])
        return "42" in "".join(out)

    await eventually(answered, what="42 from the exec session", show=lambda: "".join(out))
    r = await client.request("write", session_id=sid, chars="\x04", yield_time_ms=5000)
    assert r["exit_code"] == 0
    with pytest.raises(RequestFailed, match="has exited"):
        await client.request("write", session_id=sid, chars="", yield_time_ms=10)
    # The exec session is a worker like any other.
    names = [w["name"] for w in await client.request("ls")]
    assert f"exec-{sid}" in names


async def test_attach_to_nothing_is_a_clear_error(workspace):
    with pytest.raises(NotRunning, match="no supervisor running"):
        await SupervisorClient.connect(workspace)


async def test_workers_under_a_holder_start_with_no_ignored_signals(supervised):
    ws, client = supervised
    r = await client.request("exec", cmd=["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"])
    assert "SigIgn:\t0000000000000000" in r["output"], r
    assert "SigBlk:\t0000000000000000" in r["output"]
