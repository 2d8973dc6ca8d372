# SPDX-License-Identifier: Apache-2.0
"""Two hosts for real: two Linux network namespaces joined by a veth pair,
each running its own esmpid with a node identity from one cluster CA, and an
Open MPI job spanning both (rsh launcher whose agent enters the namespace).

- without esmpi the plaintext marker crosses the veth;
- with esmpi the job gives the same result, nothing readable crosses, and
  both daemons open a session;
- a host enrolled under another CA is refused and the job fails, naming the
  certificate problem.
"""
import os
import shutil
import signal
import subprocess
import time
import zlib

import pytest

import esmpi_it as it

RING = it.BUILD / "examples" / "ring"
LIB = it.BUILD / "libclient" / "libesmpi.so"
MARKER = b"ESMPI-SECRET-MARKER"
NET = "198.18.0.0/24"
IP_A, IP_B = "198.18.0.1", "198.18.0.2"
JOB_TIMEOUT = 60


def sh(*cmd, timeout=it.CMD_TIMEOUT, check=True):
    r = it.run(cmd, timeout=timeout)
    if check:
        assert r.returncode == 0, (f"{' '.join(map(str, cmd))} failed "
                                   f"({r.returncode}): {r.stderr}")
    return r


# ------------------------------------------------------------- namespaces

class NsPair:
    """Namespaces `esmpi-<pid>-a`/`-b`, veth `e<pid>a` <-> `e<pid>b`."""

    def __init__(self):
        pid = os.getpid()
        self.a, self.b = f"esmpi-{pid}-a", f"esmpi-{pid}-b"
        self.va, self.vb = f"e{pid}a", f"e{pid}b"
        self.made = []

    def setup(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        sh("ip", "link", "add", self.va, "type", "veth", "peer", "name",
           self.vb)
        try:
            sh("ip", "link", "set", self.va, "netns", self.a)
            sh("ip", "link", "set", self.vb, "netns", self.b)
        except AssertionError:
            sh("ip", "link", "del", self.va, check=False)
            raise
        for ns, dev, ip in ((self.a, self.va, IP_A), (self.b, self.vb, IP_B)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def teardown(self):
        # Whatever still runs inside our namespaces (orted, ranks, tshark,
        # daemons) was started by this test: end it, then drop the netns
        # (which takes the veth pair with it).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = False
            for ns in self.made:
                r = sh("ip", "netns", "pids", ns, check=False)
                for p in r.stdout.split():
                    left = True
                    try:
                        os.kill(int(p), sig)
                    except (ProcessLookupError, ValueError):
                        pass
            if not left:
                break
            time.sleep(0.5)
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def hosts():
    pair = NsPair()
    try:
        pair.setup()
        yield pair
    finally:
        pair.teardown()


class NsDaemon(it.Daemon):
    """An esmpid running inside a network namespace. Its sockets are
    path-bound Unix sockets on the shared filesystem."""

    def __init__(self, root, name, ns, **kw):
        super().__init__(root, name, **kw)
        self.ns = ns

    def cmd(self):
        return ["ip", "netns", "exec", self.ns] + super().cmd()


# ------------------------------------------------------------------ helpers

def ring_binary(workdir):
    if os.access(RING, os.X_OK):
        return RING
    out = workdir / "ring"
    r = sh("mpicc", "-O2", "-o", out, it.REPO / "examples" / "ring.c",
           timeout=120, check=False)
    if r.returncode != 0:
        pytest.fail(f"cannot build ring: {r.stderr}", pytrace=False)
    return out


def write_agent(workdir, pair, sock_b):
    """rsh agent: `agent HOST CMD...` runs CMD inside HOST's namespace with
    that host's ESMPI_SOCKET (orted and its ranks inherit it)."""
    agent = workdir / "agent"
    agent.write_text(
        "#!/bin/sh\n"
        "case $1 in\n"
        f"{IP_A}) ns={pair.a} ;;\n"
        f"{IP_B}) ns={pair.b}; export ESMPI_SOCKET={sock_b} ;;\n"
        '*) echo "agent: unknown host $1" >&2; exit 1 ;;\n'
        "esac\n"
        "shift\n"
        'exec ip netns exec "$ns" sh -c "$*"\n')
    os.chmod(agent, 0o755)
    return agent


def mpirun(pair, agent, ring, sock_a, preload, timeout=JOB_TIMEOUT):
    """mpirun inside namespace A (host 198.18.0.1, local rank 0; its
    environment carries A's ESMPI_SOCKET), rank 1 on B via the agent."""
    cmd = ["ip", "netns", "exec", pair.a,
           "mpirun", "--allow-run-as-root",
           "--mca", "plm_rsh_agent", agent,
           "--host", f"{IP_A},{IP_B}", "-np", "2", "--bind-to", "none",
           "--mca", "btl", "tcp,self",
           "--mca", "btl_tcp_if_include", NET,
           "--mca", "oob_tcp_if_include", NET]
    if preload:
        cmd += ["-x", f"LD_PRELOAD={LIB}"]
    cmd += ring if isinstance(ring, list) else [ring]
    env = dict(os.environ, ESMPI_SOCKET=str(sock_a))
    env.pop("LD_PRELOAD", None)
    p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        raise AssertionError(f"mpirun did not finish within {timeout}s:\n"
                             f"{out}\n{err}") from None
    return p.returncode, out, err


class Capture:
    """tshark on host B's end of the veth."""

    def __init__(self, pair, path):
        self.path = path
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", pair.b, "tshark", "-i", pair.vb,
             "-f", "tcp", "-w", str(path), "-q"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 20
        buf = b""
        while b"Capturing on" not in buf:
            assert self.p.poll() is None, f"tshark exited: {buf!r}"
            assert time.monotonic() < deadline, f"tshark did not start: " \
                f"{buf!r}"
            buf += os.read(self.p.stderr.fileno(), 4096)

    def stop(self):
        if self.p.poll() is None:
            time.sleep(0.5)
            os.killpg(self.p.pid, signal.SIGINT)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self.p.stderr.close()
        return self.path.read_bytes()


def captured_run(pair, workdir, name, *args, **kw):
    cap = Capture(pair, workdir / f"{name}.pcap")
    try:
        res = mpirun(pair, *args, **kw)
    finally:
        pcap = cap.stop()
    return res, pcap


# -------------------------------------------------------------------- test

def test_two_namespace_hosts(hosts, workdir):
    if not shutil.which("tshark"):
        pytest.fail("tshark not found", pytrace=False)
    ring = ring_binary(workdir)

    ca = workdir / "ca"
    sh(it.ESMPICTL, "ca", "init", "--dir", ca)
    state_a, state_b = workdir / "state-a", workdir / "state-b"
    sh(it.ESMPICTL, "node", "enroll", "--ca", ca, "--name", "hostA",
       "--out", state_a)
    sh(it.ESMPICTL, "node", "enroll", "--ca", ca, "--name", "hostB",
       "--out", state_b)

    da = NsDaemon(workdir, "hostA", hosts.a, state_dir=state_a)
    db = NsDaemon(workdir, "hostB", hosts.b, state_dir=state_b)
    try:
        da.start()
        db.start()
        agent = write_agent(workdir, hosts, db.sock)

        # (1) plain: the marker crosses the veth in clear.
        (rc, plain_out, err), plain_pcap = captured_run(
            hosts, workdir, "plain", agent, ring, da.sock, preload=False)
        assert rc == 0, f"plain job failed ({rc}):\n{plain_out}\n{err}"
        assert "ESMPI-SECRET-MARKER" in plain_out
        assert plain_pcap.count(MARKER) >= 1, \
            "capture on the veth saw no plaintext marker: wrong interface?"

        # (2) encrypted: same result, nothing readable, both daemons used.
        (rc, enc_out, err), enc_pcap = captured_run(
            hosts, workdir, "enc", agent, ring, da.sock, preload=True)
        assert rc == 0, (f"encrypted job failed ({rc}):\n{enc_out}\n{err}\n"
                         f"daemon A:\n{da.log()}\ndaemon B:\n{db.log()}")
        assert enc_out == plain_out
        assert len(enc_pcap) > 4000
        assert enc_pcap.count(MARKER) == 0
        oa = da.wait_audit("session_open")
        ob = db.wait_audit("session_open")
        # Each rank talked to its own host's daemon, in one job.
        assert {e.get("ESMPI_RANK") for e in oa} == {"0"}, da.log()
        assert {e.get("ESMPI_RANK") for e in ob} == {"1"}, db.log()
        assert len({e.get("ESMPI_JOB") for e in oa + ob}) == 1

        # (3) host B re-enrolled under another CA: refused, job fails.
        ca2, state_b2 = workdir / "ca2", workdir / "state-b2"
        sh(it.ESMPICTL, "ca", "init", "--dir", ca2)
        sh(it.ESMPICTL, "node", "enroll", "--ca", ca2, "--name", "hostB",
           "--out", state_b2)
        db.stop()
        db.state = state_b2
        db.start()
        rc, out, err = mpirun(hosts, agent, ring, da.sock, preload=True)
        combined = out + err
        assert rc != 0, f"job with a foreign-CA host succeeded:\n{combined}"
        assert "does not verify against this cluster's CA" in combined, (
            f"job output does not name the certificate problem:\n{combined}"
            f"\ndaemon A:\n{da.log()}\ndaemon B:\n{db.log()}")
        assert MARKER.decode() not in out
    finally:
        da.cleanup()
        db.cleanup()


def tcp_payload(pcap_path):
    """All TCP payload bytes of a capture, in order."""
    r = sh("tshark", "-r", pcap_path, "-T", "fields", "-e", "tcp.payload",
           timeout=120)
    return b"".join(bytes.fromhex(line.replace(":", ""))
                    for line in r.stdout.split() if line)


def compressibility(data):
    """Compressed size over raw size: ~1.0 for ciphertext."""
    return len(zlib.compress(data, 6)) / max(len(data), 1)


def test_netpipe_unmodified_binary_is_encrypted(hosts, workdir):
    """Debian's NetPIPE binary, unmodified, under LD_PRELOAD across the
    namespace hosts: its messages are plain buffers, highly compressible on
    the wire without esmpi and indistinguishable from random with it."""
    netpipe = shutil.which("NPopenmpi")
    if netpipe is None:
        pytest.fail("NPopenmpi not found (package netpipe-openmpi)",
                    pytrace=False)
    ca = workdir / "ca"
    sh(it.ESMPICTL, "ca", "init", "--dir", ca)
    for name in ("A", "B"):
        sh(it.ESMPICTL, "node", "enroll", "--ca", ca, "--name",
           f"host{name}", "--out", workdir / f"state-{name}")
    da = NsDaemon(workdir, "hostA", hosts.a, state_dir=workdir / "state-A")
    db = NsDaemon(workdir, "hostB", hosts.b, state_dir=workdir / "state-B")
    try:
        da.start()
        db.start()
        agent = write_agent(workdir, hosts, db.sock)
        results = {}
        for name, preload in (("plain", False), ("enc", True)):
            # Fixed repeats, no perturbations: bounded run time.
            prog = [netpipe, "-n", "10", "-p", "0", "-u", "262144", "-o",
                    str(workdir / f"{name}.np")]
            (rc, out, err), _ = captured_run(hosts, workdir, name, agent,
                                             prog, da.sock, preload=preload,
                                             timeout=120)
            assert rc == 0, f"NetPIPE ({name}) failed ({rc}):\n{out}\n{err}"
            payload = tcp_payload(workdir / f"{name}.pcap")
            assert len(payload) > 1 << 20, f"{name}: capture too small"
            results[name] = compressibility(payload)
            lines = (workdir / f"{name}.np").read_text().splitlines()
            assert len(lines) > 15, f"{name}: NetPIPE reported too little"
        assert results["plain"] < 0.5, results
        assert results["enc"] > 0.95, results
        assert db.wait_audit("session_open")
    finally:
        da.cleanup()
        db.cleanup()
