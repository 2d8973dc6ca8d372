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
