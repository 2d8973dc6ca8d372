# SPDX-License-Identifier: Apache-2.0
"""Key lifecycle while jobs run: rekey by policy limits and on demand
(esmpictl rotate), with every byte checked end to end, epochs advancing on
every rank, and each rekey audited; node key rotation for later jobs."""
import json
import os
import subprocess
import time

import esmpi_it as it

EXAMPLES = it.BUILD / "examples"
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"


def esmpirun(sock, prog, *args, np=2, timeout=120):
    env = dict(os.environ, ESMPI_SOCKET=str(sock))
    return subprocess.Popen([str(ESMPIRUN), "-np", str(np), str(prog),
                             *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def plain(prog, *args, np=2):
    r = subprocess.run(["mpirun", "--allow-run-as-root", "-np", str(np),
                        str(prog), *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def finish(p, timeout=120):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"job failed ({p.returncode}):\n{out}\n{err}"
    return out


def rekeys(d, pred=None):
    return [e for e in d.audit("rekey") if pred is None or pred(e)]


def test_limit_triggered_rekey(daemons, write_policy):
    d = daemons("lim", policy=write_policy(
        "version: 1\naccess: {users: [root]}\n"
        "defaults:\n  rekey: {messages: 50, bytes: 1MiB}\n"))
    for name, args in (("stream", (2000,)), ("modes", ()),
                       ("pingpong", ())):
        prog = EXAMPLES / name
        assert finish(esmpirun(d.sock, prog, *args)) == plain(prog, *args)
    evs = d.wait_audit("rekey", count=40)
    # Both ranks moved their keys forward, many epochs, for a stated reason.
    assert {e["ESMPI_RANK"] for e in evs} == {"0", "1"}
    assert max(int(e["ESMPI_EPOCH"]) for e in evs) >= 20
    assert all(("message limit" in e["MESSAGE"] or
                "byte limit" in e["MESSAGE"]) for e in evs)
    assert all(e.get("ESMPI_SUITE") == "aes-256-gcm" for e in evs)


def test_rotate_during_streaming_job(daemons):
    d = daemons("rot")
    prog = EXAMPLES / "stream"
    p = esmpirun(d.sock, prog, 300000)
    try:
        # Wait until both ranks are keyed and streaming.
        def keyed():
            st = d.status()
            s = [x for x in st["sessions"] if x["state"] == "keyed"]
            return st if len(s) == 2 else None
        it.wait_for(keyed, timeout=30, what="two keyed sessions")
        time.sleep(0.3)
        r = d.ctl("rotate", "--all")
        assert r.returncode == 0, r.stderr
        assert "rekey pushed to 2 ranks" in r.stdout
        # The job keeps running: epochs advance while it streams.
        def advanced():
            st = d.status()
            eps = [x["epoch"] for x in st["sessions"]]
            return st if len(eps) == 2 and min(eps) >= 1 else None
        st = it.wait_for(advanced, timeout=60, what="epoch 1 on both ranks")
        assert all(x["rekeys"] >= 1 for x in st["sessions"])
        r = d.ctl("rotate", "--job", st["sessions"][0]["job"])
        assert r.returncode == 0, r.stderr
    finally:
        out = finish(p, timeout=180)
    assert "stream: 300000 rounds, OK" in out
    assert out == plain(prog, 300000)
    rot = rekeys(d, lambda e: "esmpictl rotate" in e["MESSAGE"])
    assert {e["ESMPI_RANK"] for e in rot} == {"0", "1"}
    assert d.audit("key_rotated")


def test_node_key_rotation_for_later_jobs(daemons):
    d = daemons("node")
    before = (d.state / "node.pem").read_bytes()
    r = d.ctl("rotate", "--node-key")
    assert r.returncode == 0, r.stderr
    after = (d.state / "node.pem").read_bytes()
    assert after != before
    assert oct((d.state / "node.key").stat().st_mode & 0o777) == "0o600"
    # A job after the rotation is keyed with the new identity.
    prog = EXAMPLES / "ring"
    assert "checksum" in finish(esmpirun(d.sock, prog))
    evs = d.wait_audit("key_rotated")
    assert evs[0]["ESMPI_REASON"] == "node-key"


def test_daemon_killed_and_restarted_mid_job(daemons):
    """SIGKILL esmpid while a job streams: the job goes on with the keys
    it holds; a restarted esmpid serves new jobs."""
    d = daemons("kill")
    prog = EXAMPLES / "stream"
    p = esmpirun(d.sock, prog, 200000)
    try:
        it.wait_for(lambda: len([x for x in d.status()["sessions"]
                                 if x["state"] == "keyed"]) == 2,
                    timeout=30, what="two keyed sessions")
        d.proc.kill()
        d.proc.wait(10)
        d.start()
    finally:
        out = finish(p, timeout=180)
    assert "stream: 200000 rounds, OK" in out
    assert "checksum" in finish(esmpirun(d.sock, EXAMPLES / "ring"))
    assert d.wait_audit("session_open", count=4)


def journal(pid):
    """esmpid's events in the journal, of the process pid."""
    it.run(["journalctl", "--flush"], timeout=15)
    r = it.run(["journalctl", "-o", "json", "--no-pager",
                "SYSLOG_IDENTIFIER=esmpid", f"_PID={pid}"], timeout=15)
    return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]


def test_ranks_reconnect_to_restarted_daemon(journald, daemons, write_policy):
    """SIGKILL esmpid mid-job while a tiny message limit keeps rekeying:
    the ranks queue the rekey audits, reconnect to the restarted esmpid
    (backoff), re-register (status lists the job again), deliver what was
    queued, and take rotations: one requested before they were back, and
    one after. Every byte is checked against a plain run."""
    d = daemons("recon", log_stderr=False, policy=write_policy(
        "version: 1\naccess: {users: [root]}\n"
        "defaults:\n  rekey: {messages: 200}\n"))
    prog, rounds = EXAMPLES / "stream", 400000
    p = esmpirun(d.sock, prog, rounds)
    rotated = "requested by esmpictl rotate"

    def sessions(st, state="keyed"):
        return [x for x in st["sessions"] if x["state"] == state]
    try:
        st = it.wait_for(lambda: (lambda s: s if len(sessions(s)) == 2
                                  else None)(d.status()),
                         timeout=30, what="two keyed sessions")
        job = st["sessions"][0]["job"]
        time.sleep(0.5)
        d.proc.kill()
        d.proc.wait(10)
        time.sleep(2.5)     # limit-triggered rekeys, nobody to audit them
        d.start()
        pid = d.pid
        # Before the ranks are back (their backoff is >= 1 s): kept.
        r = d.ctl("rotate", "--job", job)
        assert r.returncode == 0, r.stderr
        st = it.wait_for(lambda: (lambda s: s if len(
            [x for x in sessions(s) if x["job"] == job]) == 2 else None)(
                d.status()), timeout=30, what="the job listed again")

        def rekeys_by_rank(evs, pred):
            by = {}
            for e in evs:
                if e.get("ESMPI_EVENT") == "rekey" and pred(e):
                    by.setdefault(e["ESMPI_RANK"], []).append(e)
            return by

        def got_rotations(n):
            def check():
                by = rekeys_by_rank(journal(pid),
                                    lambda e: rotated in e["MESSAGE"])
                ok = len(by) == 2 and all(len(v) >= n for v in by.values())
                return by if ok else None
            return check
        it.wait_for(got_rotations(1), timeout=30, interval=0.3,
                    what="the pending rotation on both ranks")
        # And one after they are back reaches every rank.
        r = d.ctl("rotate", "--job", job)
        assert r.returncode == 0, r.stderr
        assert "rekey pushed to 2 ranks" in r.stdout, r.stdout
        it.wait_for(got_rotations(2), timeout=30, interval=0.3,
                    what="a second rotation on both ranks")
    finally:
        out = finish(p, timeout=300)
    assert f"stream: {rounds} rounds, OK" in out
    assert out == plain(prog, rounds)
    evs = journal(pid)
    kinds = [e.get("ESMPI_EVENT") for e in evs]
    resumed = [e for e in evs if e.get("ESMPI_EVENT") == "session_open"]
    assert sorted(e["ESMPI_RANK"] for e in resumed) == ["0", "1"], resumed
    assert all(e["ESMPI_REASON"] == "resumed" for e in resumed), resumed
    assert any(e.get("ESMPI_REASON") == "resumed" for e in evs
               if e.get("ESMPI_EVENT") == "key_rotated"), kinds
    # Rekeys made while esmpid was down reached the new one: epochs below
    # the one each rank had when the first rotation arrived.
    limit = rekeys_by_rank(evs, lambda e: "message limit" in e["MESSAGE"])
    first_rot = rekeys_by_rank(evs, lambda e: rotated in e["MESSAGE"])
    for rank in ("0", "1"):
        rot_epoch = min(int(e["ESMPI_EPOCH"]) for e in first_rot[rank])
        assert any(int(e["ESMPI_EPOCH"]) < rot_epoch
                   for e in limit.get(rank, [])), (rank, kinds)
    # Far more rekeys than the queue holds (64) happened while esmpid was
    # away: the overflow is not silent, each rank audits its count.
    dropped = [e for e in evs if e.get("ESMPI_EVENT") == "audit_dropped"]
    assert sorted(e["ESMPI_RANK"] for e in dropped) == ["0", "1"], kinds
    assert all("lost while esmpid was unreachable" in e["MESSAGE"]
               for e in dropped), dropped
