# SPDX-License-Identifier: Apache-2.0
"""Fortran programs never run silently in plaintext: Open MPI's Fortran
bindings call PMPI_* directly, so esmpi refuses them at MPI_Init unless the
policy allows unprotected calls, and then audits them."""
import os
import subprocess

import esmpi_it as it

SRC = it.REPO / "examples" / "fortran_send.f90"
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"


def build(workdir):
    exe = workdir / "fortran_send"
    r = subprocess.run(["mpif90", "-o", str(exe), str(SRC)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return exe


def run(exe, sock):
    env = dict(os.environ, ESMPI_SOCKET=str(sock))
    return subprocess.run([str(ESMPIRUN), "-np", "2", str(exe)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_fortran_refused_by_default(daemons, workdir):
    exe = build(workdir)
    d = daemons("f")
    r = run(exe, d.sock)
    assert r.returncode != 0
    assert "Fortran MPI bindings refused" in r.stderr
    assert "fortran got" not in r.stdout
    assert d.wait_audit("unprotected_call", count=2)


def test_fortran_allowed_and_audited(daemons, workdir, write_policy):
    exe = build(workdir)
    d = daemons("f", policy=write_policy(
        "version: 1\naccess: {users: [root]}\n"
        "defaults: {unprotected: audit}\n"))
    r = run(exe, d.sock)
    assert r.returncode == 0, r.stderr
    assert "fortran got 1 2 3 4" in " ".join(r.stdout.split())
    evs = d.wait_audit("unprotected_call", count=2)
    assert all("Fortran" in e.get("MESSAGE", "") for e in evs)
