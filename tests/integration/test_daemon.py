# SPDX-License-Identifier: Apache-2.0
"""Integration tests of esmpid and esmpictl through their real interfaces:
processes, Unix sockets, signals, files, journald.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_daemon.py
(build first; $ESMPI_BUILD selects the build directory).
"""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

import esmpi_it as it

POLICY_ROOT = it.POLICY_ROOT

LOCATION = re.compile(r":\d+:\d+: ")     # file:line:column: message

POLICY_RULES = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-256-gcm
rules:
  - name: halo-exchange
    match: { comm: "halo*", tags: "100-199" }
    suite: chacha20-poly1305
  - name: control-plane
    match: { tags: [7, 9] }
    sign: ecdsa-p256
"""

POLICY_BROKEN = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-512-gcm
"""


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def assert_ok_keyx(r, n):
    assert r.returncode == 0, f"keyx failed ({r.returncode}): {r.stdout}{r.stderr}"
    assert re.match(rf"OK {n} ranks agree on job key [0-9a-f]{{8}}$",
                    r.stdout.strip()), r.stdout


def no_key_material(events):
    for e in events:
        for k, v in e.items():
            assert not it.HEX64.search(str(v)), \
                f"64-hex string (key material?) in audit field {k}={v}"


# ------------------------------------------------ 1. state and key material

def test_first_start_creates_identity_and_restart_keeps_it(daemons):
    d = daemons("d", start=False)
    assert not d.state.exists()
    d.start()
    st = d.state
    for f in ("node.key", "node.pem", "ca.pem", "ca/ca.key", "ca/ca.pem"):
        assert (st / f).is_file(), f"{f} not created"
    assert mode(st / "node.key") == 0o600
    assert mode(st / "ca" / "ca.key") == 0o600
    assert mode(st / "ca") & 0o077 == 0, oct(mode(st / "ca"))
    assert mode(st) & 0o077 == 0, oct(mode(st))
    for f in ("node.pem", "ca.pem", "ca/ca.pem"):
        assert mode(st / f) & 0o022 == 0, f"{f} writable by group/others"
    assert (st / "node.pem").read_text().startswith(
        "-----BEGIN CERTIFICATE-----")
    v = it.run(["openssl", "verify", "-CAfile", st / "ca.pem",
                st / "node.pem"])
    assert v.returncode == 0, v.stdout + v.stderr
    assert "created a local CA" in d.log()
    # READY=1 came with the daemon's own pid
    assert any(f"MAINPID={d.pid}" in m for m in d.notify_msgs), d.notify_msgs
    assert d.sock.exists() and d.admin.exists()
    assert mode(d.sock) == 0o666
    assert mode(d.admin) == 0o600

    cert, key = (st / "node.pem").read_bytes(), (st / "node.key").read_bytes()
    name = d.status()["node"]
    assert it.keyx(d.sock, d.sock).returncode == 0

    # SIGTERM: exit 0, sockets removed
    assert d.stop() == 0
    assert not d.sock.exists() and not d.admin.exists()

    d.errpath.write_text("")
    d.start()
    assert (st / "node.pem").read_bytes() == cert
    assert (st / "node.key").read_bytes() == key
    assert "created a local CA" not in d.log()
    assert d.status()["node"] == name
    assert_ok_keyx(it.keyx(d.sock, d.sock, d.sock), 3)
    assert d.stop() == 0


def test_ca_init_and_enroll_create_missing_parents(workdir):
    # As `install -d`: parents 0755 (whatever the umask lets through is
    # never group- or world-writable), the key directory itself 0700.
    ca = workdir / "a" / "b" / "ca"
    old = os.umask(0)
    try:
        r = it.ctl(None, "ca", "init", "--dir", f"{ca}/")
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    assert mode(workdir / "a") == mode(workdir / "a" / "b") == 0o755
    assert mode(ca) == 0o700 and (ca / "ca.key").is_file()
    out = workdir / "x" / "y" / "n1"
    r = it.ctl(None, "node", "enroll", "--ca", ca, "--name", "n1",
               "--out", out)
    assert r.returncode == 0, r.stderr
    assert mode(out.parent) == 0o755 and mode(out) == 0o700
    # A parent that cannot be made is named in the error.
    (workdir / "file").write_text("")
    r = it.ctl(None, "ca", "init", "--dir", workdir / "file" / "sub" / "ca")
    assert r.returncode != 0
    assert f"cannot create its parent directory {workdir}/file/sub" \
        in r.stderr, r.stderr


# ------------------------------------------------ 2. key file permissions

@pytest.mark.parametrize("bad_mode", [0o644, 0o640], ids=["0644", "0640"])
def test_refuses_node_key_readable_by_others(workdir, daemons, bad_mode):
    ca, node = workdir / "ca", workdir / "node"
    assert it.ctl(None, "ca", "init", "--dir", ca).returncode == 0
    r = it.ctl(None, "node", "enroll", "--ca", ca, "--name", "n1",
               "--out", node)
    assert r.returncode == 0, r.stderr
    key = node / "node.key"
    assert mode(key) == 0o600
    os.chmod(key, bad_mode)
    d = daemons("d", start=False, state_dir=node)
    r = it.run(d.cmd(), timeout=10)
    assert r.returncode == 1, r.stderr
    assert str(key) in r.stderr, r.stderr
    assert f"{bad_mode:04o}" in r.stderr, r.stderr
    assert not d.sock.exists(), "refused daemon left a client socket"
    # the key is not "fixed" behind the admin's back
    assert mode(key) == bad_mode
    # and with the mode fixed it starts
    os.chmod(key, 0o600)
    d.start()
    assert d.status()["node"] == "n1"


# ------------------------------------------------------------ 3. policy

def test_policy_check_good_and_bad(workdir, write_policy):
    good = write_policy(POLICY_RULES, "good.yaml")
    r = it.ctl(None, "policy", "check", good)
    assert r.returncode == 0, r.stderr
    assert "valid policy" in r.stdout and "2 rules" in r.stdout, r.stdout

    bad = write_policy(POLICY_BROKEN, "bad.yaml")
    r = it.ctl(None, "policy", "check", bad)
    assert r.returncode == 1
    assert f"{bad}:4:" in r.stderr and LOCATION.search(r.stderr), r.stderr
    assert "aes-512-gcm" in r.stderr

    syntax = write_policy("version: 1\naccess: { users: [root }\n",
                          "syntax.yaml")
    r = it.ctl(None, "policy", "check", syntax)
    assert r.returncode == 1
    assert re.search(re.escape(str(syntax)) + r":2:\d+: ", r.stderr), r.stderr

    r = it.ctl(None, "policy", "check", workdir / "missing.yaml")
    assert r.returncode == 1
    assert "missing.yaml" in r.stderr


def test_policy_load_show_round_trip(daemon, write_policy):
    before = daemon.show()
    assert "halo-exchange" not in before
    loads = daemon.status()["policy_loads"]

    new = write_policy(POLICY_RULES, "rules.yaml")
    r = daemon.ctl("policy", "load", new)
    assert r.returncode == 0, r.stderr
    assert str(new) in r.stdout

    shown = daemon.show()
    assert f"# source: {new}" in shown
    for s in ("halo-exchange", "control-plane", "halo*", "chacha20-poly1305",
              "ecdsa-p256"):
        assert s in shown, f"{s!r} missing from policy show:\n{shown}"
    assert shown.index("halo-exchange") < shown.index("control-plane")
    st = daemon.status()
    assert st["policy"] == str(new)
    assert st["policy_loads"] == loads + 1
    daemon.wait_audit("policy_loaded", pred=lambda e:
                      e.get("ESMPI_POLICY") == str(new))

    # The canonical YAML parses back to the same policy.
    again = write_policy(shown, "shown.yaml")
    assert it.ctl(None, "policy", "check", again).returncode == 0
    assert daemon.ctl("policy", "load", again).returncode == 0
    assert daemon.show().split("\n", 1)[1].replace(str(again), "X") == \
        shown.split("\n", 1)[1].replace(str(new), "X")

    # The resolved policy reaches clients.
    h = it.hello(daemon.sock)
    assert h.returncode == 0, h.stdout
    assert "rules 2" in h.stdout, h.stdout


def test_policy_bad_load_keeps_old(daemon, write_policy, workdir):
    good = write_policy(POLICY_RULES, "rules.yaml")
    assert daemon.ctl("policy", "load", good).returncode == 0
    before = daemon.show()
    loads = daemon.status()["policy_loads"]

    bad = write_policy(POLICY_BROKEN, "bad.yaml")
    r = daemon.ctl("policy", "load", bad)
    assert r.returncode == 1
    assert LOCATION.search(r.stderr) and str(bad) in r.stderr, r.stderr
    assert daemon.show() == before
    assert daemon.status()["policy_loads"] == loads

    # The daemon validates too (it may get a file the CLI never saw):
    # a raw LoadPolicy naming the broken file is refused with file:line:col.
    with it.connect(daemon.admin) as s:
        s.sendall(it.frame(it.request(it.REQ_LOAD_POLICY,
                                      it.f_bytes(1, str(bad)))))
        code, msg = it.read_error(s)
    assert code == it.ERR_POLICY, (code, msg)
    assert f"{bad}:4:" in msg, msg
    assert daemon.show() == before
    ev = daemon.wait_audit("policy_rejected")[-1]
    assert ev["ESMPI_POLICY"] == str(bad)
    assert daemon.status()["policy_loads"] == loads
    # relative paths are refused (the daemon's cwd means nothing to admins)
    with it.connect(daemon.admin) as s:
        s.sendall(it.frame(it.request(it.REQ_LOAD_POLICY,
                                      it.f_bytes(1, "policy.yaml"))))
        code, msg = it.read_error(s)
    assert "absolute" in msg, msg
    assert daemon.show() == before
    assert daemon.alive()
    assert_ok_keyx(it.keyx(daemon.sock, daemon.sock), 2)


def test_sighup_reloads_changed_file(daemons, write_policy):
    p = write_policy(POLICY_ROOT)
    d = daemons("d", policy=p)
    assert "halo-exchange" not in d.show()
    loads = d.status()["policy_loads"]

    p.write_text(POLICY_RULES)
    d.signal(signal.SIGHUP)
    wait = it.wait_for(lambda: "halo-exchange" in d.show(), 5,
                       what="SIGHUP reload")
    assert wait
    assert d.status()["policy_loads"] == loads + 1
    d.wait_audit("policy_loaded", pred=lambda e: "SIGHUP" in e["MESSAGE"])
    assert "rules 2" in it.hello(d.sock).stdout


def test_sighup_with_broken_file_keeps_old(daemons, write_policy):
    p = write_policy(POLICY_RULES)
    d = daemons("d", policy=p)
    before = d.show()
    loads = d.status()["policy_loads"]

    p.write_text(POLICY_BROKEN)
    d.signal(signal.SIGHUP)
    ev = d.wait_audit("policy_rejected")[-1]
    assert ev["ESMPI_POLICY"] == str(p)
    assert LOCATION.search(ev["MESSAGE"]), ev["MESSAGE"]
    assert int(ev["PRIORITY"]) <= 3
    assert d.alive()
    assert d.show() == before
    assert d.status()["policy_loads"] == loads
    assert_ok_keyx(it.keyx(d.sock, d.sock), 2)

    # and once fixed, SIGHUP takes it again
    p.write_text(POLICY_ROOT)
    d.signal(signal.SIGHUP)
    it.wait_for(lambda: "halo-exchange" not in d.show(), 5,
                what="reload after fix")


# ------------------------------------------------------- 4. access control

def _hello_cmd(sock):
    return it.AS_NOBODY + [it.TESTCLIENT, "hello", sock]


def test_access_denied_for_user_not_in_policy(daemons, write_policy):
    d = daemons("d", policy=write_policy(POLICY_ROOT))
    try:
        r = it.run_refused(_hello_cmd(d.sock))
        assert r.returncode == 1, r.stdout
        assert "access denied" in r.stdout, r.stdout
    finally:
        # The refusal is audited whether or not the reply arrives.
        ev = d.wait_audit("access_denied")[-1]
        assert ev["ESMPI_UID"] == "65534"
        assert ev["ESMPI_SOCKET"] == "client"
        assert_ok_keyx(it.keyx(d.sock, d.sock), 2)
    r = it.run_refused(it.AS_NOBODY + [it.TESTCLIENT, "keyx", d.sock, d.sock])
    assert r.returncode == 1 and "access denied" in r.stdout, r.stdout


def test_access_granted_once_policy_lists_user(daemons, write_policy):
    """Positive control for the test above: the refusal comes from the
    policy, not from file permissions."""
    d = daemons("d", policy=write_policy(POLICY_ROOT))
    allow = write_policy(POLICY_ROOT.replace("[root]", "[root, nobody]"),
                         "allow.yaml")
    assert d.ctl("policy", "load", allow).returncode == 0
    r = it.hello(d.sock, prefix=it.AS_NOBODY, timeout=10)
    assert r.returncode == 0, r.stdout
    assert_ok_keyx(it.keyx(d.sock, d.sock, prefix=it.AS_NOBODY), 2)
    opens = d.audit("session_open")
    assert opens and all(e["ESMPI_UID"] == "65534" for e in opens)


def test_refused_connections_do_not_hold_client_slots(daemons, write_policy):
    """A user the policy refuses must not be able to use up --max-clients:
    refused connections are closed by the daemon."""
    d = daemons("d", policy=write_policy(POLICY_ROOT), max_clients=4)
    procs = []
    try:
        for i in range(4):
            procs.append(subprocess.Popen(
                _hello_cmd(d.sock), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        d.wait_audit("access_denied", count=4)
        time.sleep(1.0)
        still_open = d.status()["clients"]
        r = it.keyx(d.sock, d.sock, timeout=20)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(5)
    assert still_open == 0, (
        f"{still_open} refused connection(s) still count as clients 1 s "
        "after the refusal (daemon/server.c: the denied connection is never "
        "flushed nor closed, and handle_timer() skips closing connections)")
    assert_ok_keyx(r, 2)


def test_admin_socket_refuses_nobody(daemons, write_policy):
    d = daemons("d", policy=write_policy(POLICY_ROOT))
    r = it.ctl(d.admin, "status", prefix=it.AS_NOBODY, timeout=10)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert d.ctl("status").returncode == 0      # root still can
    # Past the file mode: the daemon's own check refuses nobody too.
    os.chmod(d.admin, 0o666)
    try:
        r = it.run_refused(it.AS_NOBODY + [it.ESMPICTL, "--admin-socket",
                                           d.admin, "status"])
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "access denied" in r.stderr, r.stderr
    finally:
        ev = d.wait_audit("access_denied",
                          pred=lambda e: e.get("ESMPI_SOCKET") == "admin")[-1]
        assert ev["ESMPI_UID"] == "65534"
        assert d.ctl("status").returncode == 0


def test_admin_group_lets_members_in(daemons, write_policy):
    d = daemons("d", policy=write_policy(POLICY_ROOT),
                extra=["--admin-group", "nogroup"])
    assert mode(d.admin) == 0o660
    assert os.stat(d.admin).st_gid == 65534
    r = it.ctl(d.admin, "status", "--json", prefix=it.AS_NOBODY)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["admins"] >= 1


# ---------------------------------------------------- 5. malformed frames

def _open_good_session(sock):
    """A well-behaved client: Hello done, kept open across the bad ones."""
    s = it.connect(sock)
    s.sendall(it.frame(it.request(it.REQ_HELLO, it.hello_body(os.urandom(16)))))
    field, body = it.read_reply(s)
    assert field == it.REP_HELLO, field
    return s


def _still_serves(s):
    """The good session continues: KeyShare after Hello is in order."""
    s.sendall(it.frame(it.request(it.REQ_KEY_SHARE)))
    field, body = it.read_reply(s)
    assert field == it.REP_KEY_SHARE, f"good session got reply {field}"
    assert len(body[3][0]) == 65        # uncompressed P-256 point


BAD_FRAMES = {
    # a valid length, a body that is no protobuf at all
    "garbage": it.frame(b"\xff" * 24),
    # 8 MiB + 1: above ESMPI_FRAME_MAX
    "oversized": (8 * 1024 * 1024 + 1).to_bytes(4, "big"),
    # an HTTP request read as a length prefix: ~1.2 GB
    "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    # KeyShare before Hello (08 01 5a 00)
    "out_of_order": it.frame(bytes.fromhex("08015a00")),
    # Goodbye before Hello
    "goodbye_first": it.frame(it.request(it.REQ_GOODBYE)),
    # an admin message (StatusRequest) on the client socket
    "admin_on_client": it.frame(it.request(it.REQ_STATUS)),
    # exactly ESMPI_FRAME_MAX (8 MiB) of bytes that are no protobuf
    "max_size_garbage": it.frame(b"\x00" * (8 * 1024 * 1024)),
    # a zero-length frame: no version, no body
    "empty": it.frame(b""),
    # a second Hello
    "hello_twice": it.frame(it.request(it.REQ_HELLO,
                                       it.hello_body(b"\x01" * 16))) * 2,
    # wrong protocol version in the Request envelope
    "bad_version": it.frame(it.request(it.REQ_HELLO,
                                       it.hello_body(b"\x01" * 16),
                                       version=99)),
}


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_bad_frame_closes_only_that_connection(daemon, kind):
    good = _open_good_session(daemon.sock)
    rejected = daemon.status()["frames_rejected"]
    with it.connect(daemon.sock) as s:
        s.sendall(BAD_FRAMES[kind])
        if kind == "hello_twice":
            field, _ = it.read_reply(s)
            assert field == it.REP_HELLO
        code, msg = it.read_error(s)
        assert code < 0 and msg, (code, msg)
        if kind in ("oversized", "http"):
            assert code == it.ERR_TOO_LARGE, (code, msg)
        if kind in ("out_of_order", "goodbye_first", "admin_on_client",
                    "hello_twice"):
            assert code == it.ERR_PROTOCOL, (code, msg)
        assert "closing connection" in msg, msg
        assert it.wait_eof(s), "daemon kept the bad connection open"
    assert daemon.status()["frames_rejected"] == rejected + 1
    ev = daemon.wait_audit("protocol_error")[-1]
    assert ev["ESMPI_UID"] == "0" and ev.get("ESMPI_REASON")
    _still_serves(good)
    good.close()
    assert daemon.alive()
    assert_ok_keyx(it.keyx(daemon.sock, daemon.sock, daemon.sock), 3)


def test_truncated_frame_counts_and_closes(daemon):
    good = _open_good_session(daemon.sock)
    rejected = daemon.status()["frames_rejected"]
    with it.connect(daemon.sock) as s:
        s.sendall((100).to_bytes(4, "big") + b"\x08\x01" * 5)
        time.sleep(0.1)
    it.wait_for(lambda: daemon.status()["frames_rejected"] == rejected + 1,
                5, what="frames_rejected after a truncated frame")
    daemon.wait_audit("protocol_error",
                      pred=lambda e: "truncated" in e["MESSAGE"])
    # header cut short counts as a truncated frame too
    with it.connect(daemon.sock) as s:
        s.sendall(b"\x00\x00")
    it.wait_for(lambda: daemon.status()["frames_rejected"] == rejected + 2,
                5, what="frames_rejected after a truncated header")
    _still_serves(good)
    good.close()
    assert_ok_keyx(it.keyx(daemon.sock, daemon.sock), 2)


def test_client_message_on_admin_socket(daemon):
    rejected = daemon.status()["frames_rejected"]
    with it.connect(daemon.admin) as s:
        s.sendall(it.frame(it.request(it.REQ_HELLO,
                                      it.hello_body(b"\x02" * 16))))
        code, msg = it.read_error(s)
        assert code == it.ERR_PROTOCOL, (code, msg)
        assert it.wait_eof(s)
    assert daemon.status()["frames_rejected"] == rejected + 1


def test_bad_frame_mid_keyx_of_another_job(daemon):
    """Bad connections while a job's ranks are connected do not disturb it:
    keyx over 8 ranks runs concurrently with a stream of bad frames."""
    keyx = subprocess.Popen(
        [str(it.TESTCLIENT), "keyx"] + [str(daemon.sock)] * 8,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rejected = daemon.status()["frames_rejected"]
        for i in range(20):
            with it.connect(daemon.sock) as s:
                s.sendall(BAD_FRAMES["garbage"])
                it.read_error(s)
        out, err = keyx.communicate(timeout=30)
    finally:
        if keyx.poll() is None:
            keyx.kill()
            keyx.wait(5)
    assert keyx.returncode == 0, out + err
    assert daemon.status()["frames_rejected"] == rejected + 20


# --------------------------------------------------------- 6. many clients

def test_200_concurrent_ranks(daemon):
    r = it.keyx(*[daemon.sock] * 200, timeout=60)
    assert_ok_keyx(r, 200)
    no_key_material(daemon.audit())
    st = daemon.status()
    assert st["clients"] == 0 and st["sessions"] == [], st
    assert len(daemon.audit("session_open")) >= 200


def test_max_clients_refuses_cleanly(daemons, write_policy):
    d = daemons("d", policy=write_policy(POLICY_ROOT), max_clients=50,
                extra=["--max-clients-per-user", "50"])
    r = it.keyx(*[d.sock] * 200, timeout=60)
    assert r.returncode == 1, r.stdout
    m = re.match(r"FAIL rank (\d+) ", r.stdout)
    assert m, r.stdout
    assert int(m.group(1)) >= 50, r.stdout
    # The refused rank is told why, not "access denied"
    assert "esmpid is full: 50 client connections" in r.stdout, r.stdout
    assert "client connection limit (50) reached" in d.log()
    assert d.alive()
    it.wait_for(lambda: d.status()["clients"] == 0, 5,
                what="clients released")
    assert_ok_keyx(it.keyx(*[d.sock] * 50, timeout=60), 50)
    r = it.run([it.ESMPID, "--max-clients", "0", "--state-dir", d.state])
    assert r.returncode == 2 and "--max-clients" in r.stderr


# ------------------------------------------------- 7. two daemons, one CA

@pytest.fixture
def cluster(workdir, daemons, write_policy):
    pol = write_policy(POLICY_ROOT)
    for ca in ("ca", "otherca"):
        r = it.ctl(None, "ca", "init", "--dir", workdir / ca)
        assert r.returncode == 0, r.stderr
    for name, ca in (("n1", "ca"), ("n2", "ca"), ("evil", "otherca")):
        r = it.ctl(None, "node", "enroll", "--ca", workdir / ca, "--name",
                   name, "--out", workdir / name)
        assert r.returncode == 0, r.stderr
        assert mode(workdir / name / "node.key") == 0o600
    ds = {n: daemons("d-" + n, state_dir=workdir / n, policy=pol)
          for n in ("n1", "n2", "evil")}
    for n, d in ds.items():
        assert d.status()["node"] == n
        assert not (d.state / "ca").exists(), "enrolled node made a local CA"
    return ds


def test_keyx_across_two_daemons_same_ca(cluster):
    s1, s2 = cluster["n1"].sock, cluster["n2"].sock
    assert_ok_keyx(it.keyx(s1, s2, s1, s2, s2, s1), 6)
    assert_ok_keyx(it.keyx(s2, s1), 2)
    assert_ok_keyx(it.keyx(*([s1] * 10 + [s2] * 10)), 20)
    for d in (cluster["n1"], cluster["n2"]):
        assert len(d.audit("session_open")) == 14
        no_key_material(d.audit())


@pytest.mark.parametrize("order", ["evil_rank0", "evil_rank1", "evil_last"])
def test_keyx_refuses_node_of_another_ca(cluster, order):
    s1, s2, ev = (cluster[n].sock for n in ("n1", "n2", "evil"))
    socks = {"evil_rank0": [ev, s1, s2], "evil_rank1": [s1, ev, s2],
             "evil_last": [s1, s2, s1, ev]}[order]
    r = it.keyx(*socks)
    assert r.returncode == 1, r.stdout
    assert r.stdout.startswith("FAIL rank "), r.stdout
    assert "does not verify against this cluster's CA" in r.stdout, r.stdout
    # The refusing daemon audits whose share it refused.
    refusing = cluster["evil"] if order == "evil_rank0" else cluster["n1"]
    ev_ = refusing.wait_audit("access_denied",
                              pred=lambda e: "ESMPI_PEER" in e)[-1]
    bad_rank = {"evil_rank0": "1", "evil_rank1": "1", "evil_last": "3"}[order]
    assert ev_["ESMPI_PEER"] == bad_rank, ev_
    for d in cluster.values():
        assert d.alive()
    assert_ok_keyx(it.keyx(s1, s2), 2)


def _session_with_share(sock, job, rank, size):
    """Hello + KeyShare on a raw connection; returns (socket, KeyShare)."""
    s = it.connect(sock)
    s.sendall(it.frame(it.request(it.REQ_HELLO,
                                  it.hello_body(job, rank, size))))
    assert it.read_reply(s)[0] == it.REP_HELLO
    s.sendall(it.frame(it.request(it.REQ_KEY_SHARE)))
    field, share = it.read_reply_raw(s)
    assert field == it.REP_KEY_SHARE, field
    return s, share


@pytest.mark.parametrize("root", ["n2", "evil"])
def test_unwrap_checks_root_share_certificate(cluster, root):
    """A rank's daemon verifies rank 0's share itself: a root share signed
    under another CA is refused before any unwrapping; one from the same
    CA gets as far as the (here bogus) ciphertext."""
    job = os.urandom(16)
    r0, root_share = _session_with_share(cluster[root].sock, job, 0, 2)
    r1, _ = _session_with_share(cluster["n1"].sock, job, 1, 2)
    try:
        wrapped = it.f_varint(1, 1) + it.f_bytes(2, os.urandom(48))
        r1.sendall(it.frame(it.request(
            it.REQ_UNWRAP, it.f_bytes(1, root_share) + it.f_bytes(2, wrapped))))
        code, msg = it.read_error(r1)
    finally:
        r0.close()
        r1.close()
    if root == "evil":
        assert "rank 0 refused" in msg, msg
        assert "does not verify against this cluster's CA" in msg, msg
        ev = cluster["n1"].wait_audit(
            "access_denied", pred=lambda e: e.get("ESMPI_PEER") == "0")[-1]
        assert ev["ESMPI_JOB"] == job.hex() and ev["ESMPI_RANK"] == "1"
    else:
        assert "does not authenticate" in msg, msg
    assert cluster["n1"].alive()


# ------------------------------------------------------ 8. audit in journald

def _journal(pid):
    it.run(["journalctl", "--flush"], timeout=15)
    it.run(["journalctl", "--sync"], timeout=15)
    r = it.run(["journalctl", "-o", "json", "--no-pager",
                "SYSLOG_IDENTIFIER=esmpid", f"_PID={pid}"], timeout=15)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def test_audit_to_journald(journald, daemons, write_policy):
    pol = write_policy(POLICY_ROOT)
    d = daemons("d", policy=pol, log_stderr=False)
    # The test client shows this test the job key, to look for it below.
    r = it.run([it.TESTCLIENT, "keyx", d.sock, d.sock, d.sock],
               env=dict(os.environ, ESMPI_TEST_SHOW_KEY="1"))
    key = re.search(r"^KEY ([0-9a-f]{64})$", r.stdout, re.M).group(1)
    r.stdout = r.stdout.split("KEY ")[0]
    assert_ok_keyx(r, 3)
    try:     # its reply is test_access_denied_*'s business
        it.run(_hello_cmd(d.sock), timeout=3)
    except subprocess.TimeoutExpired:
        pass

    def events():
        evs = _journal(d.pid)
        kinds = [e.get("ESMPI_EVENT") for e in evs]
        if (kinds.count("session_open") >= 3 and
                kinds.count("session_close") >= 3 and
                "access_denied" in kinds and "policy_loaded" in kinds):
            return evs
        return None
    evs = it.wait_for(events, 10, interval=0.3, what="esmpid events in "
                      "the journal")
    # nothing went to stderr as audit lines: journald took them
    assert "esmpid: audit" not in d.log(), d.log()

    by = {}
    for e in evs:
        by.setdefault(e.get("ESMPI_EVENT"), []).append(e)
    loaded = by["policy_loaded"][0]
    assert loaded["ESMPI_POLICY"] == str(pol)
    opens = by["session_open"]
    jobs = {e["ESMPI_JOB"] for e in opens}
    assert len(jobs) == 1, jobs
    job = jobs.pop()
    assert re.fullmatch(r"[0-9a-f]{32}", job)
    assert sorted(e["ESMPI_RANK"] for e in opens) == ["0", "1", "2"]
    for e in opens:
        assert e["ESMPI_UID"] == "0"
        assert e["ESMPI_SUITE"] == "aes-256-gcm"
        assert e["ESMPI_SIZE"] == "3"
        assert e["PRIORITY"] == "6"
    for e in by["session_close"]:
        assert e["ESMPI_JOB"] == job and "ESMPI_RANK" in e
    denied = by["access_denied"][0]
    assert denied["ESMPI_UID"] == "65534"
    assert denied["ESMPI_SOCKET"] == "client"
    assert "ESMPI_JOB" not in denied
    # No job key material: no 64-hex value anywhere (job id is 32 hex),
    # and the job's key bytes in no form in the journal or esmpid's output.
    for e in evs:
        for k, v in e.items():
            assert not it.HEX64.search(str(v)), f"{k}={v}"
    raw = bytes.fromhex(key)
    journal = subprocess.run(["journalctl", "-o", "export", "--no-pager"],
                             capture_output=True, timeout=30).stdout
    for blob in (journal, d.log().encode()):
        assert key.encode() not in blob.lower()
        assert raw.hex(":").encode() not in blob.lower()
        assert raw not in blob
    assert d.stop() == 0


# ---------------------------------------------------- 9. socket activation

def _activate(d, fdnames, listen):
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    cmd = ["systemd-socket-activate"]
    for p in listen:
        cmd += ["-l", str(p)]
    if fdnames:
        cmd.append("--fdname=" + fdnames)
    cmd += d.cmd()
    err = open(d.errpath, "ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err, env=env)
    err.close()
    d.proc = proc            # exec()s into esmpid: same pid, same cleanup
    it.wait_for(lambda: all(Path(p).exists() for p in listen) or
                proc.poll() is not None, 10, what="activation sockets")
    assert proc.poll() is None, d.log()
    return proc


def test_socket_activation_client_and_admin(daemons, write_policy):
    d = daemons("d", start=False, policy=write_policy(POLICY_ROOT))
    act_c, act_a = d.dir / "act-c.sock", d.dir / "act-a.sock"
    _activate(d, "client:admin", [act_c, act_a])
    # The first connection starts esmpid; it serves on the passed sockets.
    assert_ok_keyx(it.keyx(act_c, act_c), 2)
    r = it.ctl(act_a, "status", "--json")
    assert r.returncode == 0, r.stderr + d.log()
    st = json.loads(r.stdout)
    assert st["policy"] == str(d.policy)
    assert not d.sock.exists() and not d.admin.exists(), \
        "esmpid bound its own sockets despite socket activation"
    ev = d.wait_audit("policy_loaded")[-1]
    assert "(socket activation)" in ev["MESSAGE"]
    assert d.stop() == 0


def test_socket_activation_client_only(daemons, write_policy):
    d = daemons("d", start=False, policy=write_policy(POLICY_ROOT))
    act_c = d.dir / "act-c.sock"
    _activate(d, None, [act_c])
    assert_ok_keyx(it.keyx(act_c, act_c, act_c), 3)
    it.wait_for(lambda: d.admin.exists(), 5, what="admin socket")
    assert not d.sock.exists()
    assert d.status()["frames_rejected"] == 0
    assert d.stop() == 0


# -------------------------------------------------------- 10. exit codes

def test_exit_codes(workdir, write_policy):
    r = it.ctl(None, "frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = it.ctl(None)
    assert r.returncode == 2
    r = it.ctl(None, "--bogus", "status")
    assert r.returncode == 2
    r = it.ctl(None, "policy")
    assert r.returncode == 2
    r = it.ctl(None, "ca", "init")
    assert r.returncode == 2
    r = it.ctl(workdir / "nodaemon.sock", "status")
    assert r.returncode == 3, r.stderr
    assert "nodaemon.sock" in r.stderr
    r = it.ctl(workdir / "nodaemon.sock", "policy", "show")
    assert r.returncode == 3
    r = it.ctl(None, "--help")
    assert r.returncode == 0 and "usage" in r.stdout

    bad = write_policy(POLICY_BROKEN, "bad.yaml")
    state = workdir / "state"
    r = it.run([it.ESMPID, "--state-dir", state, "--policy", bad,
                "--socket", workdir / "c.sock", "--admin-socket",
                workdir / "a.sock", "--foreground", "--log-stderr"])
    assert r.returncode == 1, r.stderr
    assert f"{bad}:4:" in r.stderr and LOCATION.search(r.stderr), r.stderr
    assert not (workdir / "c.sock").exists()
    r = it.run([it.ESMPID, "--state-dir", state, "--policy",
                workdir / "nope.yaml", "--socket", workdir / "c.sock",
                "--admin-socket", workdir / "a.sock", "--foreground"])
    assert r.returncode == 1 and "nope.yaml" in r.stderr, r.stderr
    r = it.run([it.ESMPID, "--no-such-option"])
    assert r.returncode == 2
    r = it.run([it.ESMPID, "--state-dir", state, "extra-arg"])
    assert r.returncode == 2
    r = it.run([it.ESMPID, "--admin-group", "no-such-group-xyz",
                "--state-dir", state])
    assert r.returncode == 2


# ----------------------------------------------- 11. ranks that come back

REP_REKEY = 14
REQ_CERTIFY = 16


def _p256_point():
    """The public point (65 bytes, uncompressed) of a fresh P-256 key."""
    key = subprocess.run(["openssl", "ecparam", "-genkey", "-name",
                          "prime256v1"], capture_output=True, check=True,
                         timeout=10).stdout
    der = subprocess.run(["openssl", "ec", "-pubout", "-conv_form",
                          "uncompressed", "-outform", "DER"], input=key,
                         capture_output=True, check=True, timeout=10).stdout
    assert der[-65] == 4, der.hex()
    return der[-65:]


def _resume(sock_path, job, rank, epoch):
    """A rank re-registering after a restart: Hello with resume."""
    s = it.connect(sock_path)
    body = (it.hello_body(job, rank=rank, size=2) + it.f_varint(7, 1) +
            it.f_varint(8, epoch))
    s.sendall(it.frame(it.request(it.REQ_HELLO, body)))
    rep = it.read_reply(s)
    assert rep is not None and rep[0] == it.REP_HELLO, rep
    return s


def test_resume_session_and_pending_rotation(daemon):
    """A resumed session is listed as resumed with its epoch and reached
    by rotate; a rotation of its job issued while it was away is pushed
    right after its HelloReply; other jobs' ranks get nothing. Nothing
    proves it did key establishment, so it gets no rank certificate."""
    job, other = bytes(range(16)), bytes(range(1, 17))
    r = daemon.ctl("rotate", "--job", job.hex())
    assert r.returncode == 0 and "pushed to 0 ranks" in r.stdout, r
    s0 = _resume(daemon.sock, job, 0, 7)
    assert it.read_reply_raw(s0)[0] == REP_REKEY
    s9 = _resume(daemon.sock, other, 1, 0)
    s9.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s9.recv(1)
    st = daemon.status()
    mine = [x for x in st["sessions"] if x["job"] == job.hex()]
    assert len(mine) == 1 and mine[0]["state"] == "resumed", st
    assert mine[0]["epoch"] == 7, st
    r = daemon.ctl("rotate", "--job", job.hex())
    assert "rekey pushed to 1 ranks" in r.stdout, r
    assert it.read_reply_raw(s0)[0] == REP_REKEY
    evs = daemon.wait_audit("session_open", count=2)
    assert {e["ESMPI_REASON"] for e in evs} == {"resumed"}, evs
    pend = daemon.wait_audit("key_rotated", pred=lambda e: e.get(
        "ESMPI_REASON") == "resumed")
    assert pend[0]["ESMPI_JOB"] == job.hex(), pend
    # A resumed session has its keys: a key exchange is out of order.
    s0.sendall(it.frame(it.request(it.REQ_KEY_SHARE)))
    it.read_error(s0)
    # A made-up (job, rank) resumed with the requester's own key gets no
    # node-signed rank certificate.
    s1 = _resume(daemon.sock, bytes(range(2, 18)), 1, 0)
    s1.sendall(it.frame(it.request(REQ_CERTIFY, it.f_bytes(
        1, _p256_point()))))
    code, msg = it.read_error(s1)
    assert code == it.ERR_PROTOCOL, (code, msg)
    assert it.wait_eof(s1)
    for s in (s0, s1, s9):
        s.close()
