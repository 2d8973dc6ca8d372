# SPDX-License-Identifier: Apache-2.0
"""Python: mpi4py (Debian's python3-mpi4py) programs, pickled objects and
buffers, point-to-point and collectives, run unchanged under esmpi."""
import os
import subprocess

import esmpi_it as it

PROG = it.REPO / "examples" / "mpi4py_check.py"
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"
PY = "/usr/bin/python3"     # mpi4py is installed for Debian's python


def test_mpi4py_same_results(daemons):
    d = daemons("py")
    plain = subprocess.run(["mpirun", "--allow-run-as-root", "-np", "2",
                            PY, str(PROG)], capture_output=True, text=True,
                           timeout=120)
    assert plain.returncode == 0, plain.stderr
    env = dict(os.environ, ESMPI_SOCKET=str(d.sock))
    prot = subprocess.run([str(ESMPIRUN), "-np", "2", PY, str(PROG)],
                          env=env, capture_output=True, text=True,
                          timeout=120)
    assert prot.returncode == 0, prot.stderr
    assert prot.stdout == plain.stdout
    assert "mpi4py: {'k': [1, 2, 3]" in prot.stdout
    opens = d.wait_audit("session_open", count=2)
    assert {e["ESMPI_RANK"] for e in opens} == {"0", "1"}


def test_mpi4py_win_same_results(daemons):
    """mpi4py's MPI.Win (examples/mpi4py_win.py) under the default policy:
    same output as plain. Plain runs osc/pt2pt (Open MPI 4.1.4's default
    osc/rdma crashes in Fetch_and_op on shared memory), which wants MPI
    below THREAD_MULTIPLE, mpi4py's default; esmpi runs mpi4py as is."""
    d = daemons("pywin")
    prog = it.REPO / "examples" / "mpi4py_win.py"
    plain = subprocess.run(["mpirun", "--allow-run-as-root",
                            "--oversubscribe", "-np", "3",
                            "-x", "OMPI_MCA_osc=sm,pt2pt",
                            "-x", "MPI4PY_RC_THREAD_LEVEL=single",
                            PY, str(prog)], capture_output=True, text=True,
                           timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert "mpi4py_win: 3 ranks done" in plain.stdout
    env = dict(os.environ, ESMPI_SOCKET=str(d.sock))
    prot = subprocess.run([str(ESMPIRUN), "--oversubscribe", "-np", "3", PY,
                           str(prog)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert prot.returncode == 0, prot.stderr
    assert prot.stdout == plain.stdout
    d.wait_audit("session_open", count=3)
