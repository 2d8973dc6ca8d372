# SPDX-License-Identifier: Apache-2.0
"""The silent downgrade through the launcher (issue 14, finding 1), and the
node-local guard that closes it.

esmpirun reaches remote ranks through LD_PRELOAD in Open MPI's launch
message, which crosses the network unauthenticated. Three namespace hosts
behind the tamper bridge: mpirun on A (no rank there), one rank and one
esmpid on each of B and C. The bridge flips the first byte of
`LD_PRELOAD=` (or of the library's name) wherever it crosses:

- without the guard (control): both ranks run plain Open MPI and the ring's
  marker crosses in clear: the attack works, and the capture sees it;
- with `esmpictl node guard on` on B and C (each host's own
  /etc/ld.so.preload lists libesmpi-guard.so): both ranks refuse at
  MPI_Init, the job fails saying why, and no marker crosses.

And on two hosts: with the guard a plain mpirun is refused and esmpirun's
preload runs sealed; with rank 0 on mpirun's own host (its LD_PRELOAD set
locally) and rank 1's stripped in flight, rank 0 stops at MPI_Init naming
rank 1 instead of waiting for ever (no guard), or rank 1 refuses (guard).
"""
import os

import pytest

import esmpi_it as it
import nshosts
from nshosts import MARKER, report

GUARD_SAYS = "MPI_Init refused: this node runs MPI only with esmpi"


@pytest.fixture
def three(ns_hosts, workdir):
    """A - R - {B, C}: hosts behind the bridge, a daemon on each, the ring
    as the program; ranks go on B and C only."""
    nshosts.need("ethtool", "mpirun", "tshark")
    h = ns_hosts(n=3, router=True)
    h.start_daemons()
    h.prog = nshosts.example(workdir, "ring")
    return h


def stripped_job(hosts, name, marker):
    """esmpirun's job (LD_PRELOAD in the launch message) with the bridge
    altering `marker` in flight; capture on C's link. Returns (rc, out,
    err, capture bytes, bridge)."""
    bridge = hosts.bridge(name, "--marker", marker)
    with hosts.capture(hosts.work / f"{name}.pcap") as cap:
        rc, out, err = hosts.run(hosts.prog, preload=True,
                                 ranks_on=hosts.hosts[1:],
                                 timeout=nshosts.ADVERSARY_TIMEOUT,
                                 hang_ok=True)
    bridge.stop()
    return rc, out, err, cap.data, bridge


@pytest.mark.parametrize("marker", ["LD_PRELOAD=", "libesmpi.so"],
                         ids=["name", "value"])
def test_stripped_preload_without_guard_runs_plain(three, marker):
    """Control, the finding itself: the launch message is altered, the
    ranks run plain, the marker crosses, nothing is audited."""
    rc, out, err, data, bridge = stripped_job(three, "noguard", marker)
    why = report(three, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge altered no launch message:\n{why}"
    assert rc == 0, why
    assert MARKER in data, f"plain run: marker not captured:\n{why}"
    for h in three.hosts[1:]:
        assert not h.daemon.audit("session_open"), why


@pytest.mark.parametrize("marker", ["LD_PRELOAD=", "libesmpi.so"],
                         ids=["name", "value"])
def test_stripped_preload_with_guard_refuses_to_run(three, marker):
    for h in three.hosts[1:]:
        three.guard(h)
    rc, out, err, data, bridge = stripped_job(three, "guard", marker)
    why = report(three, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge altered no launch message:\n{why}"
    assert rc is not None, f"the job hung instead of stopping:\n{why}"
    assert rc != 0, f"a job without libesmpi ran on guarded hosts:\n{why}"
    assert GUARD_SAYS in err and "libesmpi is not loaded" in err, why
    assert MARKER not in data, f"marker crossed in clear:\n{why}"
    assert "lap" not in out, why


def test_guarded_hosts_run_esmpirun_sealed(ns_hosts, workdir):
    """The guard lets a job with libesmpi through (sealed, no marker on the
    wire) and refuses plain MPI on the same hosts."""
    nshosts.need("mpirun", "tshark")
    h = ns_hosts()
    h.start_daemons()
    ring = nshosts.example(workdir, "ring")
    for host in h:
        h.guard(host)
    (rc, out, err), data = h.captured_run("sealed", ring, preload=True)
    assert rc == 0, out + err + h.logs()
    assert "lap" in out and MARKER not in data, out
    assert len(h.b.daemon.audit("session_open")) == 1
    rc, out, err = h.run(ring, preload=False)
    assert rc != 0 and GUARD_SAYS in err, out + err
    # The guard does nothing to programs that never start MPI.
    r = it.run(h.b.prefix() + ["ls", "/"])
    assert r.returncode == 0 and "ld.so" not in r.stderr, r.stderr


def test_guard_on_off_keeps_other_entries(workdir):
    """esmpictl node guard edits the list in place, keeps what else is
    listed, refuses a guard library others may write."""
    lst = workdir / "ld.so.preload"
    lst.write_text("/usr/lib/other.so\n")
    g = ["node", "guard"]
    lib = ["--lib", str(nshosts.GUARD), "--preload-file", str(lst)]
    assert "guard off" in it.ctl(None, *g, "status", *lib).stdout
    assert it.ctl(None, *g, "on", *lib).returncode == 0
    assert lst.read_text().split() == ["/usr/lib/other.so",
                                       str(nshosts.GUARD)]
    assert "guard on" in it.ctl(None, *g, "status", *lib).stdout
    assert it.ctl(None, *g, "off", *lib).returncode == 0
    assert lst.read_text().split() == ["/usr/lib/other.so"]
    bad = workdir / "bad.so"
    bad.write_bytes(nshosts.GUARD.read_bytes())
    bad.chmod(0o666)
    r = it.ctl(None, *g, "on", "--lib", bad, "--preload-file", lst)
    assert r.returncode == 1 and "nobody else may write" in r.stderr, r
    assert str(bad) not in lst.read_text()


@pytest.mark.parametrize("guard", [False, True], ids=["no-guard", "guard"])
def test_stripped_preload_with_a_rank_on_mpiruns_host(tri, guard):
    """Rank 0 on mpirun's host gets LD_PRELOAD locally, rank 1's is
    stripped in flight. Without the guard rank 1 runs plain and rank 0
    used to wait in MPI_Init for ever: now it stops after
    ESMPI_JOIN_TIMEOUT naming rank 1, and its esmpid audits join_failed.
    With the guard on rank 1's host, rank 1 refuses to start."""
    if guard:
        tri.guard(tri.b)
    ring = nshosts.example(tri.work, "ring")
    bridge = tri.bridge("local-rank", "--marker", "LD_PRELOAD=")
    with tri.capture(tri.work / "local-rank.pcap") as cap:
        rc, out, err = tri.run(ring, preload=True,
                               x=("ESMPI_JOIN_TIMEOUT=5",),
                               timeout=nshosts.ADVERSARY_TIMEOUT,
                               hang_ok=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge altered no launch message:\n{why}"
    assert rc is not None, f"the job hung in MPI_Init:\n{why}"
    assert rc != 0, why
    assert MARKER not in cap.data, f"marker crossed in clear:\n{why}"
    if guard:
        assert GUARD_SAYS in err, why
    else:
        assert "rank 1 did not join job key establishment" in err, why
        ev = tri.a.daemon.wait_audit("join_failed")[-1]
        assert ev["ESMPI_RANK"] == "0", ev


@pytest.mark.parametrize("how", ["folder", "link"])
def test_guard_library_another_user_could_replace_is_refused(workdir, how):
    """Every process of the node, setuid ones included, maps the guard:
    a root-owned copy in a folder another user owns (who could rename
    another file over it), or a link another user owns, is refused."""
    lst = workdir / "ld.so.preload"
    lst.write_text("")
    alice = workdir / "alice"
    alice.mkdir()
    lib = alice / "guard.so"
    if how == "folder":
        lib.write_bytes(nshosts.GUARD.read_bytes())
        lib.chmod(0o644)
    else:
        lib.symlink_to(nshosts.GUARD)
        os.lchown(lib, 65534, 65534)
    os.chown(alice, 65534, 65534)
    r = it.ctl(None, "node", "guard", "on", "--lib", lib,
               "--preload-file", lst)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "owned by uid 65534" in r.stderr, r.stderr
    assert lst.read_text() == ""
