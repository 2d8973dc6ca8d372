# SPDX-License-Identifier: Apache-2.0
"""Key lifecycle while jobs run, across two namespace hosts (nshosts.py:
each host its own esmpid with a node certificate from one CA, rank 0 on
host A, rank 1 on host B, TCP between them):

- rekey by policy limits and on demand (esmpictl rotate on each host), with
  every byte checked end to end, epochs advancing on every rank, and each
  rekey audited by the rank's own host;
- node key rotation: a running job goes on, jobs that start afterwards use
  the new identity;
- esmpid SIGKILLed and restarted mid-job: the job completes, its rank
  re-registers (status lists it again);
- the audit in journald: fields, a job's events found with the journalctl
  filter the README documents, and no job key bytes anywhere.

On one host only: node key rotation by the embedded local CA, and the
reconnect details (queued audits, audit_dropped, pending rotations).
"""
import functools
import json
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager

import pytest

import esmpi_it as it
import nshosts

EXAMPLES = it.BUILD / "examples"
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"
LIMITS = ("version: 1\naccess: {users: [root]}\n"
          "defaults:\n  rekey: {messages: 50, bytes: 1MiB}\n")
ROTATED = "requested by esmpictl rotate"


def esmpirun(sock, prog, *args, np=2, timeout=120):
    env = dict(os.environ, ESMPI_SOCKET=str(sock))
    return subprocess.Popen([str(ESMPIRUN), "-np", str(np), str(prog),
                             *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@functools.lru_cache(maxsize=None)
def plain(prog, *args, np=2):
    """The program's output without esmpi (one host, shared memory)."""
    r = subprocess.run(["mpirun", "--allow-run-as-root", "-np", str(np),
                        str(prog), *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@functools.lru_cache(maxsize=None)
def stream_output(rounds):
    """What examples/stream prints (rank 0) after a correct run of that
    many rounds, computed here instead of by a plain run (the rounds are
    known only at the end, and a plain run takes long on a loaded
    machine): its checksum folds every received byte, sum = sum * 131 +
    byte mod 2^64, and the 1024 bytes of round n depend on n mod 256 only.
    test_limit_triggered_rekey checks it against a plain run."""
    mask = (1 << 64) - 1
    block = []
    for k in range(256):
        v = 0
        for i in range(1024):
            v = (v * 131 + ((k * 31 + i * 7 + 1) & 0xff)) & mask
        block.append(v)
    step, s = pow(131, 1024, 1 << 64), 0
    for n in range(rounds):
        s = (s * step + block[n & 255]) & mask
    return f"stream: {rounds} rounds, OK, checksum {s}\n"


def finish(p, timeout=120):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"job failed ({p.returncode}):\n{out}\n{err}"
    return out


def done(job, hosts, timeout=180):
    """Wait for a cross-host job; its stdout (the job must succeed)."""
    rc, out, err = job.wait(timeout)
    assert rc == 0, f"job failed ({rc}):\n{out}\n{err}{hosts.logs()}"
    return out


def rekeys(d, pred=None):
    return [e for e in d.audit("rekey") if pred is None or pred(e)]


def keyed(d, job=None, state="keyed"):
    """Keyed sessions in d's status (of one job); state="resumed": those
    re-registered after a daemon restart."""
    return [x for x in d.status()["sessions"] if x["state"] == state and
            (job is None or x["job"] == job)]


def wait_keyed(hosts, job=None, timeout=30):
    """Until every host's daemon has its rank keyed; the job id."""
    def ready():
        s = [keyed(d, job) for d in hosts.daemons]
        return s if all(len(x) == 1 for x in s) else None
    s = it.wait_for(ready, timeout=timeout, what="a keyed session per host")
    jobs = {x[0]["job"] for x in s}
    assert len(jobs) == 1, s
    return jobs.pop()


STREAM_RESULT = re.compile(r"^stream: (\d+) rounds, OK, checksum \d+$",
                           re.M)
STREAM_CAP = 100000000


def stream_checked(out):
    """stream's output must be a correct run's (stream_output) of as many
    rounds as it reports, and long enough to have seen the test."""
    m = STREAM_RESULT.search(out)
    assert m, f"stream did not report success:\n{out}"
    rounds = int(m.group(1))
    assert 256 <= rounds < STREAM_CAP, out
    assert out == stream_output(rounds)


@contextmanager
def streaming(hosts):
    """examples/stream across the hosts for the block (yields its job id
    once both ranks are keyed; the job must still run when the block ends),
    then stopped (its stop file) and checked: every byte right, by its own
    check and by the checksum a plain run prints."""
    stop = hosts.work / "stream.stop"
    job = hosts.mpirun([EXAMPLES / "stream", STREAM_CAP, stop],
                       timeout=180)
    try:
        yield wait_keyed(hosts)
        assert job.p.poll() is None, "the job ended before the test was done"
    finally:
        stop.touch()
        out = done(job, hosts)
    stream_checked(out)


@pytest.fixture
def cluster(ns_hosts, workdir):
    """Factory: two namespace hosts with their daemons (policy text)."""
    def make(policy=None, **kw):
        pol = None
        if policy is not None:
            pol = workdir / "policy.yaml"
            pol.write_text(policy)
            os.chmod(pol, 0o644)
        hosts = ns_hosts()
        hosts.start_daemons(policy=pol, **kw)
        return hosts
    return make


# ------------------------------------------------------ across two hosts

def test_limit_triggered_rekey(cluster):
    hosts = cluster(LIMITS)
    for name, args in (("stream", (2000,)), ("modes", ()),
                       ("pingpong", ())):
        prog = EXAMPLES / name
        rc, out, err = hosts.run([prog, *map(str, args)])
        assert rc == 0, f"{name} ({rc}):\n{out}\n{err}{hosts.logs()}"
        assert out == plain(prog, *args)
        if name == "stream":
            assert out == stream_output(*args)
    # Each rank moved its keys forward, many epochs, for a stated reason,
    # and its own host audited it.
    for d, rank in zip(hosts.daemons, ("0", "1")):
        evs = d.wait_audit("rekey", count=20)
        assert {e["ESMPI_RANK"] for e in evs} == {rank}, d.log()
        assert max(int(e["ESMPI_EPOCH"]) for e in evs) >= 20
        assert all(("message limit" in e["MESSAGE"] or
                    "byte limit" in e["MESSAGE"]) for e in evs)
        assert all(e.get("ESMPI_SUITE") == "aes-256-gcm" for e in evs)


def test_rotate_during_streaming_job(cluster):
    """An admin rotates a job's keys on every node while it streams."""
    hosts = cluster()
    with streaming(hosts) as jid:
        time.sleep(0.3)
        for d in hosts.daemons:
            r = d.ctl("rotate", "--job", jid)
            assert r.returncode == 0, r.stderr
            assert "rekey pushed to 1 ranks" in r.stdout, r.stdout
        # The job keeps running: epochs advance on every rank.
        for d in hosts.daemons:
            s = it.wait_for(lambda: [x for x in keyed(d, jid)
                                     if x["epoch"] >= 1] or None,
                            timeout=60, what=f"epoch 1 at {d.dir.name}")
            assert s[0]["rekeys"] >= 1, s
        for d in hosts.daemons:
            r = d.ctl("rotate", "--all")
            assert r.returncode == 0, r.stderr
    for d, rank in zip(hosts.daemons, ("0", "1")):
        rot = rekeys(d, lambda e: ROTATED in e["MESSAGE"])
        assert {e["ESMPI_RANK"] for e in rot} == {rank}, d.log()
        assert d.audit("key_rotated")


def install_identity(ca, name, state, scratch):
    """What an admin does to give a node a new identity: enroll it into a
    scratch directory and copy the files into the node's state directory
    (modes kept). Returns the new certificate's bytes."""
    nshosts.enroll(ca, name, scratch)
    for f in ("node.key", "node.pem", "ca.pem"):
        shutil.copy2(scratch / f, state / f)
    return (state / "node.pem").read_bytes()


def test_node_key_rotation_across_hosts(cluster, workdir):
    """rotate --node-key on host B while a job streams: that job goes on;
    the next job uses B's new identity. Shown both ways: an identity from
    a foreign CA makes the next job fail naming the certificate, one from
    the cluster CA makes it work again."""
    hosts = cluster()
    db = hosts.b.daemon
    before = (db.state / "node.pem").read_bytes()
    ring = EXAMPLES / "ring"
    with streaming(hosts):
        install_identity(nshosts.new_ca(workdir / "ca2"), "hostB",
                         db.state, workdir / "foreign")
        r = db.ctl("rotate", "--node-key")
        assert r.returncode == 0, r.stderr
    ev = db.wait_audit("key_rotated")
    assert ev[0]["ESMPI_REASON"] == "node-key", ev

    rc, out, err = hosts.run(ring)
    assert rc != 0, f"job after rotating to a foreign CA ran:\n{out}\n{err}"
    assert "does not verify against this cluster's CA" in out + err, (
        f"{out}\n{err}{hosts.logs()}")

    after = install_identity(workdir / "ca", "hostB", db.state,
                             workdir / "again")
    assert after != before
    assert oct((db.state / "node.key").stat().st_mode & 0o777) == "0o600"
    r = db.ctl("rotate", "--node-key")
    assert r.returncode == 0, r.stderr
    rc, out, err = hosts.run(ring)
    assert rc == 0, f"{out}\n{err}{hosts.logs()}"
    assert out == plain(ring)
    assert len(db.wait_audit("key_rotated", count=2)) == 2


def test_daemon_killed_and_restarted_mid_job(cluster):
    """SIGKILL host B's esmpid while a job streams: the job goes on with
    the keys it holds, its rank on B re-registers with the restarted esmpid
    (status lists it again, session resumed), the job completes with every
    byte right, and new jobs are served."""
    hosts = cluster()
    db = hosts.b.daemon
    with streaming(hosts) as jid:
        db.proc.kill()
        db.proc.wait(10)
        db.start()
        s = it.wait_for(lambda: keyed(db, jid, "resumed"), timeout=30,
                        what="rank 1 listed again by the restarted esmpid")
        assert s[0]["rank"] == 1, s
        assert keyed(hosts.a.daemon, jid), "rank 0 left host A's esmpid"
    assert db.wait_audit("session_open",
                         pred=lambda e: e.get("ESMPI_REASON") == "resumed")
    rc, out, err = hosts.run(EXAMPLES / "ring")
    assert rc == 0 and "checksum" in out, f"{out}\n{err}{hosts.logs()}"


def journal(*match):
    """esmpid's events in the journal: the filter the README documents,
    `journalctl SYSLOG_IDENTIFIER=esmpid [MATCH...] -o json`."""
    it.run(["journalctl", "--flush"], timeout=15)
    it.run(["journalctl", "--sync"], timeout=15)
    r = it.run(["journalctl", "SYSLOG_IDENTIFIER=esmpid", *match,
                "-o", "json", "--no-pager"], timeout=15)
    return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]


def test_journal_fields_and_no_secrets(journald, cluster):
    """Both hosts' daemons log to journald. A job's events (both hosts:
    session_open, rekey, session_close) come back with the documented
    filter on ESMPI_JOB, and from `esmpictl audit --job`; and the key of a
    job whose key this test may see (the test client's key exchange
    between host A's and host B's daemons, ESMPI_TEST_SHOW_KEY) appears in
    no form in the journal or the logs."""
    hosts = cluster(LIMITS, log_stderr=False)
    da, db = hosts.daemons
    r = it.run([it.TESTCLIENT, "keyx", da.sock, db.sock],
               env=dict(os.environ, ESMPI_TEST_SHOW_KEY="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    key = re.search(r"^KEY ([0-9a-f]{64})$", r.stdout, re.M).group(1)
    assert "OK 2 ranks agree" in r.stdout, r.stdout

    def opened(d):
        return {e["ESMPI_JOB"] for e in journal(f"_PID={d.pid}")
                if e.get("ESMPI_EVENT") == "session_open"}
    keyx_jobs = it.wait_for(lambda: opened(da), timeout=10, interval=0.3,
                            what="the key exchange's session_open")

    rc, out, err = hosts.run([EXAMPLES / "stream", "2000"])
    assert rc == 0, f"{out}\n{err}"
    jobs = it.wait_for(lambda: opened(da) - keyx_jobs, timeout=10,
                       interval=0.3, what="the MPI job's session_open")
    assert len(jobs) == 1, jobs
    jid = jobs.pop()

    def job_events():
        evs = journal(f"ESMPI_JOB={jid}")
        seen = {(e.get("_PID"), e.get("ESMPI_EVENT")) for e in evs}
        want = {(str(d.pid), k) for d in (da, db)
                for k in ("session_open", "rekey", "session_close")}
        return evs if want <= seen else None
    evs = it.wait_for(job_events, timeout=10, interval=0.3,
                      what=f"job {jid}'s events from both hosts")
    assert "esmpid: audit" not in da.log() + db.log()
    # esmpictl audit runs the same filter.
    r = it.ctl(None, "audit", "--job", jid.upper(), "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(ln)["__CURSOR"] for ln in r.stdout.splitlines()] \
        [:len(evs)] == [e["__CURSOR"] for e in evs]
    r = it.ctl(None, "audit", "--job", jid, "--event", "rekey", "--json")
    assert r.returncode == 0, r.stderr
    got = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert {e["ESMPI_EVENT"] for e in got} == {"rekey"}
    assert {e["_PID"] for e in got} == {str(da.pid), str(db.pid)}
    for e in evs:
        assert e["ESMPI_JOB"] == jid
        rank = "0" if e["_PID"] == str(da.pid) else "1"
        if e["ESMPI_EVENT"] in ("session_open", "rekey", "session_close"):
            assert e["ESMPI_RANK"] == rank, e
        if e["ESMPI_EVENT"] == "session_open":
            assert e["ESMPI_UID"] == "0" and e["ESMPI_SIZE"] == "2", e
            assert e["ESMPI_SUITE"] == "aes-256-gcm", e
            assert e["PRIORITY"] == "6", e
        if e["ESMPI_EVENT"] == "rekey":
            assert int(e["ESMPI_EPOCH"]) >= 1, e
            assert "message limit" in e["MESSAGE"] or \
                "byte limit" in e["MESSAGE"], e
    # No key material in any event field (the job id is 32 hex digits), and
    # the exchanged key in no form in the whole journal or either log.
    for e in journal(f"_PID={da.pid}") + journal(f"_PID={db.pid}"):
        for k, v in e.items():
            assert not it.HEX64.search(str(v)), f"{k}={v}"
    raw = bytes.fromhex(key)
    export = subprocess.run(["journalctl", "-o", "export", "--no-pager"],
                            capture_output=True, timeout=30).stdout
    for blob in (export, da.log().encode(), db.log().encode()):
        assert key.encode() not in blob.lower()
        assert raw.hex(":").encode() not in blob.lower()
        assert raw not in blob


# ---------------------------------------------------------- one host only

def test_node_key_rotation_local_ca(daemons):
    """The embedded default (a local CA in the state directory): esmpid
    issues its new identity itself, and a later job is keyed with it."""
    d = daemons("node")
    before = (d.state / "node.pem").read_bytes()
    r = d.ctl("rotate", "--node-key")
    assert r.returncode == 0, r.stderr
    after = (d.state / "node.pem").read_bytes()
    assert after != before
    assert oct((d.state / "node.key").stat().st_mode & 0o777) == "0o600"
    prog = EXAMPLES / "ring"
    assert "checksum" in finish(esmpirun(d.sock, prog))
    evs = d.wait_audit("key_rotated")
    assert evs[0]["ESMPI_REASON"] == "node-key"


def test_ranks_reconnect_to_restarted_daemon(journald, daemons, write_policy):
    """SIGKILL esmpid mid-job while a tiny message limit keeps rekeying:
    the ranks queue the rekey audits, reconnect to the restarted esmpid
    (backoff), re-register (status lists the job again), deliver what was
    queued, and take rotations: one requested before they were back, and
    one after. Every byte is checked against a plain run."""
    d = daemons("recon", log_stderr=False, policy=write_policy(
        "version: 1\naccess: {users: [root]}\n"
        "defaults:\n  rekey: {messages: 200}\n"))
    prog, stop = EXAMPLES / "stream", d.dir / "stream.stop"
    p = esmpirun(d.sock, prog, STREAM_CAP, stop)

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
        # Limit-triggered rekeys, nobody to audit them. The ranks retry
        # 1, 3, 7 s after losing esmpid: restart between the second and
        # the third, so the rotation below is asked while they are away.
        time.sleep(3.5)
        d.start()
        pid = d.pid
        # Before the ranks are back (their backoff is >= 1 s): kept.
        r = d.ctl("rotate", "--job", job)
        assert r.returncode == 0, r.stderr
        st = it.wait_for(lambda: (lambda s: s if len(
            [x for x in sessions(s, "resumed") if x["job"] == job]) == 2
            else None)(d.status()), timeout=30, what="the job listed again")

        def rekeys_by_rank(evs, pred):
            by = {}
            for e in evs:
                if e.get("ESMPI_EVENT") == "rekey" and pred(e):
                    by.setdefault(e["ESMPI_RANK"], []).append(e)
            return by

        def got_rotations(n):
            def check():
                by = rekeys_by_rank(journal(f"_PID={pid}"),
                                    lambda e: ROTATED in e["MESSAGE"])
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
        stop.touch()
        out = finish(p, timeout=300)
    stream_checked(out)
    evs = journal(f"_PID={pid}")
    kinds = [e.get("ESMPI_EVENT") for e in evs]
    resumed = [e for e in evs if e.get("ESMPI_EVENT") == "session_open"]
    assert sorted(e["ESMPI_RANK"] for e in resumed) == ["0", "1"], resumed
    assert all(e["ESMPI_REASON"] == "resumed" for e in resumed), resumed
    assert any(e.get("ESMPI_REASON") == "resumed" for e in evs
               if e.get("ESMPI_EVENT") == "key_rotated"), kinds
    # Rekeys made while esmpid was down reached the new one: epochs below
    # the one each rank had when the first rotation arrived.
    limit = rekeys_by_rank(evs, lambda e: "message limit" in e["MESSAGE"])
    first_rot = rekeys_by_rank(evs, lambda e: ROTATED in e["MESSAGE"])
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
