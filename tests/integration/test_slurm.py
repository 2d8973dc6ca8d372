# SPDX-License-Identifier: Apache-2.0
"""srun --esmpi with a real Slurm (Debian's 22.05: munged, slurmctld and
slurmd started once for the module, slurm_it.Cluster) and the SPANK plugin
from the build tree (build/slurm/spank_esmpi.so):

- `srun --mpi=pmix --esmpi -n 2 ring` gives plain srun's output, every
  record sealed (ESMPI_STATS=1), a session per rank in esmpid's audit;
- the variables reach the tasks only, --esmpi=PROJECT sets ESMPI_PROJECT,
  and a bad project name is refused by srun itself;
- with the node's esmpid unreachable no task starts and srun says which
  node.

Open MPI 4.1.4 (Debian) runs under `--mpi=pmix` (Slurm's pmix_v4 plugin);
`--mpi=pmi2` fails at MPI_Init (Debian's Open MPI has no PMI2 support).
"""
import re
import socket

import pytest

import esmpi_it as it
import mpi_helpers as mh
import slurm_it
from slurm_it import Cluster, Node

STATS = re.compile(r"esmpi: rank (\d+): stats: sealed (\d+) \(same node "
                   r"\d+\), plain (\d+)")


@pytest.fixture(scope="module")
def work():
    import shutil
    import tempfile
    from pathlib import Path
    d = Path(tempfile.mkdtemp(prefix="esmpi-slurm-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def esmpid(work):
    d = it.Daemon(work, "esmpid").start()
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def cluster(work, esmpid):
    slurm_it.need()
    line = (f"required {slurm_it.SPANK} lib={slurm_it.LIBESMPI} "
            f"socket={esmpid.sock}")
    host = socket.gethostname().split(".")[0]
    cl = Cluster(work, [Node("esmpi1", "127.0.0.1", plugstack=line)],
                 ctld_host=host, ctld_addr="127.0.0.1")
    try:
        yield cl.start()
    finally:
        cl.stop()


@pytest.fixture(scope="module")
def ring():
    missing = mh.missing_examples(["ring"])
    assert not missing, f"examples not built: {missing}"
    return mh.example("ring")


def test_srun_esmpi_runs_sealed_with_plain_output(cluster, esmpid, ring):
    plain = cluster.srun("--mpi=pmix", "-n", "2", ring)
    assert plain.returncode == 0, plain.stderr + cluster.logs()
    assert "ESMPI-SECRET-MARKER" in plain.stdout
    before = len(esmpid.audit("session_open"))

    enc = cluster.srun("--mpi=pmix", "--esmpi", "-n", "2", ring,
                       env={"ESMPI_STATS": "1"})
    assert enc.returncode == 0, enc.stderr + cluster.logs() + esmpid.log()
    assert enc.stdout == plain.stdout
    st = {int(r): (int(s), int(p)) for r, s, p in STATS.findall(enc.stderr)}
    assert sorted(st) == [0, 1], enc.stderr
    assert all(s > 0 and p == 0 for s, p in st.values()), enc.stderr
    esmpid.wait_audit("session_open", count=before + 2)


def test_srun_esmpi_sets_the_tasks_environment_only(cluster, esmpid):
    show = ["sh", "-c", 'echo "P=${LD_PRELOAD-} S=${ESMPI_SOCKET-} '
            'J=${ESMPI_PROJECT-}"; grep -c libesmpi /proc/self/maps || true']
    r = cluster.srun("-n", "1", "--esmpi=proj-1", *show)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == \
        f"P={slurm_it.LIBESMPI} S={esmpid.sock} J=proj-1", r.stdout
    # The task's own processes have it mapped; srun (this test's child)
    # never had it in its environment.
    assert int(r.stdout.splitlines()[1]) > 0, r.stdout
    r = cluster.srun("-n", "1", *show)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["P= S= J=", "0"], r.stdout

    r = cluster.srun("-n", "1", "--esmpi=../etc", "true")
    assert r.returncode != 0
    assert "--esmpi=../etc: a project name has 1 to 63 letters" in r.stderr


def test_srun_esmpi_refuses_node_without_esmpid(cluster, work):
    """The user's ESMPI_SOCKET wins over the configured one (as under
    esmpirun); nothing answers there, so no task starts on that node."""
    ran = work / "ran"
    r = cluster.srun("-n", "2", "--esmpi", "sh", "-c", f"touch {ran}",
                     env={"ESMPI_SOCKET": str(work / "none.sock")})
    assert r.returncode != 0, r.stdout + r.stderr
    assert not ran.exists(), "a task started without its node's esmpid"
    assert (f"esmpi: node esmpi1: esmpid unreachable at {work}/none.sock"
            in r.stderr), r.stderr


def test_srun_esmpi_across_namespace_hosts(ns_hosts, workdir, ring):
    """Two namespace hosts, each a Slurm node with its own slurmd and
    esmpid (slurmctld and srun on A): srun --esmpi gives the plain run's
    output, each rank opens its session with its own node's esmpid, and
    the capture on the link, which sees the marker in the plain run,
    sees none."""
    import nshosts
    nshosts.need("tshark")
    slurm_it.need()
    hosts = ns_hosts()
    hosts.start_daemons()
    # nsenter, not `ip netns exec`: that mounts a fresh /sys without the
    # cgroups slurmd needs.
    nodes = [Node(h.name, h.ip, prefix=["nsenter", f"--net=/run/netns/{h.ns}",
                                        *h.prefix()[4:]],
                  plugstack=f"required {slurm_it.SPANK} "
                  f"lib={slurm_it.LIBESMPI} socket={h.daemon.sock}")
             for h in hosts]
    cl = Cluster(workdir, nodes, ctld_host=hosts.a.name,
                 ctld_addr=hosts.a.ip, ctld_prefix=hosts.a.prefix())
    try:
        cl.start()
        env = {"OMPI_MCA_btl": "tcp,self",
               "OMPI_MCA_btl_tcp_if_include": nshosts.NET}
        args = ["--mpi=pmix", "-N", "2", "-n", "2", ring]
        with hosts.capture(workdir / "plain.pcap") as cap:
            plain = cl.srun(*args, env=env)
        assert plain.returncode == 0, plain.stderr + cl.logs()
        assert cap.data.count(nshosts.MARKER) > 0, \
            "capture saw no plaintext marker: wrong link?"
        with hosts.capture(workdir / "enc.pcap") as cap:
            enc = cl.srun("--esmpi", *args, env=env)
        assert enc.returncode == 0, enc.stderr + cl.logs() + hosts.logs()
        assert enc.stdout == plain.stdout
        assert cap.data.count(nshosts.MARKER) == 0
        for h, rank in zip(hosts, ("0", "1")):
            ev = h.daemon.wait_audit("session_open")
            assert {e.get("ESMPI_RANK") for e in ev} == {rank}, \
                h.daemon.log()
    finally:
        cl.stop()
