# SPDX-License-Identifier: Apache-2.0
"""Attacks on esmpid by users it admits, each performed for real against
real daemons and shown refused (and audited where the design says so):
issue 14 of the adversarial review.

- connection lifetime: a rekey push that closes a connection mid-walk,
  connections closed by the timer while their events wait in the batch;
- local denial of service: one user holding every slot, a client that
  pipelines requests and never reads, frames parked half-sent, running
  out of file descriptors, sessions that never finish key establishment;
- key establishment bound to the job's owner: shares, root shares and
  sessions of another user;
- smaller holes: files read for an admin with root's rights, policy
  files others may write, forged audit lines, long project names.

Run under the ASan+UBSan daemon too (scripts/test.sh): the daemons
fixture fails a test whose daemon printed a sanitizer report.
"""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import esmpi_it as it

POLICY_TWO_USERS = it.POLICY_ROOT.replace("[root]", "[root, nobody]")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_serves(d):
    """The daemon is alive and does a key exchange."""
    assert d.alive(), d.log()[-2000:]
    r = it.keyx(d.sock, d.sock, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------ connection lifetime

def test_rotate_pushes_past_a_session_that_cannot_read(daemon):
    """A keyed session whose peer shut its read side makes the rekey push
    fail and close it in the middle of the walk over all sessions. The
    daemon survives and every other session still gets its rekey (the
    walk once read the next pointer from freed memory: a crash, or the
    sessions after it silently skipped)."""
    socks = [it.keyed_session(daemon.sock, os.urandom(16)) for _ in range(5)]
    socks[2].shutdown(socket.SHUT_RD)
    r = daemon.ctl("rotate", "--all")
    assert r.returncode == 0, r.stderr
    assert "rekey pushed to 4 ranks" in r.stdout, r.stdout
    for i, s in enumerate(socks):
        if i != 2:
            assert it.read_reply_raw(s)[0] == it.REP_REKEY, i
    ev = daemon.wait_audit("session_close", pred=lambda e: e.get(
        "ESMPI_REASON") == "write error")
    assert len(ev) == 1, ev
    assert_serves(daemon)
    for s in socks:
        s.close()


def test_timer_closes_connections_whose_events_are_queued(daemons,
                                                          write_policy):
    """Connections the handshake timer closes while their own events wait
    in the same epoll batch: the daemon is stopped, the timer becomes
    due, then each connection sends 2 bytes, the deadline passes, and the
    daemon resumes to a batch of [timer, conn, conn, ...]. Closing must
    not free what the rest of the batch still points to."""
    d = daemons("d", policy=write_policy(it.POLICY_ROOT),
                extra=["--hello-timeout", "2"])
    socks = [it.connect(d.sock) for _ in range(40)]
    it.wait_for(lambda: d.status()["clients"] == 40, what="40 clients")
    time.sleep(0.5)
    d.signal(signal.SIGSTOP)
    try:
        time.sleep(1.5)         # the timer is due first
        for s in socks:
            s.sendall(b"\x00\x00")
        time.sleep(2.0)         # past every connection's deadline
    finally:
        d.signal(signal.SIGCONT)
    for s in socks:
        assert it.wait_eof(s), "connection not closed at its deadline"
    evs = d.wait_audit("protocol_error", count=40, pred=lambda e:
                       "sent no Hello" in e["MESSAGE"])
    assert len(evs) == 40, evs
    assert d.status()["clients"] == 0
    assert_serves(d)
    for s in socks:
        s.close()


# ------------------------------------------------ local denial of service

def test_one_user_cannot_take_every_slot(daemons, write_policy):
    """With 20 client slots one user holds at most 15 (three quarters);
    the sixteenth is told why, and another user's job still starts."""
    d = daemons("d", policy=write_policy(POLICY_TWO_USERS), max_clients=20)
    hog = [it.connect(d.sock) for _ in range(15)]
    it.wait_for(lambda: d.status()["clients"] == 15, what="15 clients")
    s = it.connect(d.sock)
    code, msg = it.read_error(s)
    assert code == it.ERR_BUSY, (code, msg)
    assert "uid 0 already has 15 connections" in msg, msg
    r = it.keyx(*[d.sock] * 5, prefix=it.AS_NOBODY, timeout=30)
    assert r.returncode == 0, r.stdout
    for x in hog + [s]:
        x.close()


def test_session_that_never_finishes_key_establishment(daemons,
                                                       write_policy):
    """A slot held after Hello without finishing key establishment is
    closed at --keyx-timeout, with an Error that says so."""
    d = daemons("d", policy=write_policy(it.POLICY_ROOT),
                extra=["--keyx-timeout", "2"])
    s = it.connect(d.sock)
    assert it.open_session(s, os.urandom(16))[0] == it.REP_HELLO
    it.key_share(s)
    code, msg = it.read_error(s, timeout=6)
    assert "not finished within 2 s" in msg, msg
    assert it.wait_eof(s)
    d.wait_audit("session_close", pred=lambda e: e.get(
        "ESMPI_REASON") == "key establishment timeout")
    s.close()


def test_pipelined_requests_never_read(daemons, write_policy):
    """A client that sends requests without reading a reply: once its
    unread replies pass a bound the daemon stops serving it (and reading
    from it) until it reads, so the daemon neither grows nor spins, and
    other jobs start as usual."""
    d = daemons("d", policy=write_policy(it.POLICY_ROOT))
    base = rss_kib(d.pid)
    s = it.connect(d.sock)
    assert it.open_session(s, os.urandom(16))[0] == it.REP_HELLO
    audit = it.frame(it.request(15, it.f_bytes(1, "rekey") +
                                it.f_bytes(5, "x")))
    burst = audit * 4096
    stop = threading.Event()
    sent = [0]

    def flood():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                s.sendall(burst)
                sent[0] += 4096
            except (socket.timeout, OSError):
                pass

    t = threading.Thread(target=flood)
    t.start()
    try:
        time.sleep(2.0)
        grown = rss_kib(d.pid) - base
        t0 = time.monotonic()
        r = it.keyx(d.sock, d.sock, timeout=30)
        took = time.monotonic() - t0
    finally:
        stop.set()
        t.join(10)
    assert r.returncode == 0, r.stdout
    # Liveness, not speed: a key exchange takes milliseconds; a daemon
    # copying its whole reply queue on every append took minutes.
    assert took < 10, took
    assert grown < 32 * 1024, f"esmpid grew by {grown} KiB"
    # The flood was held back, not served: replies stop at the bound.
    assert sent[0] < 2_000_000, sent[0]
    s.close()


def test_half_sent_frames_are_bounded_per_user(daemons, write_policy):
    """Connections that each park most of an 8 MiB frame: one user's
    buffered request bytes are bounded (64 MiB), past that its
    connections are refused with a reason, the daemon stays small and
    another user's job starts."""
    d = daemons("d", policy=write_policy(POLICY_TWO_USERS))
    base = rss_kib(d.pid)
    chunk = b"\x00" * (7 << 20)
    hdr = (8 << 20).to_bytes(4, "big")
    socks, refused = [], 0
    for _ in range(14):
        s = it.connect(d.sock, timeout=10)
        socks.append(s)
        try:
            s.sendall(hdr + chunk)
        except OSError:
            refused += 1
    time.sleep(0.5)
    msgs = []
    for s in socks:
        s.settimeout(0.5)
        try:
            code, msg = it.read_error(s, timeout=0.5)
            msgs.append(msg)
        except (socket.timeout, OSError, AssertionError):
            pass
    assert any("request bytes in flight for uid 0" in m for m in msgs), msgs
    # 64 MiB for the user's buffers, with room for the allocator
    grown = rss_kib(d.pid) - base
    assert grown < 100 * 1024, f"esmpid grew by {grown} KiB"

    r = it.keyx(d.sock, d.sock, prefix=it.AS_NOBODY, timeout=30)
    assert r.returncode == 0, r.stdout
    for s in socks:
        s.close()


def test_out_of_file_descriptors(daemons, write_policy, workdir):
    """At its descriptor limit the daemon refuses new connections with a
    reason (and does not spin on the one it cannot accept); once some
    close it serves again."""
    d = daemons("d", policy=write_policy(it.POLICY_ROOT), start=False)
    d.cmd_prefix = ["prlimit", "--nofile=40"]
    d.start()
    socks = []
    busy = None
    for _ in range(60):
        s = it.connect(d.sock)
        socks.append(s)
        s.settimeout(0.3)
        try:
            hdr = s.recv(4)
        except socket.timeout:
            continue
        if hdr:
            n = int.from_bytes(hdr, "big")
            body = it.parse(it.recv_exact(s, n))
            busy = body
            break
    assert busy is not None, "no refusal at the descriptor limit"
    err = it.parse(busy[21][0])
    assert b"out of file descriptors" in err[2][0], err
    t0 = sum(int(x) for x in open(f"/proc/{d.pid}/stat").read().split()[13:15])
    time.sleep(1.0)
    t1 = sum(int(x) for x in open(f"/proc/{d.pid}/stat").read().split()[13:15])
    assert t1 - t0 < 50, f"esmpid spun: {t1 - t0} ticks in 1 s"
    for s in socks:
        s.close()
    it.wait_for(lambda: d.status()["clients"] == 0, what="clients gone")
    assert_serves(d)


# ------------------------------------ key establishment bound to the owner

@pytest.fixture
def two_nodes(workdir, daemons, write_policy):
    """Two daemons enrolled under one CA that admit root and nobody."""
    pol = write_policy(POLICY_TWO_USERS)
    assert it.ctl(None, "ca", "init", "--dir", workdir / "ca").returncode == 0
    ds = {}
    for name in ("n1", "n2"):
        r = it.ctl(None, "node", "enroll", "--ca", workdir / "ca", "--name",
                   name, "--out", workdir / name)
        assert r.returncode == 0, r.stderr
        ds[name] = daemons("d-" + name, state_dir=workdir / name, policy=pol)
    return ds


def shared_session(path, job, rank, size, nobody=False):
    """A session (as root, or as nobody) after Hello and KeyShare:
    (socket, raw KeyShare)."""
    s = it.connect_as(path) if nobody else it.connect(path)
    assert it.open_session(s, job, rank, size)[0] == it.REP_HELLO
    return s, it.key_share(s)


def test_wrap_refuses_a_share_of_another_user(two_nodes):
    """nobody, on another node, takes a share for rank 1 of root's job;
    root's rank 0 daemon refuses to wrap the job key for it, naming
    both users, and audits it."""
    n1, n2 = two_nodes["n1"], two_nodes["n2"]
    job = os.urandom(16)
    victim, mine = shared_session(n1.sock, job, 0, 2)
    evil, theirs = shared_session(n2.sock, job, 1, 2, nobody=True)
    victim.sendall(it.frame(it.request(it.REQ_WRAP, it.f_bytes(1, mine) +
                                       it.f_bytes(1, theirs))))
    code, msg = it.read_error(victim)
    assert code == it.ERR_DENIED, (code, msg)
    assert "uid 65534 (nobody)" in msg and "uid 0 (root)" in msg, msg
    ev = n1.wait_audit("access_denied")[-1]
    assert ev["ESMPI_UID"] == "0" and ev["ESMPI_OWNER_UID"] == "65534", ev
    assert ev["ESMPI_OWNER_USER"] == "nobody", ev
    assert ev["ESMPI_REASON"] == "share of another user", ev
    for s in (victim, evil):
        s.close()


def test_unwrap_refuses_a_root_share_of_another_user(two_nodes):
    """nobody plays rank 0 of root's job on another node and sends its
    own share as the root share: root's rank 1 daemon refuses it before
    unwrapping anything (a job key chosen by somebody else)."""
    n1, n2 = two_nodes["n1"], two_nodes["n2"]
    job = os.urandom(16)
    evil, root_share = shared_session(n1.sock, job, 0, 2, nobody=True)
    victim, _ = shared_session(n2.sock, job, 1, 2)
    wrapped = it.f_varint(1, 1) + it.f_bytes(2, os.urandom(48))
    victim.sendall(it.frame(it.request(it.REQ_UNWRAP, it.f_bytes(
        1, root_share) + it.f_bytes(2, wrapped))))
    code, msg = it.read_error(victim)
    assert code == it.ERR_DENIED, (code, msg)
    assert "rank 0's key share" in msg and "nobody" in msg, msg
    ev = n2.wait_audit("access_denied")[-1]
    assert ev["ESMPI_OWNER_USER"] == "nobody" and ev["ESMPI_UID"] == "0", ev
    for s in (victim, evil):
        s.close()


def test_one_session_per_rank_and_one_owner_per_job(daemon, write_policy):
    """On one node, a job's sessions belong to one user and each rank has
    one session: nobody cannot join root's job, root cannot open rank 0
    twice; both refusals are audited with both identities."""
    allow = write_policy(POLICY_TWO_USERS, "two.yaml")
    assert daemon.ctl("policy", "load", allow).returncode == 0
    job = os.urandom(16)
    owner = it.connect(daemon.sock)
    assert it.open_session(owner, job, 0, 4)[0] == it.REP_HELLO
    evil = it.connect_as(daemon.sock)
    field, body = it.open_session(evil, job, 1, 4)
    assert field == it.REP_ERROR, field
    assert "belongs to another user" in body[2][0].decode()
    again = it.connect(daemon.sock)
    field, body = it.open_session(again, job, 0, 4)
    assert field == it.REP_ERROR, field
    assert "already has a session" in body[2][0].decode()
    evs = daemon.wait_audit("access_denied", count=2)
    assert {e["ESMPI_REASON"] for e in evs} == {
        "job of another user", "rank already has a session"}, evs
    assert all(e["ESMPI_OWNER_UID"] == "0" for e in evs), evs
    # The owner's other ranks still join.
    other = it.connect(daemon.sock)
    assert it.open_session(other, job, 1, 4)[0] == it.REP_HELLO
    for s in (owner, evil, again, other):
        s.close()


# ----------------------------------------------------------- smaller holes

def test_admin_group_member_cannot_make_the_daemon_read_files(
        daemons, write_policy, workdir):
    """A non-root member of the admin group names /etc/shadow, as the
    policy or as a project file of a policy it sends: the daemon reads
    neither and echoes nothing of either."""
    d = daemons("d", policy=write_policy(it.POLICY_ROOT),
                extra=["--admin-group", "nogroup"])
    s = it.connect_as(d.admin)
    s.sendall(it.frame(it.request(it.REQ_LOAD_POLICY, it.f_bytes(
        1, "/etc/shadow"))))
    code, msg = it.read_error(s)
    assert code == it.ERR_DENIED and "only for root" in msg, (code, msg)
    s.close()
    text = it.POLICY_ROOT + "projects:\n  x: /etc/shadow\n"
    s = it.connect_as(d.admin)
    s.sendall(it.frame(it.request(it.REQ_LOAD_POLICY, it.f_bytes(
        1, str(workdir / "p.yaml")) + it.f_bytes(2, text))))
    code, msg = it.read_error(s)
    assert code == it.ERR_POLICY and "not sent with the request" in msg, msg
    assert "root:" not in msg and "root:" not in d.log()
    s.close()
    # esmpictl itself, as that member, sends what it read and loads.
    good = write_policy(POLICY_TWO_USERS, "g.yaml")
    r = it.ctl(d.admin, "policy", "load", good, prefix=it.AS_NOBODY)
    assert r.returncode == 0, r.stderr
    assert "nobody" in d.show()


@pytest.mark.parametrize("how", ["world-writable", "owned-by-nobody",
                                 "folder-writable"])
def test_policy_files_others_may_write_are_refused(daemons, write_policy,
                                                   workdir, how):
    """Like sshd's StrictModes: a policy file (or a folder above it) that
    somebody other than root may write is refused at start and at SIGHUP,
    and the policy in force stays."""
    sub = workdir / "etc"
    sub.mkdir(mode=0o755)
    good = sub / "policy.yaml"
    good.write_text(it.POLICY_ROOT)
    os.chmod(good, 0o644)
    d = daemons("d", policy=good)

    def spoil():
        if how == "world-writable":
            os.chmod(good, 0o666)
        elif how == "owned-by-nobody":
            os.chown(good, 65534, 65534)
        else:
            os.chmod(sub, 0o777)

    spoil()
    good.write_text(POLICY_TWO_USERS)       # "another user" edits it
    d.signal(signal.SIGHUP)
    ev = d.wait_audit("policy_rejected")[-1]
    assert "refused" in ev["MESSAGE"], ev
    assert "nobody" not in d.show()
    d.stop()
    r = it.run([it.ESMPID, "--state-dir", d.state, "--policy", good,
                "--socket", workdir / "x.sock", "--admin-socket",
                workdir / "y.sock", "--foreground", "--log-stderr"])
    assert r.returncode == 1, r.stderr
    assert "writable by" in r.stderr or "owned by uid 65534" in r.stderr, \
        r.stderr


def test_audit_text_cannot_forge_lines(daemon, write_policy):
    """A rank's report with a newline in its text stays one audit line,
    and a communicator name with fields in it stays one field: nobody's
    report cannot claim uid 0."""
    allow = write_policy(POLICY_TWO_USERS, "two.yaml")
    assert daemon.ctl("policy", "load", allow).returncode == 0
    s = it.connect_as(daemon.sock)
    assert it.open_session(s, os.urandom(16))[0] == it.REP_HELLO
    detail = 'x"\nesmpid: audit ESMPI_EVENT=forged MESSAGE="owned'
    comm = "w ESMPI_UID=0 ESMPI_PID=1"
    s.sendall(it.frame(it.request(15, it.f_bytes(1, "replay_detected") +
                                  it.f_bytes(2, comm) +
                                  it.f_bytes(5, detail))))
    assert it.read_reply(s)[0] == it.REP_OK
    ev = daemon.wait_audit("replay_detected")[-1]
    assert ev["ESMPI_UID"] == "65534" and ev["ESMPI_COMM"] == comm, ev
    assert ev["MESSAGE"].endswith(detail), ev
    assert not daemon.audit("forged"), daemon.log()
    assert not any(ln.startswith("esmpid: audit ESMPI_EVENT=forged")
                   for ln in daemon.log().splitlines())
    s.close()


def test_long_project_name_is_a_clear_error(daemon):
    s = it.connect(daemon.sock)
    field, body = it.open_session(s, os.urandom(16), project="p" * 64)
    assert field == it.REP_ERROR, field
    assert "at most 63" in body[2][0].decode(), body
    s.close()


def test_request_that_decodes_to_much_more_than_its_size(daemon):
    """One 8 MiB frame of 4 million empty key shares: protobuf would build
    ~130 bytes of structure for each 2 bytes of wire (700 MB). Decoding
    has a budget of a few times the frame: the request is refused, the
    daemon stays small and serves the next job."""
    base = rss_kib(daemon.pid)
    n = (8 * 1024 * 1024 - 16) // 2
    s = it.connect(daemon.sock, timeout=60)
    s.sendall(it.frame(it.request(it.REQ_WRAP, b"\x0a\x00" * n)))
    code, msg = it.read_error(s, timeout=60)
    assert code == it.ERR_TOO_LARGE, (code, msg)
    with open(f"/proc/{daemon.pid}/status") as f:
        hwm = [int(x.split()[1]) for x in f if x.startswith("VmHWM:")][0]
    assert hwm - base < 128 * 1024, f"esmpid peaked {hwm - base} KiB higher"
    assert rss_kib(daemon.pid) - base < 64 * 1024
    s.close()
    assert_serves(daemon)


def test_policy_reached_through_another_users_link_is_refused(
        daemons, workdir):
    """A root-owned policy names a project file through a link in a
    folder another user owns: that user could point it anywhere between
    the check and the read, so the policy is refused at start, though the
    link's target is root's and safe."""
    etc = workdir / "etc"
    etc.mkdir(mode=0o755)
    safe = etc / "proj.yaml"
    safe.write_text("version: 1\ndefaults:\n  suite: aes-256-gcm\n")
    alice = workdir / "alice"
    alice.mkdir(mode=0o755)
    (alice / "proj.yaml").symlink_to(safe)
    os.lchown(alice / "proj.yaml", 65534, 65534)
    os.chown(alice, 65534, 65534)
    main = etc / "policy.yaml"
    main.write_text(it.POLICY_ROOT + f"projects:\n  p: {alice}/proj.yaml\n")
    r = it.run([it.ESMPID, "--state-dir", workdir / "st", "--policy", main,
                "--socket", workdir / "x.sock", "--admin-socket",
                workdir / "y.sock", "--foreground", "--log-stderr"])
    assert r.returncode == 1, r.stderr
    assert "owned by uid 65534" in r.stderr, r.stderr


def test_ranks_of_one_job_must_run_one_project(two_nodes, workdir):
    """ESMPI_PROJECT travels in the launch message: a rank moved to
    another project of the node policy (rewritten on its way) gets its
    share refused by rank 0's daemon, and a root share of another
    project by its own, each naming both projects."""
    proj = workdir / "weak.yaml"
    proj.write_text("version: 1\ndefaults:\n  suite: aes-128-gcm\n")
    pol = workdir / "proj-policy.yaml"
    pol.write_text(POLICY_TWO_USERS + f"projects:\n  weak: {proj}\n")
    for d in two_nodes.values():
        assert d.ctl("policy", "load", pol).returncode == 0
    n1, n2 = two_nodes["n1"], two_nodes["n2"]
    job = os.urandom(16)
    root = it.connect(n1.sock)
    assert it.open_session(root, job, 0, 2)[0] == it.REP_HELLO
    mine = it.key_share(root)
    moved = it.connect(n2.sock)
    assert it.open_session(moved, job, 1, 2, project="weak")[0] == \
        it.REP_HELLO
    theirs = it.key_share(moved)
    root.sendall(it.frame(it.request(it.REQ_WRAP, it.f_bytes(1, mine) +
                                     it.f_bytes(1, theirs))))
    code, msg = it.read_error(root)
    assert code == it.ERR_DENIED and "'weak'" in msg, (code, msg)
    ev = n1.wait_audit("access_denied")[-1]
    assert ev["ESMPI_REASON"] == "share of another project", ev
    # The other way: rank 1 runs the main policy, rank 0 was moved.
    job = os.urandom(16)
    w0 = it.connect(n1.sock)
    assert it.open_session(w0, job, 0, 2, project="weak")[0] == \
        it.REP_HELLO
    root_share = it.key_share(w0)
    r1, _ = shared_session(n2.sock, job, 1, 2)
    r1.sendall(it.frame(it.request(it.REQ_UNWRAP, it.f_bytes(
        1, root_share) + it.f_bytes(2, it.f_varint(1, 1) +
                                    it.f_bytes(2, os.urandom(48))))))
    code, msg = it.read_error(r1)
    assert code == it.ERR_DENIED and "'weak'" in msg, (code, msg)
    for s in (root, moved, w0, r1):
        s.close()
