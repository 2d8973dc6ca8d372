# SPDX-License-Identifier: Apache-2.0
"""libesmpi for MPICH (build-mpich/, ESMPI_MPI=mpich): the example
programs linked to MPICH 4.0.2 run under mpiexec.hydra with MPICH's
libesmpi preloaded (`-genv LD_PRELOAD=...`) and the shared esmpid of the
Open MPI build, and give the same rank-0 output as without the library;
every rank's messages went sealed (ESMPI_STATS=1: its record counts).

Three bugs of Debian's MPICH 4.0.2 shape the cases (plain MPICH, no
libesmpi involved): a nonblocking receive from MPI_PROC_NULL completes
with source 0 and tag 0, which halo.c checks (it fails alike with and
without the library); MPI_Reduce with MPI_IN_PLACE crashes in the ch4
device's collectives (coll_check runs with MPIR_CVAR_DEVICE_COLLECTIVES
=none, plain and protected); argcheck.c's invalid arguments crash plain
MPICH (an assertion in its datatype engine), so it runs only protected,
where esmpi's own checks answer. And one difference that is no bug:
when a topology lists one peer twice (coll_check's multigraph and, at 2
ranks, its periodic ring), which of that peer's blocks fills which slot
is the implementation's choice, made by MPICH's Neighbor_alltoall(v)
under esmpi too, and its plain Neighbor_alltoall and its alltoallv (which
carries esmpi's records) choose differently: coll_check's own checks
(each slot holds a block of the right peer) pass, its checksum differs.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_mpich.py
(scripts/build.sh builds both trees; $ESMPI_MPICH_BUILD overrides
build-mpich/).
"""
import re
from pathlib import Path

import pytest

import mpi_helpers as mh
from test_conformance import assert_same
from test_mpi_p2p import ARGCHECK_EXPECTED, CASES, result_line

COLL_RANKS = (2, 3, 4, 8)
SPECIAL = ("halo", "argcheck")
PARAMS = [pytest.param(name, np, id=f"{name}-np{np}")
          for name, nps in CASES for np in nps if name not in SPECIAL]
PARAMS += [pytest.param("coll_check", np, id=f"coll_check-np{np}")
           for np in COLL_RANKS]
ALL = [name for name, _ in CASES] + ["coll_check", "collective_probe",
                                     "session_init", "sessions",
                                     "fortran_session_f08",
                                     "fortran_calls", "fortran_calls_f08",
                                     "fortran_mpifh", "fortran_mpi",
                                     "fortran_mpi_f08",
                                     "pmpi_init", "status_fields",
                                     "persist_self", "rma_check",
                                     "large_count", "fortran_large_f08",
                                     "mpi4_p2p", "dynamic", "fortran_spawn"]

# coll_check's MPICH settings, plain and protected alike. Its ch4
# collectives crash on the in-place Reduce. And its default Allgatherv for
# large blocks is a ring pipelined in 32 KiB pieces, each step a round
# through every rank: with the ranks oversubscribed (8 on 2 cores) that
# one family took 12 of the 34 s of a plain run and half the CPU time of
# a protected one; Bruck's algorithm gives the same result in 1.3 s.
COLL_MPICH = ("MPIR_CVAR_DEVICE_COLLECTIVES=none",
              "MPIR_CVAR_ALLGATHERV_INTRA_ALGORITHM=brucks")

# ESMPI_STATS=1: each rank's line at MPI_Finalize (mpi/init.c).
STATS = re.compile(r"esmpi: rank (\d+): stats: sealed (\d+) \(same node "
                   r"\d+\), plain (\d+)")


@pytest.fixture(scope="module", autouse=True)
def mpich_built():
    missing = mh.missing_examples(ALL, mpich=True)
    if not mh.MPICH_LIBESMPI.exists():
        missing.append(str(mh.MPICH_LIBESMPI))
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (scripts/build.sh "
                    f"builds {mh.MPICH_BUILD} for MPICH)", pytrace=False)


def assert_sealed(job, np):
    """Every rank sealed what it sent (ESMPI_STATS), nothing went plain."""
    for rank, (sealed, plain_sent) in sealed_counts(job, np).items():
        assert sealed > 0 and plain_sent == 0, (rank, sealed, plain_sent,
                                                job.stderr)


def sealed_counts(job, np):
    """rank -> (records sealed, messages sent plain), from every rank."""
    seen = {int(m[0]): (int(m[1]), int(m[2]))
            for m in STATS.findall(job.stderr)}
    assert set(seen) == set(range(np)), (
        f"want a stats line from each of {np} ranks\n{job.describe()}")
    return seen


@pytest.mark.parametrize("name, np", PARAMS)
def test_example_same_under_mpich(daemon, name, np):
    prog = mh.example(name, mpich=True)
    x = COLL_MPICH if name == "coll_check" else ()
    plain = mh.hydra(prog, np, preload=False, x=x)
    assert plain.returncode == 0, f"plain run failed\n{plain.describe()}"
    result_line(name, plain)

    prot = mh.hydra(prog, np, socket=daemon.sock,
                    x=("ESMPI_STATS=1",) + x)
    assert prot.returncode == 0, (
        f"{name} fails under MPICH's libesmpi (plain run passed)\n"
        f"{prot.describe()}\n--- esmpid\n{daemon.log()[-3000:]}")
    same = prot.stdout.splitlines(), plain.stdout.splitlines()
    if name == "coll_check":	# see above: not the checksum
        same = [lines[:-1] for lines in same]
    assert same[0] == same[1], (
        f"rank-0 output differs under libesmpi\n--- plain\n{plain.stdout}"
        f"--- esmpi\n{prot.stdout}")
    daemon.wait_audit("session_open", count=np)
    assert_sealed(prot, np)
    if name == "truncate":
        assert "MPI_ERR_TRUNCATE" in prot.stdout


PROC_NULL_BUG = re.compile(r"check failed: st\[[01]\]\.MPI_SOURCE == "
                           r"(left|right): ")


@pytest.mark.parametrize("np", (2, 4))
def test_halo_same_under_mpich_despite_its_proc_null_status(daemon, np):
    """halo.c checks the source of its receives from MPI_PROC_NULL at the
    open boundary: MPICH 4.0.2 reports 0 there, so the example fails,
    with the library exactly as without it (untracked, such receives get
    MPICH's own status), and on nothing else."""
    prog = mh.example("halo", mpich=True)
    plain = mh.hydra(prog, np, preload=False)
    # hydra may interleave another rank's line into one: the pattern
    # matches only the start of a failed check.
    prot = mh.hydra(prog, np, socket=daemon.sock, x=("ESMPI_STATS=1",))
    for job in (plain, prot):
        assert job.returncode == 1, job.describe()
        fails = [line for line in job.stderr.splitlines()
                 if "check failed" in line]
        assert fails and all(PROC_NULL_BUG.search(line) for line in fails), \
            job.describe()
    assert prot.stdout.splitlines()[:2] == plain.stdout.splitlines()[:2], (
        f"--- plain\n{plain.stdout}--- esmpi\n{prot.stdout}")
    assert "checksum" in prot.stdout.splitlines()[1]
    assert_sealed(prot, np)


def test_argcheck_under_mpich(daemon):
    """argcheck.c's invalid calls get the error classes Open MPI gives
    (esmpi checks the arguments before MPICH sees them); truncated
    receives report MPI_ERR_TRUNCATE (MPICH's count then is what fitted,
    not the message's size, so the count is not compared)."""
    prog = mh.example("argcheck", mpich=True)
    prot = mh.hydra(prog, 2, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, prot.describe()
    result_line("argcheck", prot)
    out = prot.stdout.splitlines()
    for want in ARGCHECK_EXPECTED:
        want = want.split(", count")[0] if "TRUNCATE" in want else want
        assert any(line.startswith(f"argcheck: {want}") for line in out), (
            f"argcheck: no line '{want}'\n{prot.stdout}")
    assert_sealed(prot, 2)


@pytest.mark.parametrize("name, np", [("status_fields", 2),
                                      ("persist_self", 1),
                                      ("persist_self", 3)])
def test_statuses_as_plain_mpich(daemon, name, np):
    """Statuses field by field as plain MPICH leaves them (issue 20's
    programs, test_conformance.py): MPICH reports nothing of a send in its
    status where Open MPI reports its tag and count, so esmpi sets a send's
    status as the implementation does (impl/)."""
    prog = mh.example(name, mpich=True)
    plain = mh.hydra(prog, np, preload=False)
    assert plain.returncode == 0, f"plain run failed\n{plain.describe()}"
    prot = mh.hydra(prog, np, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, (
        f"{name} fails under MPICH's libesmpi (plain run passed)\n"
        f"{prot.describe()}\n--- esmpid\n{daemon.log()[-3000:]}")
    assert_sealed(prot, np)
    # assert_same refuses any esmpi line on stderr: not the stats lines.
    prot.stderr = "".join(ln for ln in prot.stderr.splitlines(True)
                          if not STATS.match(ln))
    assert_same(plain, prot, name)


# ------------------------------------------------------------ Fortran
# MPICH's mpif.h and `use mpi` bindings call the C MPI_X, so do its
# mpi_f08 routines with a choice buffer; the other mpi_f08 routines
# (Init, Finalize, Wait/Test, probes, Start, Request_free, communicator
# constructors, ...) call PMPI_X themselves: MPICH's libesmpi defines
# those (gen_wrappers.py --impl mpich, pmpi/mpich_f08_pmpi.lst).
FORTRAN = {"fortran_mpifh": "mpif.h", "fortran_mpi": "use mpi",
           "fortran_mpi_f08": "use mpi_f08"}


@pytest.mark.parametrize("name", list(FORTRAN))
def test_fortran_binding_same_under_mpich(daemon, name):
    from test_fortran import expected
    prog = mh.example(name, mpich=True)
    plain = mh.hydra(prog, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout == expected(FORTRAN[name], 2), plain.describe()
    prot = mh.hydra(prog, 2, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == plain.stdout, prot.describe()
    # The Fortran MPI_Init ran ours on every rank; all went sealed.
    daemon.wait_audit("session_open", count=2)
    assert_sealed(prot, 2)


def test_fortran_calls_under_mpich(daemon):
    """fortran_calls checks many conversions itself. `use mpi_f08`: all
    pass under esmpi, while plain MPICH 4.0.2's f08 MPI_Waitany returns a
    0-based index (its bug; esmpi's f08 entry point returns the 1-based
    one). `use mpi`: MPICH's mpif.h MPI_Waitany returns MPI_UNDEFINED + 1
    once no request is active (its binding adds 1 after the C call, ours
    under esmpi), so the program stops there with and without esmpi."""
    f08 = mh.example("fortran_calls_f08", mpich=True)
    prot = mh.hydra(f08, 2, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == "fortran_calls (use mpi_f08): 2 ranks OK\n", \
        prot.describe()
    assert_sealed(prot, 2)
    plain = mh.hydra(f08, 2, preload=False)
    assert plain.returncode != 0 and \
        "FAILED waitany index" in plain.stdout, plain.describe()

    f90 = mh.example("fortran_calls", mpich=True)
    fails = []
    for job in (mh.hydra(f90, 2, preload=False),
                mh.hydra(f90, 2, socket=daemon.sock)):
        assert job.returncode != 0, job.describe()
        fails.append({line.split("FAILED ", 1)[1] for line in
                      job.stdout.splitlines() if "FAILED" in line})
    assert fails[0] == fails[1] == {"waitany"}, fails


# ------------------------------------------ MPI started past MPI_Init
BYPASS = ("MPI was initialized with PMPI_Init, bypassing esmpi; refusing "
          "to send unprotected")
NO_INIT = ("MPI is used without esmpi's start (a session from "
           "PMPI_Session_init, or a call before MPI_Init or "
           "MPI_Session_init)")


def test_mpi_started_past_mpi_init_fails_closed(daemon):
    """MPI initialized while libesmpi is not active: PMPI_Init
    (pmpi_init.c), an MPI-4 session from PMPI_Session_init
    (session_init.c pmpi). Plain MPICH delivers the marker (point to
    point, broadcast, Put into a window); under esmpi every payload call
    and window is refused saying why, and the marker never arrives. The
    same session from MPI_Session_init, and mpi_f08's MPI_Session_init
    (whose MPICH routine calls PMPI_Session_init itself), go through
    esmpi: they run, sealed."""
    marker = "PMPI-INIT-MARKER-7f3a9c"
    prog = mh.example("pmpi_init", mpich=True)
    plain = mh.hydra(prog, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    for call in ("MPI_Irecv: MPI_SUCCESS, received", "MPI_Bcast: "
                 "MPI_SUCCESS, has", "MPI_Win_create, MPI_Put: MPI_SUCCESS, "
                 "has"):
        assert f"rank 1: {call} '{marker}'" in plain.stdout, plain.describe()
    job = mh.hydra(prog, 2, socket=daemon.sock)
    assert job.returncode != 0, job.describe()
    assert mh.rank_lines(job.stderr, BYPASS) == {0, 1}, job.describe()
    for rank in (0, 1):
        for call in (f"MPI_{'Send' if rank == 0 else 'Irecv'}", "MPI_Bcast",
                     "MPI_Win_create, MPI_Put"):
            assert f"rank {rank}: {call}: esmpi: MPI was initialized " \
                f"with PMPI_Init" in job.stdout, job.describe()
    assert marker not in job.stdout, job.describe()

    marker = "SESSION-MARKER-4c1e"
    prog = mh.example("session_init", mpich=True)
    for args in ((), ("pmpi",)):
        plain = mh.hydra(prog, 2, preload=False, args=args)
        assert plain.returncode == 0, plain.describe()
        assert f"received '{marker}'" in plain.stdout, plain.describe()
        assert f"rank 1: MPI_Win_create, MPI_Put: MPI_SUCCESS, has " \
            f"'{marker}'" in plain.stdout, plain.describe()
        job = mh.hydra(prog, 2, socket=daemon.sock, args=args,
                       x=("ESMPI_STATS=1",))
        if not args:	# esmpi's MPI_Session_init: as plain, sealed
            assert job.returncode == 0, job.describe()
            assert sorted(job.stdout.splitlines()) == \
                sorted(plain.stdout.splitlines()), job.describe()
            assert NO_INIT not in job.stderr, job.describe()
            assert_sealed(job, 2)
            continue
        # PMPI_: the session runs, the send, receive and window do not
        assert job.returncode != 0, job.describe()
        assert job.stderr.count(NO_INIT) >= 2, job.describe()
        assert marker not in job.stdout, job.describe()
        assert "rank 0: MPI_Send: Other MPI error" in job.stdout, \
            job.describe()
        assert "rank 1: MPI_Irecv: Other MPI error" in job.stdout, \
            job.describe()
        for rank in (0, 1):
            assert f"rank {rank}: MPI_Win_create, MPI_Put: Other MPI " \
                "error" in job.stdout, job.describe()

    prog = mh.example("fortran_session_f08", mpich=True)
    plain = mh.hydra(prog, 2, preload=False)
    assert plain.stdout.count("allreduce: ierr=0 total=3") == 2, \
        plain.describe()
    job = mh.hydra(prog, 2, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert job.returncode == 0, job.describe()
    assert job.stdout.count("session started: ierr=0") == 2, job.describe()
    assert job.stdout.count("allreduce: ierr=0 total=3") == 2, \
        job.describe()
    assert_sealed(job, 2)


def test_sessions_model_under_mpich(daemon):
    """sessions.c: no MPI_Init; a communicator from mpi://WORLD, point to
    point, collectives, an intercommunicator from two groups, a second
    session's mpi://SELF communicator. Under esmpi the same checksum as
    plain MPICH, every rank's traffic sealed and none plain, and one
    esmpi session per rank with its daemon (3 ranks: unequal groups).
    Then mixed with the world model, in both orders."""
    prog = mh.example("sessions", mpich=True)
    plain = mh.hydra(prog, 3, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout.startswith("sessions: OK checksum"), plain.describe()
    prot = mh.hydra(prog, 3, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, (
        f"{prot.describe()}\n--- esmpid\n{daemon.log()[-3000:]}")
    assert prot.stdout == plain.stdout, (
        f"--- plain\n{plain.stdout}--- esmpi\n{prot.stdout}")
    assert_sealed(prot, 3)
    opens = daemon.wait_audit("session_open", count=3)
    assert sorted(e.get("ESMPI_RANK") for e in opens) == ["0", "1", "2"]
    assert len({e.get("ESMPI_JOB") for e in opens}) == 1, daemon.log()

    # Both models in one process: MPI_Init before or after the first
    # session, MPI_Finalize while it is open; esmpi started once, ended
    # by the last holder (one stats line per rank).
    for order in ("init-first", "init-later"):
        plain = mh.hydra(prog, 2, preload=False, args=(order,))
        assert plain.returncode == 0, plain.describe()
        assert plain.stdout.startswith("sessions: OK"), plain.describe()
        prot = mh.hydra(prog, 2, socket=daemon.sock, args=(order,),
                        x=("ESMPI_STATS=1",))
        assert prot.returncode == 0 and prot.stdout == plain.stdout, \
            f"{order}\n{prot.describe()}\n--- plain\n{plain.stdout}"
        assert_sealed(prot, 2)
        assert prot.stderr.count("stats: sealed") == 2, prot.describe()


# ----------------------------------------------------------- esmpirun
def test_esmpirun_runs_mpich_programs(daemon, workdir):
    """esmpirun sees that ring is linked to MPICH (ldd) and starts it
    under mpiexec.hydra with MPICH's libesmpi (-genv LD_PRELOAD) and the
    ESMPI_* settings (-genvlist); --mpi mpich says so where it cannot see
    it (a program started through sh). --private-output is Open MPI's
    only, refused by name."""
    import os
    import esmpi_it as it
    esmpirun = it.BUILD / "libclient" / "esmpirun"
    ring = mh.example("ring", mpich=True)
    plain = mh.hydra(ring, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(ESMPI_SOCKET=str(daemon.sock), ESMPI_STATS="1")
    for cmd in ([esmpirun, "-n", "2", ring],
                [esmpirun, "--mpi", "mpich", "-n", "2", "/bin/sh", "-c",
                 f"exec {ring}"]):
        job = mh._run([str(c) for c in cmd], env, mh.MPIRUN_TIMEOUT,
                      "esmpirun")
        assert job.returncode == 0, job.describe()
        assert job.stdout == plain.stdout, job.describe()
        assert_sealed(job, 2)
    job = mh._run([str(esmpirun), "--private-output", str(workdir), "-n",
                   "2", str(ring)], env, mh.MPIRUN_TIMEOUT, "esmpirun")
    assert job.returncode == 2 and "--private-output: Open MPI only" in \
        job.stderr, job.describe()


# ------------------------------------- unmodified Debian MPICH binaries
SCALAPACK = Path("/usr/lib/x86_64-linux-gnu/scalapack/mpich-tests")
# ScaLAPACK's LU tester on two small sizes and two 2-rank grids (its
# default LU.dat runs ~1000 cases); no condition estimate and iterative
# refinement, whose PDGETRS call the Debian tester gets wrong with MPICH
# (parameter 1 refused, then a hang), plain as under esmpi.
LU_DAT = """'SCALAPACK, LU factorization input file'
'MPI Machine'
'LU.out'		output file name (if any)
6			device out
2			number of problems sizes
31 64			values of M
31 64			values of N
1			number of NB's
8			values of NB
1			number of NRHS's
3			values of NRHS
1			Number of NBRHS's
3			values of NBRHS
2			number of process grids (ordered pairs of P & Q)
1 2			values of P
2 1			values of Q
1.0			threshold
F			(T or F) Test Cond. Est. and Iter. Ref. Routines
"""


def test_debian_mpich_binaries_sealed(daemon, workdir, monkeypatch):
    """Unmodified binaries of Debian's MPICH packages under LD_PRELOAD:
    netpipe-mpich2's NPmpich2 (2 ranks, up to 256 KiB) and ScaLAPACK's
    LU tester of scalapack-mpi-test (xdlu, 2 ranks): the same verdicts
    as plain (NPmpich2 the same sizes, xdlu every check PASSED), and every
    rank's messages sealed."""
    import shutil
    netpipe = shutil.which("NPmpich2")
    xdlu = SCALAPACK / "xdlu"
    if netpipe is None or not xdlu.exists():
        pytest.fail("NPmpich2 or xdlu not found (netpipe-mpich2, "
                    "scalapack-mpi-test: scripts/install-deps.sh)",
                    pytrace=False)
    monkeypatch.chdir(workdir)	# NPmpich2's -o, xdlu's LU.dat
    (workdir / "LU.dat").write_text(LU_DAT)
    sizes = []
    for preload in (False, True):
        out = workdir / f"np-{preload}.out"
        job = mh.hydra(netpipe, 2, socket=daemon.sock, preload=preload,
                       x=("ESMPI_STATS=1",),
                       args=("-n", "10", "-p", "0", "-u", "262144", "-o",
                             out))
        assert job.returncode == 0, job.describe()
        sizes.append([line.split()[0] for line in
                      out.read_text().splitlines()])
        if preload:
            assert_sealed(job, 2)
    assert sizes[0] == sizes[1] and "262144" in sizes[0], sizes

    verdicts = []
    for preload in (False, True):
        job = mh.hydra(xdlu, 2, socket=daemon.sock, preload=preload,
                       x=("ESMPI_STATS=1",))
        assert job.returncode == 0, job.describe()
        checks = re.findall(r"^WALL .* (PASSED|FAILED)$", job.stdout, re.M)
        assert checks == ["PASSED"] * 4, job.describe()
        assert "4 tests completed and passed residual checks" in \
            job.stdout, job.describe()
        verdicts.append(checks)
        if preload:
            assert_sealed(job, 2)
    assert verdicts[0] == verdicts[1]


def test_rma_same_under_mpich(daemon):
    """One-sided communication (rma_check: every operation and
    synchronisation mode) under MPICH's libesmpi, 3 ranks: the same output
    as plain MPICH, every rank sealed what it sent."""
    prog = mh.example("rma_check", mpich=True)
    plain = mh.hydra(prog, 3, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert "rma_check: 3 ranks, all ok" in plain.stdout, plain.describe()
    prot = mh.hydra(prog, 3, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == plain.stdout
    assert_sealed(prot, 3)


LARGE_REFUSALS = (
    "MPI_Allgatherv_c: recvcounts[2] = 2147483652 does not fit in an int",
    "MPI_Allreduce_c: count = 3221225472 does not fit in an int")


def test_large_count_forms_under_mpich(daemon, tmp_path):
    """MPI-4's large-count _c forms (large_count.c: point to point,
    Bcast/Allreduce/Allgatherv/Alltoallv/Reduce_scatter with MPI_Count
    arrays, Get_count_c, Win_allocate_c/Put_c/Get_c, File_write_at_all_c/
    File_read_at_c/File_get_type_extent_c, a count beyond
    INT_MAX of a zero-size type), 3 ranks: the same output as plain MPICH,
    sealed; then, protected only, counts esmpi cannot carry refused as
    MPI_ERR_COUNT with a message naming the call and the argument."""
    prog = mh.example("large_count", mpich=True)
    data = tmp_path / "large_count.dat"
    plain = mh.hydra(prog, 3, preload=False, args=(data,))
    assert plain.returncode == 0, plain.describe()
    assert "large_count: OK checksum" in plain.stdout, plain.describe()
    prot = mh.hydra(prog, 3, socket=daemon.sock, x=("ESMPI_STATS=1",),
                    args=(data, "refuse"))
    assert prot.returncode == 0, prot.describe()
    lines = prot.stdout.splitlines()
    assert lines == ["large_count: refused as MPI_ERR_COUNT",
                     *plain.stdout.splitlines()], prot.describe()
    assert_sealed(prot, 3)
    for msg in LARGE_REFUSALS:
        assert msg in prot.stderr, prot.describe()


def test_fortran_large_count_forms_under_mpich(daemon):
    """`use mpi_f08` with MPI_COUNT_KIND counts and an MPI_ADDRESS_KIND
    disp_unit (fortran_large_f08): Send/Recv/Get_count reach the C _c
    wrappers, Buffer_detach and Win_allocate libesmpi's own
    mpi_x_f08_large_ entry points; same output as plain MPICH, sealed."""
    prog = mh.example("fortran_large_f08", mpich=True)
    plain = mh.hydra(prog, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout == "fortran_large_f08: 2 ranks OK\n", \
        plain.describe()
    prot = mh.hydra(prog, 2, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == plain.stdout, prot.describe()
    assert_sealed(prot, 2)


def test_mpi4_point_to_point_sealed_under_mpich(daemon):
    """MPI-4's Isendrecv(_replace)(_c), partitioned point-to-point (8
    partitions sent, 4 received; Pready, Pready_range, Pready_list,
    Parrived) and the persistent v/w collectives' _init_c forms
    (mpi4_p2p, 3 ranks): the same results as plain MPICH, sealed. Four
    lines differ, and must: the bytes of an Isendrecv on the wire (rank 1
    takes them by PMPI_Recv) hold the marker in plain MPICH only, and
    bytes sent by PMPI_Send into an Isendrecv's receive are delivered by
    plain MPICH, refused (audited) by libesmpi; the same for a partitioned
    message (PMPI_Precv_init, PMPI_Psend_init)."""
    prog = mh.example("mpi4_p2p", mpich=True)
    plain = mh.hydra(prog, 3, preload=False)
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout.splitlines()[:4] == [
        "wire: marker in plaintext", "forged: delivered",
        "partitioned wire: marker in plaintext",
        "partitioned forged: delivered"], plain.describe()
    assert "mpi4_p2p: OK checksum" in plain.stdout, plain.describe()
    prot = mh.hydra(prog, 3, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, prot.describe()
    lines = prot.stdout.splitlines()
    assert lines[:4] == ["wire: marker not on the wire", "forged: refused",
                         "partitioned wire: marker not on the wire",
                         "partitioned forged: refused"], prot.describe()
    assert lines[4:] == plain.stdout.splitlines()[4:], prot.describe()
    assert_sealed(prot, 3)
    for tag in (79, 83):    # the forged Isendrecv and partitioned ones
        assert (f"integrity failure: message from rank 0 (world 0) to rank "
                f"1 (world 1) on communicator '(unnamed)' tag {tag} "
                f"refused") in prot.stderr, prot.describe()
    daemon.wait_audit("integrity_failure", count=2)


# ------------------------------------------------- dynamic processes
# Debian's MPICH 4.0.2 is built with the ch4:ucx device alone, whose netmod
# cannot name its processes to another job: MPI_Open_port fails, and so
# every dynamic process (Comm_accept/connect, Comm_join, and
# Comm_spawn(_multiple), whose root opens a port), plain MPICH itself.
NO_PORT = ("MPIDI_UCX_get_local_upids(31): The function is currently not "
           "supported with ucx netmod")
NO_SPAWN = "MPID_Comm_spawn_multiple(86): Error in spawn call"
# MPICH's error stack, without what differs from run to run (addresses,
# codes, and which rank aborted the job first)
ADDR = re.compile(r"0x[0-9a-f]+|(?<=Abort\()\d+|(?<=fd=)\d+|"
                  r"(?<=node )\d+|(?<=rank )\d+")


def mpich_errors(job):
    return sorted({ADDR.sub("N", line) for line in job.stderr.splitlines()
                   if "Fatal error" in line or re.match(r"\w+\(\d+\)",
                                                        line)})


def test_dynamic_processes_fail_alike_under_mpich(daemon, workdir):
    """examples/dynamic.c (spawn and spawn_multiple, MPI_Open_port before
    an accept, join between two ranks) and fortran_spawn's three spawns
    on one rank (`use mpi`'s MPI_Comm_spawn; mpi_f08's MPI_Comm_spawn_multiple with
    MPI_ERRCODES_IGNORE and MPI_Comm_spawn with MPI_ARGV_NULL, whose
    entry points libesmpi defines): plain MPICH fails each (see above).
    Under libesmpi each call reaches MPICH with the same arguments (the
    Fortran strings converted, the f08 sentinels mapped to NULL: MPICH's
    error stack shows them) and fails with MPICH's own error, as plain:
    no refusal, no internal error, no hang."""
    port = workdir / "port"
    cases = [("dynamic", 1, ("spawn",), NO_SPAWN),
             ("dynamic", 1, ("accept", port), NO_PORT),
             ("dynamic", 2, ("join",), NO_PORT),
             # One rank: the root's stack alone (elsewhere libesmpi
             # passes NULL for the arrays MPI reads at the root only).
             ("fortran_spawn", 1, (), NO_SPAWN),
             ("fortran_spawn", 1, ("spawn_multiple",), "array_of_errcodes="
              "(nil)) failed"),
             ("fortran_spawn", 1, ("argv_null",), "argv=(nil), maxprocs=1")]
    for name, np, args, why in cases:
        prog = mh.example(name, mpich=True)
        plain = mh.hydra(prog, np, preload=False, args=args)
        prot = mh.hydra(prog, np, socket=daemon.sock, args=args)
        for job in (plain, prot):
            assert job.returncode != 0 and why in job.stderr, job.describe()
            assert "child" not in job.stdout, job.describe()
        assert f"command={prog}," in plain.stderr or "spawn" not in args, \
            plain.describe()
        assert "internal error" not in prot.stderr and \
            "refus" not in prot.stderr, prot.describe()
        assert mpich_errors(prot) == mpich_errors(plain), (
            f"--- plain\n{plain.stderr}--- esmpi\n{prot.stderr}")
    assert not daemon.audit("unprotected_call"), daemon.log()
