# SPDX-License-Identifier: Apache-2.0
"""A network adversary between two hosts: namespaces A - R - B, where R is a
user-space L2 bridge (tamper_bridge.py) that flips one byte in Open MPI's
TCP BTL segments and fixes the TCP checksum, so the kernel delivers the
altered stream as if it were genuine.

- plain Open MPI: the application receives the altered bytes silently (its
  own content checks catch them; MPI itself does not);
- with esmpi: the receiving rank refuses the record, names source,
  destination, communicator and tag, delivers nothing, and its host's
  esmpid audits an integrity_failure;
- control: the same esmpi job through the bridge without tampering passes.
"""
import os
import re
import signal
import subprocess
import tempfile
import shutil
import time
from pathlib import Path

import pytest

import esmpi_it as it

HERE = Path(__file__).resolve().parent
BRIDGE = HERE / "tamper_bridge.py"
PINGPONG = it.BUILD / "examples" / "pingpong"
RING = it.BUILD / "examples" / "ring"
LIB = it.BUILD / "libclient" / "libesmpi.so"
NET = "198.18.0.0/24"
IP_A, IP_B = "198.18.0.1", "198.18.0.2"
# Open MPI's TCP BTL listens here (pinned on the mpirun command line); the
# hosts' ephemeral ports stay below, so OOB traffic never falls in range.
BTL_PORT_MIN, BTL_PORT_RANGE = 50000, 100
JOB_TIMEOUT = 25
PYTHON = "/usr/bin/python3"
OFFLOADS = ["tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx",
            "off"]

INTEGRITY = re.compile(
    r"integrity failure: message from rank (\d+) \(world (\d+)\) to rank "
    r"(\d+) \(world (\d+)\) on communicator '([^']*)' tag (-?\d+) refused "
    r"\([^)]*\); no data delivered")


def sh(*cmd, timeout=it.CMD_TIMEOUT, check=True):
    r = it.run(cmd, timeout=timeout)
    if check:
        assert r.returncode == 0, (f"{' '.join(map(str, cmd))} failed "
                                   f"({r.returncode}): {r.stderr}")
    return r


# ------------------------------------------------------------- namespaces

class Triangle:
    """Namespaces A, R, B: vethA (A) <-> r1 (R), r2 (R) <-> vethB (B)."""

    def __init__(self):
        pid = os.getpid()
        self.a, self.r, self.b = (f"esmpi-t{pid}-{x}" for x in "arb")
        self.made = []

    def setup(self):
        for ns in (self.a, self.r, self.b):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        for ns, dev, port in ((self.a, "vethA", "r1"),
                              (self.b, "vethB", "r2")):
            sh("ip", "link", "add", "name", dev, "netns", ns, "type", "veth",
               "peer", "name", port, "netns", self.r)
        for ns, dev, ip in ((self.a, "vethA", IP_A), (self.b, "vethB", IP_B)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, *OFFLOADS)
            # No ephemeral port (OOB, BTL connect side) inside the range.
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
               f"net.ipv4.ip_local_port_range=32768 {BTL_PORT_MIN - 1}")
        for port in ("r1", "r2"):
            sh("ip", "-n", self.r, "link", "set", port, "up", "promisc", "on")
            sh("ip", "netns", "exec", self.r, "ethtool", "-K", port,
               *OFFLOADS)

    def teardown(self):
        # Everything inside our namespaces (bridge, daemons, orted, ranks)
        # was started by this test: end it, then drop the namespaces (and
        # with them the veth pairs).
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


class NsDaemon(it.Daemon):
    """An esmpid inside a network namespace (path-bound Unix sockets)."""

    def __init__(self, root, name, ns, **kw):
        super().__init__(root, name, **kw)
        self.ns = ns

    def cmd(self):
        return ["ip", "netns", "exec", self.ns] + super().cmd()


class Bridge:
    """tamper_bridge.py in namespace R."""

    def __init__(self, net, log, *args):
        self.log = log
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", net.r, PYTHON, str(BRIDGE),
             "--ports", "r1,r2", "--log", str(log)] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 10
        while "ready" not in self.text():
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("tamper bridge did not start: "
                                     f"{self.p.stderr.read().decode()}")
            time.sleep(0.05)

    def text(self):
        try:
            return self.log.read_text()
        except FileNotFoundError:
            return ""

    def rewrites(self):
        return [ln for ln in self.text().splitlines()
                if ln.startswith("rewrite ")]

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self.p.stderr.close()


class Setup:
    def __init__(self, net, work, da, db, agent, prog):
        self.net, self.work, self.da, self.db = net, work, da, db
        self.agent, self.prog = agent, prog
        self.bridges = []

    def bridge(self, name, *args):
        b = Bridge(self.net, self.work / f"bridge-{name}.log", *args)
        self.bridges.append(b)
        return b

    def mpirun(self, preload, prog=None, timeout=JOB_TIMEOUT):
        """mpirun in A (rank 0), rank 1 in B via the agent. Returns (rc,
        out, err); rc is None when the job hung and was killed."""
        cmd = ["ip", "netns", "exec", self.net.a,
               "mpirun", "--allow-run-as-root",
               "--mca", "plm_rsh_agent", self.agent,
               "--host", f"{IP_A},{IP_B}", "-np", "2", "--bind-to", "none",
               "--mca", "btl", "tcp,self",
               "--mca", "btl_tcp_if_include", NET,
               "--mca", "oob_tcp_if_include", NET,
               "--mca", "btl_tcp_port_min_v4", str(BTL_PORT_MIN),
               "--mca", "btl_tcp_port_range_v4", str(BTL_PORT_RANGE)]
        if preload:
            cmd += ["-x", f"LD_PRELOAD={LIB}"]
        cmd += [prog or self.prog]
        env = dict(os.environ, ESMPI_SOCKET=str(self.da.sock))
        env.pop("LD_PRELOAD", None)
        p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
            return p.returncode, out, err
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate(timeout=10)
            return None, out, err


def build(work, src, name):
    out = work / name
    r = sh("mpicc", "-O2", "-I", it.REPO / "examples", "-o", out, src,
           timeout=120, check=False)
    if r.returncode != 0:
        pytest.fail(f"cannot build {name}: {r.stderr}", pytrace=False)
    return out


@pytest.fixture
def tri():
    """Namespaces, one CA, a daemon per host, the rsh agent."""
    for tool in ("ethtool", "mpirun"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found", pytrace=False)
    work = Path(tempfile.mkdtemp(prefix="esmpi-tamper-"))
    os.chmod(work, 0o755)
    net = Triangle()
    daemons = []
    st = None
    try:
        net.setup()
        prog = (PINGPONG if os.access(PINGPONG, os.X_OK) else
                build(work, it.REPO / "examples" / "pingpong.c", "pingpong"))
        sh(it.ESMPICTL, "ca", "init", "--dir", work / "ca")
        for h in ("A", "B"):
            sh(it.ESMPICTL, "node", "enroll", "--ca", work / "ca", "--name",
               f"host{h}", "--out", work / f"state-{h}")
        da = NsDaemon(work, "hostA", net.a, state_dir=work / "state-A")
        db = NsDaemon(work, "hostB", net.b, state_dir=work / "state-B")
        daemons += [da, db]
        da.start()
        db.start()
        agent = work / "agent"
        agent.write_text(
            "#!/bin/sh\n"
            "case $1 in\n"
            f"{IP_A}) ns={net.a} ;;\n"
            f"{IP_B}) ns={net.b}; export ESMPI_SOCKET={db.sock} ;;\n"
            '*) echo "agent: unknown host $1" >&2; exit 1 ;;\n'
            "esac\n"
            "shift\n"
            'exec ip netns exec "$ns" sh -c "$*"\n')
        os.chmod(agent, 0o755)
        st = Setup(net, work, da, db, agent, prog)
        yield st
    finally:
        for b in (st.bridges if st else []):
            b.stop()
        for d in daemons:
            d.cleanup()
        net.teardown()
        shutil.rmtree(work, ignore_errors=True)


def tamper_args(every=1):
    return ["--tamper-port-min", str(BTL_PORT_MIN),
            "--tamper-port-max", str(BTL_PORT_MIN + BTL_PORT_RANGE - 1),
            "--min-payload", "1000", "--offset", "600",
            "--every", str(every)]


def report(st, bridge, rc, out, err):
    return (f"rc {rc}\nstdout:\n{out}\nstderr:\n{err}\nbridge log:\n"
            f"{bridge.text()[-3000:]}\ndaemon A:\n{st.da.log()[-3000:]}\n"
            f"daemon B:\n{st.db.log()[-3000:]}")


# ------------------------------------------------------------------ tests

def test_plain_mpi_delivers_tampered_data(tri):
    """Without esmpi, MPI hands the altered bytes to the application."""
    bridge = tri.bridge("plain", *tamper_args())
    rc, out, err = tri.mpirun(preload=False)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    # pingpong checks every byte: "check failed ... byte N wrong", then
    # "pingpong: FAILED ..." and a non-zero exit.
    assert re.search(r"check failed: .*(byte|element) -?\d+ wrong", err), \
        f"plain MPI: no corrupted data reported by the application:\n{why}"
    assert "pingpong: OK" not in out, why


def test_esmpi_refuses_tampered_record(tri):
    """With esmpi, the altered record is refused: no data delivered, the
    job fails naming who/what, and the receiving host audits it."""
    bridge = tri.bridge("enc", *tamper_args())
    rc, out, err = tri.mpirun(preload=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert rc is not None, f"esmpi job hung instead of failing:\n{why}"
    assert rc != 0, f"esmpi job with tampered records succeeded:\n{why}"
    m = INTEGRITY.search(err)
    assert m, f"no esmpi integrity failure message:\n{why}"
    src, src_w, dst, dst_w, comm, tag = m.groups()
    # No corrupted byte reached the application's checks.
    assert "check failed" not in err and "FAILED" not in out, why
    assert "pingpong: OK" not in out, why
    receiver = tri.da if dst_w == "0" else tri.db
    evs = receiver.wait_audit(
        "integrity_failure", timeout=5,
        pred=lambda e: (e.get("ESMPI_PEER") == src_w and
                        e.get("ESMPI_TAG") == tag and
                        e.get("ESMPI_COMM") == comm))
    assert evs[0].get("ESMPI_RANK") == dst_w, evs


def test_esmpi_through_passthrough_bridge(tri):
    """Control: the same job through the bridge, nothing rewritten."""
    bridge = tri.bridge("pass")
    rc, out, err = tri.mpirun(preload=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc == 0, f"esmpi job through the pass-through bridge:\n{why}"
    assert "pingpong: OK" in out, why
    assert not bridge.rewrites(), why
    assert not tri.da.audit("integrity_failure"), why
    assert not tri.db.audit("integrity_failure"), why


def test_marker_rewrite_plain_text_only(tri):
    """Marker mode: the bridge rewrites the first byte of a plain-text
    marker wherever it crosses. Plain MPI delivers the altered text; under
    esmpi the marker never crosses in clear, so nothing is rewritten and
    the job's result is the original."""
    ring = (RING if os.access(RING, os.X_OK) else
            build(tri.work, it.REPO / "examples" / "ring.c", "ring"))
    bridge = tri.bridge("marker-plain", "--marker", "ESMPI-SECRET-MARKER")
    rc, out, err = tri.mpirun(preload=False, prog=ring)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc == 0, why
    assert bridge.rewrites(), why
    assert "last message 'DSMPI-SECRET-MARKER lap 2'" in out, why

    bridge = tri.bridge("marker-enc", "--marker", "ESMPI-SECRET-MARKER")
    rc, out, err = tri.mpirun(preload=True, prog=ring)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc == 0, why
    assert not bridge.rewrites(), why
    assert "last message 'ESMPI-SECRET-MARKER lap 2'" in out, why
