# SPDX-License-Identifier: Apache-2.0
"""MPICH across hosts: the namespace hosts of nshosts.py with an esmpid
each, the job under mpiexec.hydra (Hosts.hydra: rsh launcher through the
agent, -iface on A's veth, UCX on TCP over the veths). The Open MPI
versions are test_netns.py, test_tamper.py and test_replay.py.

- without esmpi the ring's marker crosses the link (which shows the
  capture sees MPICH's traffic); with MPICH's libesmpi the same result,
  no marker, each rank's session with its own host's esmpid; the same
  for the MPI-4 sessions model (sessions.c, no MPI_Init);
- the tamper bridge flips a byte of UCX's TCP stream: plain MPICH hands
  the altered data to pingpong, esmpi refuses the record and the
  receiving host audits integrity_failure. The refusing rank stops on
  the fatal error; its peer, on the other host, then waits for ever:
  MPICH 4.0.2's hydra ends a job across hosts on MPI_Abort, not when a
  rank stops on a fatal error handler (plain MPICH alike, checked with a
  rank calling MPI_Comm_call_errhandler), so that job is killed once the
  refusal shows (Job.wait's until), after ABORT_WAIT at the latest; the
  plain job alike once pingpong reported the corrupted data (MPICH may
  then hang in MPI_Finalize);
- the bridge replays a seqmsgs record: plain MPICH delivers the old
  message, esmpi refuses it and audits replay_detected;
- the node guard (test_guard.py) on both hosts: MPICH with its libesmpi
  runs sealed, and so does a session from MPI_Session_init; without it,
  MPI_Init, MPI_Session_init, PMPI_Session_init and mpi_f08's
  MPI_Session_init are each refused before MPI starts.
"""
import re

import pytest

import esmpi_it as it
import nshosts
from nshosts import BTL_PORT_MIN, BTL_PORT_RANGE, MARKER, build, report
from test_replay import check_refused as check_replay_refused
from test_tamper import check_refused as check_integrity_refused
from test_tamper import INTEGRITY, tamper_args


@pytest.fixture(autouse=True)
def mpich_built():
    nshosts.need("mpiexec.hydra", "mpicc.mpich", "tshark")
    missing = [p for p in (nshosts.MPICH_LIB, nshosts.MPICH_EXAMPLES /
                           "ring", nshosts.MPICH_EXAMPLES / "pingpong")
               if not p.exists()]
    if missing:
        pytest.fail(f"not built: {missing} (scripts/build.sh)",
                    pytrace=False)


# pingpong's report of data MPI delivered altered.
CORRUPTED = r"check failed: .*(byte|element) -?\d+ wrong"
# See above: how long a job whose rank refused a record may run at most.
ABORT_WAIT = 8


def job(hosts, preload, prog, until=None, timeout=nshosts.ADVERSARY_TIMEOUT):
    return hosts.run(prog, preload=preload, mpich=True, until=until,
                     timeout=timeout, hang_ok=True)


# A ring job takes 2-7 s here; one that hangs in MPI_Finalize (ran())
# is killed after this long.
RING_TIMEOUT = 25


def ran(rc, out):
    """The ring job ran to its end: exit 0, or killed (rc None) after
    its last line: across the namespace hosts MPICH 4.0.2 now and then
    hangs in MPI_Finalize once everything is done, with or without
    esmpi (seen about once in 8 runs)."""
    return rc == 0 or (rc is None and re.search(r"^ring: \d+ ranks, ",
                                                out, re.M) is not None)


def test_two_namespace_hosts_under_hydra(ns_hosts):
    hosts = ns_hosts()
    da, db = hosts.start_daemons()
    ring = nshosts.MPICH_EXAMPLES / "ring"
    (rc, plain_out, err), plain = hosts.captured_run(
        "plain", ring, preload=False, mpich=True, hang_ok=True,
        timeout=RING_TIMEOUT)
    assert ran(rc, plain_out), \
        f"plain hydra job failed ({rc}):\n{plain_out}\n{err}"
    assert plain.count(MARKER) >= 1, \
        "capture on the veth saw no plaintext marker: UCX not on the link?"
    (rc, enc_out, err), enc = hosts.captured_run(
        "enc", ring, preload=True, mpich=True, hang_ok=True,
        timeout=RING_TIMEOUT)
    assert ran(rc, enc_out), \
        f"esmpi hydra job failed ({rc}):\n{enc_out}\n{err}{hosts.logs()}"
    assert enc_out == plain_out
    assert len(enc) > 4000, "capture saw no encrypted traffic"
    assert enc.count(MARKER) == 0, "marker on the link under esmpi"
    oa, ob = da.wait_audit("session_open"), db.wait_audit("session_open")
    assert {e.get("ESMPI_RANK") for e in oa} == {"0"}, da.log()
    assert {e.get("ESMPI_RANK") for e in ob} == {"1"}, db.log()
    assert len({e.get("ESMPI_JOB") for e in oa + ob}) == 1

    # The MPI-4 sessions model (sessions.c, no MPI_Init): its marker
    # crosses the link plain, never under esmpi.
    prog = nshosts.MPICH_EXAMPLES / "sessions"
    (rc, plain_out, err), plain = hosts.captured_run(
        "sessions-plain", prog, preload=False, mpich=True)
    assert rc == 0 and "sessions: OK" in plain_out, f"{plain_out}\n{err}"
    assert plain.count(MARKER) >= 1, "sessions: no plaintext marker seen"
    (rc, enc_out, err), enc = hosts.captured_run(
        "sessions-enc", prog, preload=True, mpich=True)
    assert rc == 0 and enc_out == plain_out, \
        f"{enc_out}\n{err}{hosts.logs()}"
    assert len(enc) > 4000 and enc.count(MARKER) == 0, \
        "sessions: marker on the link under esmpi"
    assert len(da.wait_audit("session_open", count=2)) == 2, da.log()


@pytest.fixture
def tri_mpich(ns_hosts):
    nshosts.need("ethtool")
    h = ns_hosts(router=True)
    h.start_daemons()
    return h


def test_tampered_record_under_hydra(tri_mpich):
    tri = tri_mpich
    prog = nshosts.MPICH_EXAMPLES / "pingpong"
    # Plain: every large segment altered, UCX's own framing among them,
    # and MPICH now and then hangs in MPI_Finalize afterwards (without
    # esmpi): what pingpong printed until then is what counts.
    bridge = tri.bridge("plain", *tamper_args())
    rc, out, err = job(tri, False, prog, until=CORRUPTED, timeout=15)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert re.search(CORRUPTED, err), \
        f"plain MPICH: no corrupted data reported by pingpong:\n{why}"

    bridge = tri.bridge("enc", *tamper_args())
    rc, out, err = job(tri, True, prog, until=INTEGRITY,
                       timeout=ABORT_WAIT)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert rc != 0, why	# None: killed, see above
    check_integrity_refused(tri, out, err, why)


def test_replayed_record_under_hydra(tri_mpich):
    tri = tri_mpich
    prog = build(tri.work, it.REPO / "tests" / "integration" / "seqmsgs.c",
                 "seqmsgs-mpich", cc="mpicc.mpich")
    unit = ["--unit-len", "256",
            "--tamper-port-min", str(BTL_PORT_MIN),
            "--tamper-port-max", str(BTL_PORT_MIN + BTL_PORT_RANGE - 1)]
    for preload in (False, True):
        name = "replay-enc" if preload else "replay-plain"
        args = unit + ([] if preload else ["--magic", "SEQMSG-UNIT"])
        bridge = tri.bridge(name, *args, "--replay", "3,8")
        rc, out, err = job(tri, preload, prog)
        bridge.stop()
        why = report(tri, bridge, rc, out, err)
        # None: killed, hung in MPI_Finalize after its summary (ran());
        # the summary below is what counts
        assert rc != 0, why
        assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
        if not preload:
            assert "recv 7: got message 2" in out, why
            assert "seqmsgs: 24 received, 0 refused, 1 wrong" in out, why
            continue
        check_replay_refused(tri, out, err, why, 7)
        assert "seqmsgs: 23 received, 1 refused, 0 wrong" in out, why


def test_guard_under_hydra(ns_hosts):
    """The guard is one library for both implementations: with it on both
    hosts, the ring under MPICH's libesmpi runs sealed (no marker on the
    link); without libesmpi every way MPICH 4 starts refuses on each
    host, saying which entry point and why: MPI_Init (ring), an MPI-4
    session from MPI_Session_init or PMPI_Session_init (session_init.c)
    and from mpi_f08, whose routine calls PMPI_Session_init itself."""
    hosts = ns_hosts()
    hosts.start_daemons()
    for h in hosts:
        hosts.guard(h)
    ring = nshosts.MPICH_EXAMPLES / "ring"
    (rc, out, err), data = hosts.captured_run("guard-enc", ring,
                                              preload=True, mpich=True)
    assert rc == 0 and "lap" in out, f"{out}\n{err}{hosts.logs()}"
    assert MARKER not in data and len(data) > 4000, "not sealed on the link"
    session = nshosts.MPICH_EXAMPLES / "session_init"
    rc, out, err = job(hosts, True, [session])
    assert rc == 0 and "received 'SESSION-MARKER-4c1e'" in out, \
        f"session under the guard: rc {rc}\n{out}\n{err}{hosts.logs()}"
    for prog, entry in (([ring], "MPI_Init"),
                        ([session], "MPI_Session_init"),
                        ([session, "pmpi"], "PMPI_Session_init"),
                        ([nshosts.MPICH_EXAMPLES / "fortran_session_f08"],
                         "PMPI_Session_init")):
        rc, out, err = job(hosts, False, prog)
        why = f"{prog}: rc {rc}\n{out}\n{err}"
        assert rc is not None and rc != 0, why
        refused = re.findall(r"esmpi-guard: (host[AB]): pid \d+: "
                             + entry + " refused: this node runs MPI only "
                             "with esmpi, and libesmpi is not loaded", err)
        assert sorted(refused) == ["hostA", "hostB"], why
        assert "lap" not in out and "received" not in out and \
            "session started" not in out, why
