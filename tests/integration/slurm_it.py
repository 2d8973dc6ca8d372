# SPDX-License-Identifier: Apache-2.0
"""A real Slurm for the tests: munged, slurmctld and slurmd (Debian's 22.05)
as plain root processes with their own configuration, state and log
directories under one work directory, stopped at teardown.

    cl = Cluster(work, [Node("esmpi1", "127.0.0.1", plugstack=LINE)],
                 ctld_host=socket.gethostname(), ctld_addr="127.0.0.1")
    cl.start()
    r = cl.srun("--mpi=pmix", "--esmpi", "-n", "2", prog)
    cl.stop()

Node.prefix runs a daemon inside a namespace host (nshosts.Host.prefix);
each slurmd may have its own plugstack.conf line (the node's esmpid socket).
Only the standard library (and esmpi_it) is used.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import esmpi_it as it

SPANK = it.BUILD / "slurm" / "spank_esmpi.so"
LIBESMPI = it.BUILD / "libclient" / "libesmpi.so"
PROGRAMS = ("munged", "munge", "slurmctld", "slurmd", "srun", "sinfo",
            "/usr/sbin/slurmstepd")
START_TIMEOUT = 30
SRUN_TIMEOUT = 60


def need(spank=True):
    """Fail (not skip) naming what is missing."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if spank and not SPANK.exists():
        missing.append(f"{SPANK} (libslurm-dev at configure time)")
    assert not missing, (f"missing: {', '.join(missing)} (run "
                         "scripts/install-deps.sh, rebuild)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    name: str
    addr: str
    plugstack: str = ""      # this slurmd's plugstack.conf contents
    prefix: list = field(default_factory=list)


class Cluster:
    def __init__(self, work, nodes, ctld_host, ctld_addr, ctld_prefix=(),
                 cpus=2, plugstack_conf=None):
        """plugstack_conf: one plugstack.conf for all (e.g. Debian's
        /etc/slurm/plugstack.conf); else each Node's line."""
        self.dir = Path(tempfile.mkdtemp(prefix="slurm-", dir=work))
        os.chmod(self.dir, 0o755)
        self.nodes = nodes
        self.ctld_host, self.ctld_addr = ctld_host, ctld_addr
        self.ctld_prefix = list(ctld_prefix)
        self.cpus = cpus
        self.plugstack_conf = plugstack_conf
        self.procs = []
        self.munge_sock = self.dir / "munge.sock"
        self.conf = self.dir / "slurm.conf"

    # ------------------------------------------------------ configuration

    def write_conf(self, path, plugstack, tmp=None):
        """tmp: the node's TmpFS, where Slurm's pmix plugin makes its
        directories (nodes on one filesystem need their own)."""
        d = self.dir
        tmp = tmp or d / "tmp"
        tmp.mkdir(mode=0o755, exist_ok=True)
        nodes = "\n".join(f"NodeName={n.name} NodeAddr={n.addr} "
                          f"CPUs={self.cpus} State=UNKNOWN"
                          for n in self.nodes)
        path.write_text(f"""\
ClusterName=esmpitest
SlurmctldHost={self.ctld_host}({self.ctld_addr})
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
AuthType=auth/munge
AuthInfo=socket={self.munge_sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/ctld
SlurmdSpoolDir={d}/spool-%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
PlugStackConfig={plugstack}
TmpFS={tmp}
DebugFlags=NO_CONF_HASH
{nodes}
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        os.chmod(path, 0o644)

    def node_conf(self, node):
        """slurm.conf as node's slurmd reads it: its own plugstack.conf."""
        stack = self.plugstack_conf
        if not stack:
            stack = self.dir / f"plugstack-{node.name}.conf"
            stack.write_text(node.plugstack + "\n")
            os.chmod(stack, 0o644)
        conf = self.dir / f"slurm-{node.name}.conf"
        self.write_conf(conf, stack, self.dir / f"tmp-{node.name}")
        return conf

    # ------------------------------------------------------------ daemons

    def _spawn(self, name, cmd, env=None):
        log = open(self.dir / f"{name}.out", "ab")
        p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT,
                             env=env or self.env(), start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def env(self, conf=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "ESMPI_")) and
               k != "LD_PRELOAD"}
        env["SLURM_CONF"] = str(conf or self.conf)
        return env

    def start(self):
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        for sub in ("ctld",):
            (self.dir / sub).mkdir(mode=0o755)
        # The controller's and srun's plugstack: srun registers --esmpi
        # from it (the first node's line).
        stack = self.plugstack_conf or self.dir / "plugstack-srun.conf"
        if not self.plugstack_conf:
            stack.write_text(self.nodes[0].plugstack + "\n")
        self.write_conf(self.conf, stack)
        key = self.dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        # munged runs as a plain process when every directory above its
        # socket is searchable by all (work dirs are 0755).
        self._spawn("munged", ["munged", "--foreground",
                               f"--key-file={key}",
                               f"--socket={self.munge_sock}",
                               f"--pid-file={self.dir}/munged.pid",
                               f"--seed-file={self.dir}/munged.seed",
                               f"--log-file={self.dir}/munged.log"])
        it.wait_for(lambda: self.munge_sock.exists() or self._dead(),
                    START_TIMEOUT, what="munged's socket")
        self._check_alive()
        self._spawn("slurmctld", self.ctld_prefix + ["slurmctld", "-D", "-i"])
        for n in self.nodes:
            self._spawn(f"slurmd-{n.name}", n.prefix + ["slurmd", "-D", "-N",
                                                        n.name],
                        env=self.env(self.node_conf(n)))
        try:
            it.wait_for(lambda: self.idle() or self._dead(), START_TIMEOUT,
                        what="all nodes idle")
        except AssertionError as e:
            raise AssertionError(f"{e}:\n{self.logs()}") from None
        self._check_alive()
        return self

    def _dead(self):
        return any(p.poll() is not None for _, p in self.procs)

    def _check_alive(self):
        dead = [n for n, p in self.procs if p.poll() is not None]
        assert not dead, f"{', '.join(dead)} exited:\n{self.logs()}"

    def idle(self):
        r = subprocess.run(self.ctld_prefix + ["sinfo", "-h", "-N", "-o",
                                               "%N %T"],
                           env=self.env(), capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL,
                           cwd=self.dir)
        states = dict(ln.split() for ln in r.stdout.splitlines()
                      if len(ln.split()) == 2)
        return (r.returncode == 0 and
                all(states.get(n.name) == "idle" for n in self.nodes))

    def logs(self, tail=2000):
        out = []
        for f in sorted(self.dir.glob("*.out")) + \
                sorted(self.dir.glob("*.log")):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    def stop(self):
        for _, p in reversed(self.procs):
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if p.poll() is not None:
                    break
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
        self.procs = []

    # --------------------------------------------------------------- jobs

    def srun(self, *args, env=None, timeout=SRUN_TIMEOUT, cwd=None):
        """srun ARGS as root from the controller's host: CompletedProcess."""
        e = self.env()
        e.update(env or {})
        cmd = self.ctld_prefix + ["srun", *args]
        try:
            return subprocess.run([str(c) for c in cmd], env=e,
                                  capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL,
                                  cwd=cwd or self.dir)
        except subprocess.TimeoutExpired as ex:
            raise AssertionError(f"srun {args} did not finish within "
                                 f"{timeout}s:\n{self.logs()}") from ex
