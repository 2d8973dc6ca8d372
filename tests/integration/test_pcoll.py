# SPDX-License-Identifier: Apache-2.0
"""Persistent collectives (libclient/mpi/pcoll.c): examples/pcoll_check.c
runs every MPI_X_init (Open MPI 4.1: MPIX_X_init) several times with
restarts, Startall, the Wait/Test families on them, a derived datatype,
Request_free of inactive ones, and with MPICH's MPI-4 also
MPI_Comm_idup_with_info. The output is the same with and without
libesmpi at 2 and 4 ranks under Open MPI; under MPICH the protected runs
pass pcoll_check's own checks (plain MPICH 4.0.2's persistent
collectives do not, see below). Every rank sealed what it sent
(ESMPI_STATS=1), nothing went plain.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_pcoll.py
"""
import pytest

import mpi_helpers as mh
from test_mpich import assert_sealed

PROG = "pcoll_check"
BCAST_INIT = {False: "MPIX_Bcast_init", True: "MPI_Bcast_init"}
FAMILIES = ["bcast", "gather_scatter", "allgather", "alltoall", "reduce",
            "neighbor", "startall"]


def check_output(job, mpi4):
    lines = job.stdout.splitlines()
    want = FAMILIES + (["idup_with_info"] if mpi4 else [])
    assert lines[:-1] == [f"{f}: ok" for f in want], job.describe()
    m = mh.RESULT.match(lines[-1])
    assert m and m.group("name") == PROG, job.describe()


@pytest.mark.parametrize("np", [2, 4])
def test_pcoll_same_with_and_without_esmpi(daemon, np):
    prog = mh.example(PROG)
    plain = mh.mpirun(prog, np, preload=False)
    assert plain.returncode == 0, f"plain run failed\n{plain.describe()}"
    check_output(plain, False)
    mpich = False

    prot = mh.mpirun(prog, np, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, (
        f"pcoll_check fails under libesmpi (plain run passed)\n"
        f"{prot.describe()}\n--- esmpid\n{daemon.log()[-3000:]}")
    assert prot.stdout == plain.stdout, (
        f"output differs under libesmpi\n--- plain\n{plain.stdout}"
        f"--- esmpi\n{prot.stdout}")
    assert "refused" not in prot.stderr, prot.describe()
    # The init call on MPI_COMM_NULL: refused by esmpi, under its name.
    assert mh.rank_lines(prot.stderr, f"{BCAST_INIT[mpich]}: the "
                         "communicator is MPI_COMM_NULL") == set(range(np))
    assert_sealed(prot, np)
    daemon.wait_audit("session_open", count=np)


@pytest.mark.parametrize("np", [2, 4])
def test_pcoll_under_mpich(daemon, np):
    """Protected only: plain MPICH 4.0.2 mixes up the runs of several
    persistent collectives on one communicator (pcoll_check's gather gets
    the scatter's blocks and the other way round, its Startall hangs);
    esmpi runs each Start as MPICH's nonblocking collective, which keeps
    them apart. pcoll_check's own checks must pass."""
    prog = mh.example(PROG, mpich=True)
    mpich = True
    prot = mh.hydra(prog, np, socket=daemon.sock, x=("ESMPI_STATS=1",))
    assert prot.returncode == 0, (
        f"pcoll_check fails under MPICH's libesmpi\n{prot.describe()}"
        f"\n--- esmpid\n{daemon.log()[-3000:]}")
    check_output(prot, True)
    assert "refused" not in prot.stderr, prot.describe()
    # The init call on MPI_COMM_NULL: refused by esmpi, under its name.
    assert mh.rank_lines(prot.stderr, f"{BCAST_INIT[mpich]}: the "
                         "communicator is MPI_COMM_NULL") == set(range(np))
    assert_sealed(prot, np)
    daemon.wait_audit("session_open", count=np)
