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
