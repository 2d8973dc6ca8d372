# SPDX-License-Identifier: Apache-2.0
"""One-sided communication (examples/rma_check.c: every operation and
synchronisation mode, contiguous and derived datatypes) gives the same
output plain and under esmpi, and its errors are clear MPI errors; its
window keys follow esmpictl rotate."""
import os
import re
import subprocess

import pytest

import esmpi_it as it
import mpi_helpers as mh
import nshosts

PROG = mh.example("rma_check")
# Plain Open MPI 4.1.4's default osc/rdma crashes on Fetch_and_op and
# Compare_and_swap over shared memory (btl/vader's atomics); pt2pt (with
# sm for shared-memory windows) works.
PLAIN_OSC = ("OMPI_MCA_osc=sm,pt2pt",)


@pytest.mark.parametrize("np", [2, 3, 4, 8])
def test_rma_same_as_plain(daemons, np):
    d = daemons(f"rma{np}")
    ref = mh.mpirun(PROG, np, preload=False, x=PLAIN_OSC)
    assert ref.returncode == 0, ref.describe()
    assert f"rma_check: {np} ranks, all ok" in ref.stdout
    # esmpi under MPI's default osc: it never moves window data
    prot = mh.mpirun(PROG, np, socket=d.sock)
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == ref.stdout


def test_rma_errors(daemons):
    d = daemons("rmaerr")
    job = mh.mpirun(PROG, 2, socket=d.sock, args=["--errors"])
    assert job.returncode == 0, job.describe()
    assert "target out of range: MPI_ERR_RANK" in job.stdout
    assert ("displacement outside the window: MPI_ERR_RMA_RANGE"
            in job.stdout)
    assert "target rank 5 out of range (window of 2 ranks)" in job.stderr
    assert "reach outside rank 0's window of 16 bytes" in job.stderr
    # ESMPI_RMA=off: MPI at the application's level, windows refused
    off = mh.mpirun(PROG, 2, socket=d.sock, args=["--errors"],
                    x=("ESMPI_RMA=off",))
    assert off.returncode != 0, off.describe()
    assert ("MPI_Win_create: one-sided communication is off in this job "
            "(ESMPI_RMA=off" in off.stderr), off.describe()
    assert "internal error" not in off.stderr, off.describe()
    bad = mh.mpirun(PROG, 2, socket=d.sock, args=["--errors"],
                    x=("ESMPI_RMA=maybe",))
    assert bad.returncode != 0, bad.describe()
    assert "ESMPI_RMA='maybe' is none of auto" in bad.stderr, bad.describe()


def test_rma_only_where_imported(daemons):
    """By default MPI starts at THREAD_MULTIPLE (one-sided on) only in a
    program that imports a window function: rma_check does, ring not.
    Under Open MPI requests are served from the progress loop of a rank
    waiting in MPI (ESMPI_STATS counts them)."""
    d = daemons("rmaauto")
    on = mh.mpirun(PROG, 2, socket=d.sock, x=("ESMPI_STATS=1",))
    assert on.returncode == 0, on.describe()
    assert re.search(r"one-sided on \(the program imports "
                     r"MPI_Win_(create|allocate)", on.stderr), on.describe()
    # Open MPI: a target waiting in MPI serves from its progress loop
    served = [int(n) for n in re.findall(
        r"one-sided requests served (\d+) in MPI's progress loop",
        on.stderr)]
    assert len(served) == 2 and sum(served) > 0, on.describe()
    off = mh.mpirun(mh.example("ring"), 2, socket=d.sock,
                    x=("ESMPI_STATS=1",))
    assert off.returncode == 0, off.describe()
    assert off.stderr.count("one-sided off (no window function "
                            "imported)") == 2, off.describe()


def test_rma_marker_never_on_the_wire(ns_hosts, workdir):
    """Across two namespace hosts, Put data crosses the veth in plaintext
    under plain MPI's osc/pt2pt (which really moves it over TCP) and never
    under esmpi, whatever osc the command line asks for."""
    nshosts.need("tshark")
    hosts = ns_hosts()
    prog = nshosts.example(workdir, "rma_check")
    hosts.start_daemons()
    marker = "--marker"     # the program makes it: not in the launch
    (rc, plain, err), pcap = hosts.captured_run(
        "rma-plain", [str(prog), marker], preload=False,
        x=("OMPI_MCA_osc=sm,pt2pt",))
    assert rc == 0, f"plain job failed ({rc}):\n{plain}\n{err}"
    assert "rma_check: 2 ranks, all ok" in plain
    assert pcap.count(nshosts.MARKER) >= 1, \
        "capture saw no plaintext marker: the plain job moved no data?"
    (rc, enc, err), pcap = hosts.captured_run(
        "rma-enc", [str(prog), marker], preload=True,
        x=("OMPI_MCA_osc=pt2pt",))
    assert rc == 0, f"esmpi job failed ({rc}):\n{enc}\n{err}\n{hosts.logs()}"
    assert enc == plain
    assert len(pcap) > 4000
    assert pcap.count(nshosts.MARKER) == 0


def test_rma_tampered_refused_and_audited(tri):
    """The tamper bridge alters every big TCP segment of one-sided traffic
    between the hosts (rma_check --tamper: a 16 KiB Put, then a 16 KiB
    Get's answer). The rank whose check fails refuses the message, says
    so, and its host's esmpid audits it; nothing is written into the
    target's window, and the Get's result buffer holds none of the answer
    (wiped, as a refused receive's buffer is); the origin's calls
    return esmpi's authentication error (the windows return errors)."""
    from test_tamper import tamper_args
    prog = [str(nshosts.example(tri.work, "rma_check")), "--tamper"]
    bridge = tri.bridge("rma", *tamper_args())
    rc, out, err = tri.run(prog, preload=True,
                           timeout=nshosts.ADVERSARY_TIMEOUT, hang_ok=True)
    bridge.stop()
    why = nshosts.report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert rc == 0, why
    auth = "esmpi: message failed authentication"
    # the Put: refused by rank 1's applier, reported to rank 0 at unlock
    assert f"put: {auth}" in out, why
    assert "put target window: unchanged" in out, why
    assert re.search(r"rank 1: integrity failure: one-sided message from "
                     r"window rank 0 refused \(.*\); nothing applied", err), why
    assert re.search(r"rank 0: MPI_Win_unlock: one-sided traffic with "
                     r"window rank 1 failed authentication", err), why
    # the Get's answer: refused by rank 0 itself
    assert f"get: {auth}" in out, why
    # opened into the buffer: wiped there, as a refused receive's is
    assert re.search(r"get result buffer: (unchanged|wiped)", out), why
    assert re.search(r"rank 0: integrity failure: one-sided message from "
                     r"window rank 1 refused", err), why
    assert "rma_check --tamper: done" in out, why
    for d, peer, rank in ((tri.b.daemon, "0", "1"), (tri.a.daemon, "1", "0")):
        evs = d.wait_audit("integrity_failure", timeout=5,
                           pred=lambda e: e.get("ESMPI_COMM") == "esmpi-rma"
                           and e.get("ESMPI_PEER") == peer)
        assert evs[0].get("ESMPI_RANK") == rank, evs


def test_rma_keys_follow_policy_limits(daemons, workdir):
    """The policy's rekey limits count window traffic too: under
    `rekey: {messages: 20}` rma_check's window chains step again and
    again (`rekey` audited for esmpi-rma, "message limit", on every rank),
    the peers follow them, and the output is plain's."""
    pol = workdir / "rma-limits.yaml"
    pol.write_text("version: 1\naccess: {users: [root]}\n"
                   "defaults:\n  rekey: {messages: 20}\n")
    d = daemons("rmalim", policy=str(pol))
    ref = mh.mpirun(PROG, 3, preload=False, x=PLAIN_OSC)
    assert ref.returncode == 0, ref.describe()
    prot = mh.mpirun(PROG, 3, socket=d.sock)
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == ref.stdout
    evs = d.wait_audit("rekey", count=3, pred=lambda e: e.get(
        "ESMPI_COMM") == "esmpi-rma" and "(message limit)" in e.get(
        "MESSAGE", ""))
    assert {e.get("ESMPI_RANK") for e in evs} == {"0", "1", "2"}, evs
    epochs = [int(m.group(1)) for e in evs for m in [re.search(
        r"epoch (\d+)", e.get("MESSAGE", ""))] if m]
    assert max(epochs) >= 3, evs


def test_rma_keys_follow_rotate(daemons, workdir):
    """esmpictl rotate --job, twice, while 2 ranks stream fence Put, Get
    and Fetch_and_op (each round checked): every rank's window chains
    step (origin side and applier: `rekey` audited for esmpi-rma, epoch
    1 then 2), the peers open the new epochs, and the rounds go on."""
    d = daemons("rot")
    stop = workdir / "rma.stop"
    p = subprocess.Popen(
        [str(it.BUILD / "libclient" / "esmpirun"), "-np", "2", str(PROG),
         "--stream", str(stop)], env=dict(os.environ, ESMPI_SOCKET=str(
             d.sock)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)

    def running():
        if p.poll() is not None:
            pytest.fail(f"the job ended ({p.returncode}):\n"
                        f"{p.stdout.read()}\n{p.stderr.read()}\n{d.log()}")
        return True

    try:
        st = it.wait_for(lambda: running() and (lambda s: s if len(
            [x for x in s["sessions"] if x["state"] == "keyed"]) == 2
            else None)(d.status()), timeout=30, what="two keyed sessions")
        job = st["sessions"][0]["job"]
        for epoch in (1, 2):
            r = d.ctl("rotate", "--job", job)
            assert r.returncode == 0, r.stderr
            assert "rekey pushed to 2 ranks" in r.stdout, r.stdout

            def stepped(e, epoch=epoch):
                return e.get("ESMPI_COMM") == "esmpi-rma" and \
                    f"epoch {epoch} (requested by esmpictl rotate)" in \
                    e.get("MESSAGE", "")
            # both sides of both ranks
            evs = it.wait_for(lambda: running() and (lambda v: v if len(
                v) >= 4 else None)([e for e in d.audit("rekey")
                                    if stepped(e)]),
                timeout=30, what=f"epoch {epoch} on both sides of both "
                "ranks")
            assert {e.get("ESMPI_RANK") for e in evs} == {"0", "1"}, evs
    finally:
        stop.touch()
        out, err = p.communicate(timeout=120)
    assert p.returncode == 0, f"{out}\n{err}"
    m = re.fullmatch(r"rma_check --stream: (\d+) rounds, all ok\n", out)
    assert m and int(m.group(1)) >= 2, f"{out}\n{err}"
