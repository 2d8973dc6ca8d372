# SPDX-License-Identifier: Apache-2.0
"""Namespace hosts: several "hosts" on one machine for the integration tests.

    hosts = Hosts(workdir, n=2)          # or router=True: A - R - B
    hosts.setup()
    hosts.start_daemons(policy=...)      # one CA, one node identity each
    rc, out, err = hosts.mpirun(prog, per_host=1, preload=True)
    with hosts.capture(workdir / "x.pcap") as cap: ...; cap.data
    hosts.teardown()                     # kills what runs inside, drops all

Each host is a network namespace `esmpi-<pid>-<seq>-<letter>` with an
address 198.18.0.<i> on device `veth<LETTER>` (created inside it, so
parallel test processes never collide), its own esmpid under a node
certificate from one cluster CA, and an rsh agent through which Open MPI
starts orted there. Every MPI process on a host (mpirun on host A, orted and
ranks elsewhere) runs in its own UTS namespace named after the host: Open
MPI names its shared-memory segments after the host name, so two "hosts"
with one name would share them.

Without a router two hosts are joined by one veth pair. With router=True
each host's veth ends in namespace R (`r1`, `r2`, ...), where the tamper
bridge (tamper_bridge.py, `hosts.bridge()`) forwards frames between them:
offloads are off so the bridge sees real segments, and the hosts' ephemeral
ports stay below the TCP BTL's pinned range (BTL_PORT_MIN..) so the bridge
can tell BTL traffic from OOB traffic.

Only the standard library (and esmpi_it) is used.
"""
import itertools
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import esmpi_it as it

HERE = Path(__file__).resolve().parent
LIB = it.BUILD / "libclient" / "libesmpi.so"
GUARD = it.BUILD / "libclient" / "libesmpi-guard.so"
EXAMPLES = it.BUILD / "examples"
# The MPICH build (scripts/build.sh: build-mpich/): its library and examples.
MPICH_BUILD = Path(os.environ.get("ESMPI_MPICH_BUILD",
                                  str(it.REPO / "build-mpich")))
MPICH_LIB = MPICH_BUILD / "libclient" / "libesmpi.so"
MPICH_EXAMPLES = MPICH_BUILD / "examples"
BRIDGE = HERE / "tamper_bridge.py"
PYTHON = "/usr/bin/python3"
MARKER = b"ESMPI-SECRET-MARKER"
NET = "198.18.0.0/24"
JOB_TIMEOUT = 60
# Open MPI's TCP BTL listens here when the hosts sit behind a router (see
# the module comment).
BTL_PORT_MIN, BTL_PORT_RANGE = 50000, 100
OFFLOADS = ["tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx",
            "off"]

_seq = itertools.count()


def sh(*cmd, timeout=it.CMD_TIMEOUT, check=True):
    """Run a command; with check, fail the test naming it if it fails."""
    r = it.run(cmd, timeout=timeout)
    if check:
        assert r.returncode == 0, (f"{' '.join(map(str, cmd))} failed "
                                   f"({r.returncode}): {r.stderr}")
    return r


def build(work, src, name, cc="mpicc"):
    """cc (mpicc; mpicc.mpich for MPICH) src (examples/ on the include
    path) into work/name."""
    out = Path(work) / name
    r = sh(cc, "-O2", "-I", it.REPO / "examples", "-o", out, src,
           timeout=120, check=False)
    assert r.returncode == 0, f"cannot build {name}: {r.stderr}"
    return out


def example(work, name):
    """An example program: the built one, or compiled from examples/."""
    prog = EXAMPLES / name
    if os.access(prog, os.X_OK):
        return prog
    return build(work, it.REPO / "examples" / f"{name}.c", name)


def new_ca(ca):
    sh(it.ESMPICTL, "ca", "init", "--dir", ca)
    return ca


def enroll(ca, name, out):
    """A node identity for `esmpid --state-dir out`."""
    sh(it.ESMPICTL, "node", "enroll", "--ca", ca, "--name", name,
       "--out", out)
    return out


class NsDaemon(it.Daemon):
    """An esmpid inside a network namespace. Its sockets are path-bound
    Unix sockets on the shared filesystem, so tests and esmpictl reach
    them from outside."""

    def __init__(self, root, name, ns, **kw):
        super().__init__(root, name, **kw)
        self.ns = ns

    def cmd(self):
        return ["ip", "netns", "exec", self.ns] + super().cmd()


class Host:
    def __init__(self, name, ns, ip, dev):
        self.name, self.ns, self.ip, self.dev = name, ns, ip, dev
        self.daemon = None

    def prefix(self):
        """Command prefix: run inside this host (net and UTS namespace,
        host name set), argv preserved."""
        return ["ip", "netns", "exec", self.ns, "unshare", "--uts", "sh",
                "-c", 'hostname "$0" && exec "$@"', self.name]


class Capture:
    """tshark on one host's end of its link, from construction to stop();
    snaplen keeps only the first bytes of each packet."""

    def __init__(self, host, path, snaplen=None):
        self.path = Path(path)
        self.data = None
        cmd = ["ip", "netns", "exec", host.ns, "tshark", "-i", host.dev]
        if snaplen:
            cmd += ["-s", str(snaplen)]
        self.p = subprocess.Popen(
            cmd + ["-f", "tcp", "-w", str(path), "-q"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 20
        buf = b""
        while b"Capturing on" not in buf:
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"tshark did not start: {buf!r}")
            buf += os.read(self.p.stderr.fileno(), 4096)

    def stop(self):
        """Stop (letting tshark write what it has); the capture's bytes."""
        if self.p.poll() is None:
            time.sleep(0.5)
            os.killpg(self.p.pid, signal.SIGINT)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        if not self.p.stderr.closed:
            self.p.stderr.close()
        if self.data is None:
            self.data = self.path.read_bytes() if self.path.exists() else b""
        return self.data


class Bridge:
    """tamper_bridge.py in the router namespace, forwarding between every
    host's port (and rewriting what its arguments say)."""

    def __init__(self, ns, ports, log, *args):
        self.log = Path(log)
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, PYTHON, str(BRIDGE),
             "--ports", ",".join(ports), "--log", str(log)] + list(args),
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
        if not self.p.stderr.closed:
            self.p.stderr.close()


class Hosts:
    """n namespace hosts A, B, ... (see the module comment)."""

    def __init__(self, work, n=2, router=False):
        assert n >= 2 and (router or n == 2), \
            "more than two hosts need the router"
        self.work = Path(work)
        self.router = router
        base = f"esmpi-{os.getpid()}-{next(_seq)}"
        self.hosts = [Host(f"host{x}", f"{base}-{x.lower()}",
                           f"198.18.0.{i + 1}", f"veth{x}")
                      for i, x in enumerate("ABCDEFGH"[:n])]
        self.r = f"{base}-r" if router else None
        self.ports = [f"r{i + 1}" for i in range(n)] if router else []
        self.made = []
        self.bridges = []
        self.agent = None
        self.prog = None    # a test's default program, if it sets one

    def __getitem__(self, i):
        return self.hosts[i]

    def __iter__(self):
        return iter(self.hosts)

    @property
    def a(self):
        return self.hosts[0]

    @property
    def b(self):
        return self.hosts[1]

    @property
    def daemons(self):
        return [h.daemon for h in self.hosts if h.daemon is not None]

    # ------------------------------------------------------------- network

    def setup(self):
        for ns in [h.ns for h in self.hosts] + ([self.r] if self.r else []):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        if self.router:
            for h, port in zip(self.hosts, self.ports):
                sh("ip", "link", "add", "name", h.dev, "netns", h.ns,
                   "type", "veth", "peer", "name", port, "netns", self.r)
        else:
            a, b = self.hosts
            sh("ip", "link", "add", "name", a.dev, "netns", a.ns, "type",
               "veth", "peer", "name", b.dev, "netns", b.ns)
        for h in self.hosts:
            sh("ip", "-n", h.ns, "addr", "add", f"{h.ip}/24", "dev", h.dev)
            sh("ip", "-n", h.ns, "link", "set", "lo", "up")
            sh("ip", "-n", h.ns, "link", "set", h.dev, "up")
            if self.router:
                sh("ip", "netns", "exec", h.ns, "ethtool", "-K", h.dev,
                   *OFFLOADS)
                # No ephemeral port (OOB, BTL connect side) in the range.
                sh("ip", "netns", "exec", h.ns, "sysctl", "-q", "-w",
                   f"net.ipv4.ip_local_port_range=32768 {BTL_PORT_MIN - 1}")
        for port in self.ports:
            sh("ip", "-n", self.r, "link", "set", port, "up", "promisc", "on")
            sh("ip", "netns", "exec", self.r, "ethtool", "-K", port,
               *OFFLOADS)
        self.wait_up()
        return self

    def wait_up(self, timeout=10):
        """Until every link is operationally up (some time after `ip link
        set up`): UCX ignores an interface that is not RUNNING yet."""
        links = [(h.ns, h.dev) for h in self.hosts]
        links += [(self.r, port) for port in self.ports]
        deadline = time.monotonic() + timeout
        for ns, dev in links:
            while True:
                r = sh("ip", "-n", ns, "-o", "link", "show", dev)
                if "state UP" in r.stdout:
                    break
                assert time.monotonic() < deadline, \
                    f"{dev} in {ns} not up after {timeout}s: {r.stdout}"
                time.sleep(0.1)

    def teardown(self):
        """Stop bridges and daemons; end whatever still runs inside our
        namespaces (orted, ranks, tshark: this test started them); drop
        the namespaces, and the veths with them. Safe after a failed
        setup, and twice."""
        for b in self.bridges:
            b.stop()
        for d in self.daemons:
            d.cleanup()
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
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        self.made = []

    # ------------------------------------------------------------- daemons

    def start_daemons(self, policy=None, ca_name="ca", **kw):
        """A cluster CA, a node identity per host (state-<letter>), and an
        esmpid on every host; then the rsh agent."""
        ca = new_ca(self.work / ca_name)
        for h in self.hosts:
            state = enroll(ca, h.name, self.work / f"state-{h.name[-1]}")
            h.daemon = NsDaemon(self.work, h.name, h.ns, state_dir=state,
                                policy=policy, **kw)
        for h in self.hosts:
            h.daemon.start()
        self.write_agent()
        return self.daemons

    def write_agent(self, name="agent", ucx=False):
        """rsh agent: `agent HOST CMD...` runs CMD (one shell line, as rsh
        would) inside HOST with that host's ESMPI_SOCKET, which orted and
        its ranks inherit; with ucx, UCX_NET_DEVICES too (hydra())."""
        lines = ["#!/bin/sh", "case $1 in"]
        for h in self.hosts:
            sock = (f"; export ESMPI_SOCKET={h.daemon.sock}"
                    if h.daemon is not None else "")
            sock += f"; export UCX_NET_DEVICES={h.dev}" if ucx else ""
            lines.append(f"{h.ip}) ns={h.ns}; h={h.name}{sock} ;;")
        lines += ['*) echo "agent: unknown host $1" >&2; exit 1 ;;', "esac",
                  "shift",
                  'exec ip netns exec "$ns" unshare --uts '
                  'sh -c "hostname $h && $*"']
        agent = self.work / name
        agent.write_text("\n".join(lines) + "\n")
        os.chmod(agent, 0o755)
        if not ucx:
            self.agent = agent
        return agent

    def guard(self, host):
        """The node-local guard on host: its own /etc/ld.so.preload (ip
        netns exec bind-mounts /etc/netns/<ns>/ld.so.preload over it for
        everything run inside, orted and ranks included) lists
        libesmpi-guard.so, written by esmpictl node guard on."""
        if not os.path.exists("/etc/ld.so.preload"):
            # The bind mount needs a target; an empty list changes nothing.
            open("/etc/ld.so.preload", "a").close()
        os.makedirs(f"/etc/netns/{host.ns}", exist_ok=True)
        r = it.ctl(None, "node", "guard", "on", "--lib", GUARD,
                   "--preload-file", f"/etc/netns/{host.ns}/ld.so.preload")
        assert r.returncode == 0, r.stdout + r.stderr

    # ---------------------------------------------------------------- jobs

    def mpirun(self, prog, per_host=1, preload=True, x=(),
               timeout=JOB_TIMEOUT, hang_ok=False, ranks_on=None,
               launcher=("mpirun",), np=None):
        """Run prog (a path, or argv list) with per_host ranks on every
        host: mpirun on host A (ranks 0.. there, with A's ESMPI_SOCKET),
        the others through the agent; TCP between hosts, shared memory
        inside one. x: extra `-x VAR=VALUE`. ranks_on: the hosts that get
        ranks (default all; mpirun stays on A). launcher: argv in place of
        mpirun (esmpirun and its own options). np: fewer ranks than that
        (the free slots for spawned children). Returns (rc, out, err). A
        job still running at timeout is killed; then rc is None with
        hang_ok, else the test fails."""
        if self.agent is None:
            self.write_agent()
        ranks_on = ranks_on or self.hosts
        n = len(ranks_on)
        hostlist = ",".join(f"{h.ip}:{per_host}" if per_host > 1 else h.ip
                            for h in ranks_on)
        cmd = self.a.prefix() + [
            *map(str, launcher), "--allow-run-as-root",
            "--mca", "plm_rsh_agent", self.agent,
            "--host", hostlist, "-np", str(np or n * per_host),
            "--bind-to", "none",
            "--mca", "btl", "vader,tcp,self" if per_host > 1 else "tcp,self",
            "--mca", "btl_tcp_if_include", NET,
            "--mca", "oob_tcp_if_include", NET]
        if self.router:
            cmd += ["--mca", "btl_tcp_port_min_v4", str(BTL_PORT_MIN),
                    "--mca", "btl_tcp_port_range_v4", str(BTL_PORT_RANGE)]
        if preload:
            cmd += ["-x", f"LD_PRELOAD={LIB}"]
        for v in x:
            cmd += ["-x", v]
        cmd += prog if isinstance(prog, (list, tuple)) else [prog]
        env = {k: v for k, v in os.environ.items()
               if k not in ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")}
        if self.a.daemon is not None:
            env["ESMPI_SOCKET"] = str(self.a.daemon.sock)
        p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True)
        return Job(p, timeout, hang_ok)

    def hydra(self, prog, preload=True, x=(), timeout=JOB_TIMEOUT,
              hang_ok=False):
        """mpirun() for MPICH: prog (linked to MPICH) with one rank per
        host under mpiexec.hydra on host A, the other hosts' proxies
        started by the agent (rsh launcher) inside their host with its
        ESMPI_SOCKET and UCX_NET_DEVICES; hydra passes on only what -genv
        says (-genvnone: not A's environment). Its proxies connect back
        to A's veth address (-iface: the host name is 127.0.0.1 inside a
        namespace); UCX is kept on TCP (the namespaces share /dev/shm,
        which UCX would take), listening in BTL_PORT_MIN.. behind the
        router as Open MPI's BTL does. Returns a Job, as mpirun()."""
        agent = self.write_agent("agent-hydra", ucx=True)
        cmd = self.a.prefix() + [
            "mpiexec.hydra", "-launcher", "rsh", "-launcher-exec",
            agent, "-iface", self.a.dev, "-genvnone",
            "-hosts", ",".join(h.ip for h in self.hosts),
            "-n", str(len(self.hosts)), "-ppn", "1",
            "-genv", "UCX_TLS", "tcp,self"]
        if self.router:
            cmd += ["-genv", "UCX_TCP_PORT_RANGE",
                    f"{BTL_PORT_MIN}-{BTL_PORT_MIN + BTL_PORT_RANGE - 1}"]
        if preload:
            cmd += ["-genv", "LD_PRELOAD", MPICH_LIB]
        for v in x:
            cmd += ["-genv", *v.split("=", 1)]
        cmd += prog if isinstance(prog, (list, tuple)) else [prog]
        # Hydra forks A's proxy itself (not through the agent): it and
        # its rank inherit A's ESMPI_SOCKET from here.
        env = {k: v for k, v in os.environ.items()
               if k not in ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")}
        if self.a.daemon is not None:
            env["ESMPI_SOCKET"] = str(self.a.daemon.sock)
        # UCX on the veth only: with lo beside it, a job now and then
        # hangs in MPI_Finalize (the agent sets the other hosts').
        env["UCX_NET_DEVICES"] = self.a.dev
        p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True)
        return Job(p, timeout, hang_ok)

    def run(self, prog, mpich=False, until=None, **kw):
        """mpirun (hydra() with mpich) and wait (Job.wait, until):
        (rc, out, err)."""
        return (self.hydra if mpich else self.mpirun)(prog, **kw).wait(
            until=until)

    @contextmanager
    def capture(self, path, host=None, snaplen=None):
        """tshark on host's link (default: the last host) for the block."""
        cap = Capture(host or self.hosts[-1], path, snaplen)
        try:
            yield cap
        finally:
            cap.stop()

    def captured_run(self, name, prog, **kw):
        """run() under a capture on the last host's link, into
        work/name.pcap: ((rc, out, err), capture bytes)."""
        with self.capture(self.work / f"{name}.pcap") as cap:
            res = self.run(prog, **kw)
        return res, cap.data

    def bridge(self, name, *args):
        """Start the tamper bridge in R (stopped at teardown or by the
        test), logging to work/bridge-<name>.log."""
        assert self.router, "the bridge needs Hosts(router=True)"
        b = Bridge(self.r, self.ports, self.work / f"bridge-{name}.log",
                   *args)
        self.bridges.append(b)
        return b

    def logs(self, tail=3000):
        """Every daemon's stderr, for assertion messages."""
        return "".join(f"\ndaemon {h.name}:\n{h.daemon.log()[-tail:]}"
                       for h in self.hosts if h.daemon is not None)


class Job:
    """A running mpirun (see Hosts.mpirun)."""

    def __init__(self, p, timeout, hang_ok):
        self.p, self.timeout, self.hang_ok = p, timeout, hang_ok

    def wait(self, timeout=None, until=None):
        """(rc, out, err) once the job ends. until: a pattern; once its
        stderr shows it, the job has shown what the test judges, and one
        still running UNTIL_GRACE seconds later is killed as if it hung
        (a job known to stall after its failure need not run out its
        whole timeout)."""
        timeout = timeout or self.timeout
        if until is not None:
            return self._wait_until(timeout, re.compile(until))
        try:
            out, err = self.p.communicate(timeout=timeout)
            return self.p.returncode, out, err
        except subprocess.TimeoutExpired:
            return self._killed(timeout)

    def _wait_until(self, timeout, until):
        fds = [self.p.stdout.fileno(), self.p.stderr.fileno()]
        got = {fd: [] for fd in fds}
        end = time.monotonic() + timeout
        seen = False
        with selectors.DefaultSelector() as sel:
            for fd in fds:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map() and time.monotonic() < end:
                for key, _ in sel.select(end - time.monotonic()):
                    data = os.read(key.fd, 65536)
                    if data:
                        got[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
                if not seen and until.search(b"".join(got[fds[1]]).decode(
                        errors="replace")):
                    seen = True
                    end = min(end, time.monotonic() + UNTIL_GRACE)
        try:
            self.p.wait(max(end - time.monotonic(), 0.1))
            rc, out, err = self.p.returncode, *self.p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            rc, out, err = self._killed(timeout)
        return (rc, b"".join(got[fds[0]]).decode(errors="replace") + out,
                b"".join(got[fds[1]]).decode(errors="replace") + err)

    def _killed(self, timeout):
        os.killpg(self.p.pid, signal.SIGKILL)
        out, err = self.p.communicate(timeout=10)
        if self.hang_ok:
            return None, out, err
        raise AssertionError(f"mpirun did not finish within {timeout}s "
                             f"(killed):\n{out}\n{err}") from None

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.communicate(timeout=10)


# Job.wait(until=...): how long a job that showed what counts may still
# take to end by itself.
UNTIL_GRACE = 2

# A job through the adversary bridge is short: one that has not finished by
# then hung (a refusal must stop it, not stall it).
ADVERSARY_TIMEOUT = 25


def adversary_job(hosts, preload, prog=None, mpich=False):
    """hosts.prog (or prog) with one rank per host, for the tests with the
    tamper bridge: (rc, out, err), rc None when the job hung and was
    killed. mpich: under hydra (prog linked to MPICH)."""
    return hosts.run(prog or hosts.prog, preload=preload, mpich=mpich,
                     timeout=ADVERSARY_TIMEOUT, hang_ok=True)


def report(hosts, bridge, rc, out, err):
    """Everything to judge a job through the bridge by."""
    return (f"rc {rc}\nstdout:\n{out}\nstderr:\n{err}\nbridge log:\n"
            f"{bridge.text()[-3000:]}{hosts.logs()}")


def need(*tools):
    """Fail (not skip) when a tool the test needs is missing."""
    import pytest
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.fail(f"not found: {', '.join(missing)}", pytrace=False)
