# SPDX-License-Identifier: Apache-2.0
"""Fortran is covered: libesmpi defines the Fortran entry points of every
protected or refused MPI function (Open MPI's Fortran bindings call PMPI_*
themselves, past the C wrappers). One example per binding (mpif.h,
use mpi, use mpi_f08): same output with and without esmpi, its marker on
the wire only without esmpi. fortran_calls (use mpi and use mpi_f08)
checks many conversions itself. Open MPI's persistent collectives
(MPIX_*_init) run sealed from Fortran as from C. Spawn from
Fortran (fortran_spawn) keys the intercommunicators like spawn from C."""
import secrets

import pytest

import mpi_helpers as mh
import nshosts
from test_mpich import assert_sealed
from test_wire import capture, stop

BINDINGS = {"fortran_mpifh": "mpif.h", "fortran_mpi": "use mpi",
            "fortran_mpi_f08": "use mpi_f08"}
CALLS = {"fortran_calls": "use mpi", "fortran_calls_f08": "use mpi_f08"}
# Programs running a persistent collective (Open MPI's MPIX_*_init, sealed
# by esmpi): what rank 0 prints at 2 ranks.
PCOLL = {"fortran_pcoll": "bcast run 1: 1 2 3 4\nbcast run 2: 2 4 6 8\n"
                          "bcast freed: ierr=0\n",
         "fortran_pcoll_f08": "allreduce run 1: 3 5 7 9\n"
                              "allreduce run 2: 5 9 13 17\n"
                              "allreduce freed: ierr=0\n"}
MARKER = b"ESMPI-FORTRAN-MARKER"


@pytest.fixture(autouse=True)
def fortran_examples():
    missing = mh.missing_examples([*BINDINGS, *CALLS, *PCOLL,
                                   "fortran_spawn", "fortran_win"])
    if missing:
        pytest.fail(f"Fortran examples not built (is gfortran installed? "
                    f"scripts/install-deps.sh): {missing}", pytrace=False)


def expected(binding, np):
    """What rank 0 prints: Bcast of 10,20,30,40, then Allreduce of
    value + rank over all ranks."""
    sums = " ".join(str(np * 10 * i + np * (np - 1) // 2) for i in range(1, 5))
    return f"{binding}: ranks={np} count=24\n{binding}: allreduce {sums}\n"


@pytest.mark.parametrize("np", [2, 4])
@pytest.mark.parametrize("name", list(BINDINGS))
def test_same_output_with_and_without_esmpi(daemons, name, np):
    d = daemons("f")
    plain = mh.mpirun(mh.example(name), np, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout == expected(BINDINGS[name], np), plain.describe()
    enc = mh.mpirun(mh.example(name), np, socket=d.sock)
    assert enc.returncode == 0, enc.describe()
    assert enc.stdout == plain.stdout, enc.describe()
    # Every rank opened a session: the Fortran MPI_Init ran ours.
    assert len(d.wait_audit("session_open", count=np)) >= np


@pytest.mark.parametrize("np", [2, 4])
@pytest.mark.parametrize("name", list(CALLS))
def test_many_calls_converted(daemons, name, np):
    """Request arrays, 1-based indices, statuses, probes, persistent and
    buffered sends, communicator constructors, MPI_BOTTOM, MPI_IN_PLACE
    and collectives, each checked by the program itself."""
    d = daemons("f")
    for preload in (False, True):
        job = mh.mpirun(mh.example(name), np, socket=d.sock,
                        preload=preload)
        assert job.returncode == 0, job.describe()
        assert job.stdout == f"fortran_calls ({CALLS[name]}): {np} ranks " \
                             f"OK\n", job.describe()


def test_c_ptr_windows(daemons):
    """`use mpi`'s TYPE(C_PTR) window forms (mpi_win_allocate_cptr_,
    mpi_win_allocate_shared_cptr_, mpi_win_shared_query_cptr_): Put and
    Get in fence epochs and a shared window through c_f_pointer, plain's
    output at 3 ranks. They reach esmpi's window code, not Open MPI's:
    with ESMPI_RMA=off esmpi refuses the window (Open MPI would make it)."""
    d = daemons("f")
    prog = mh.example("fortran_win")
    plain = mh.mpirun(prog, 3, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert "rank 2: window 101 102 103 104; got 1 2 3 4" in plain.stdout
    enc = mh.mpirun(prog, 3, socket=d.sock)
    assert enc.returncode == 0, enc.describe()
    assert enc.stdout == plain.stdout, enc.describe()
    off = mh.mpirun(prog, 2, socket=d.sock, x=["ESMPI_RMA=off"])
    assert off.returncode != 0, off.describe()
    assert "MPI_Win_allocate: " in off.stderr, off.describe()
    assert "ESMPI_RMA=off" in off.stderr, off.describe()


def _wire_run(workdir, tag, name, sock):
    pcap = workdir / f"{tag}.pcap"
    cap = capture(pcap)
    try:
        job = mh.mpirun(mh.example(name), 2, socket=sock,
                        preload=sock is not None)
    finally:
        stop(cap)
    assert job.returncode == 0, job.describe()
    return job.stdout, pcap.read_bytes()


@pytest.mark.parametrize("name", list(BINDINGS))
def test_marker_on_wire_only_without_esmpi(daemons, workdir, monkeypatch,
                                           name):
    # Force TCP over loopback so the payload crosses a capturable wire.
    monkeypatch.setenv("OMPI_MCA_btl", "tcp,self")
    monkeypatch.setenv("OMPI_MCA_btl_tcp_if_include", "lo")
    d = daemons("w")
    plain_out, plain = _wire_run(workdir, "plain", name, None)
    enc_out, enc = _wire_run(workdir, "enc", name, d.sock)
    assert plain_out == enc_out == expected(BINDINGS[name], 2)
    assert plain.count(MARKER) >= 2, "capture saw no plaintext traffic"
    assert len(enc) > 4000, "capture saw no encrypted traffic"
    assert enc.count(MARKER) == 0


def test_across_namespace_hosts(ns_hosts):
    """Each binding's program with one rank on each of two namespace hosts
    (own esmpid each, one CA): same output, its marker on the link only
    without esmpi."""
    nshosts.need("tshark")
    hosts = ns_hosts()
    hosts.start_daemons()
    for name, binding in BINDINGS.items():
        prog = mh.example(name)
        (rc, plain_out, err), plain = hosts.captured_run(
            f"{name}-plain", prog, preload=False)
        assert rc == 0, f"{name} plain ({rc}):\n{plain_out}\n{err}"
        (rc, enc_out, err), enc = hosts.captured_run(
            f"{name}-enc", prog, preload=True)
        assert rc == 0, f"{name} esmpi ({rc}):\n{enc_out}\n{err}" \
            f"{hosts.logs()}"
        assert plain_out == enc_out == expected(binding, 2)
        assert plain.count(MARKER) >= 2, f"{name}: no plaintext seen"
        assert len(enc) > 4000, f"{name}: no encrypted traffic seen"
        assert enc.count(MARKER) == 0, f"{name}: marker on the link"


def test_spawn_keyed_and_sealed(daemons, workdir, monkeypatch):
    """fortran_spawn from 2 ranks: `use mpi`'s MPI_Comm_spawn (an argv
    list), `use mpi_f08`'s MPI_Comm_spawn_multiple (argv lists of two
    lengths, MPI_ERRCODES_IGNORE) and MPI_Comm_spawn (MPI_ARGV_NULL). The
    children's arguments, the marker and the Allreduce on each
    intercommunicator as with plain Open MPI; over TCP on lo (children
    too), the capture of the plain run shows the marker, the esmpi run's
    never; each of the three links audited on both sides."""
    for k, v in {"OMPI_MCA_btl": "tcp,self", "OMPI_MCA_btl_tcp_if_include":
                 "lo", "OMPI_MCA_oob_tcp_if_include": "lo"}.items():
        monkeypatch.setenv(k, v)
    # In a file, read by the parents' rank 0 only: never in a launch
    # message. Other tests' traffic may cross lo: a marker of its own.
    marker = f"ESMPI-FSPAWN-{secrets.token_hex(8)}"
    (workdir / "marker").write_text(marker + "\n")
    d = daemons("s")
    outs, caps = [], []
    for preload in (False, True):
        pcap = workdir / f"spawn-{int(preload)}.pcap"
        cap = capture(pcap)
        try:
            job = mh.mpirun(mh.example("fortran_spawn"), 2, socket=d.sock,
                            preload=preload,
                            x=[f"FSPAWN_MARKER_FILE={workdir / 'marker'}"])
        finally:
            stop(cap)
        assert job.returncode == 0, job.describe()
        assert "internal error" not in job.stderr, job.describe()
        outs.append(sorted(job.stdout.splitlines()))
        caps.append(pcap.read_bytes())
    plain, enc = outs
    assert enc == plain, f"{plain}\n---\n{enc}"
    want = {f"child [<one><two words>] rank 0 of 2 got: {marker} "
            "allreduce 3",
            f"child [<multi><a>] rank 0 of 2 got: {marker} allreduce 3",
            "child [<multi><b><extra>] rank 1 of 2 allreduce 3",
            f"child [] rank 0 of 1 got: {marker} allreduce 3",
            "parent spawn rank 1 children 2 allreduce 300",
            "parent spawn_multiple rank 0 children 2 allreduce 300",
            "parent argv_null rank 1 children 1 allreduce 100"}
    assert want <= set(enc) and len(enc) == 11, enc
    assert caps[0].count(marker.encode()) >= 3, "no plaintext marker seen"
    assert len(caps[1]) > 20000, "capture saw no esmpi traffic"
    assert caps[1].count(marker.encode()) == 0
    keyed = d.wait_audit("link_keyed", count=6)
    assert len(keyed) == 6, [e.get("MESSAGE") for e in keyed]
    assert not d.audit("unprotected_call")


@pytest.mark.parametrize("name", list(PCOLL))
def test_persistent_collective_protected(daemons, name):
    """MPIX_*_init from Fortran runs sealed: the output of plain Open MPI
    (every rank prints the same lines), each rank's records sealed and
    nothing sent plain (ESMPI_STATS), nothing refused or audited."""
    d = daemons("f")
    prog = mh.example(name)
    plain = mh.mpirun(prog, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert sorted(plain.stdout.splitlines()) == \
        sorted(PCOLL[name].splitlines() * 2), plain.describe()
    job = mh.mpirun(prog, 2, socket=d.sock, x=("ESMPI_STATS=1",))
    assert job.returncode == 0, job.describe()
    assert sorted(job.stdout.splitlines()) == \
        sorted(plain.stdout.splitlines()), job.describe()
    assert_sealed(job, 2)
    assert not d.audit("unprotected_call")
