# SPDX-License-Identifier: Apache-2.0
"""Fortran coarrays: OpenCoarrays (Debian's libcoarrays-openmpi-dev, its
`caf`) carries coarray puts, gets, atomics, critical sections and sync
over MPI one-sided communication. examples/coarray_check.f90 prints the
same under esmpi as plain, on one node and across the namespace hosts,
where its marker crosses the link in clear plain and never under esmpi;
with ESMPI_RMA=off its first window is refused, so the coarrays really
went through esmpi's one-sided layer."""
import re
import subprocess

import pytest

import esmpi_it as it
import mpi_helpers as mh
import nshosts

SRC = it.REPO / "examples" / "coarray_check.f90"


@pytest.fixture
def caf_prog(workdir):
    nshosts.need("caf")
    out = workdir / "coarray_check"
    r = subprocess.run(["caf", "-O1", "-o", str(out), str(SRC)],
                       capture_output=True, text=True, timeout=120,
                       cwd=workdir)
    assert r.returncode == 0, f"caf failed:\n{r.stdout}\n{r.stderr}"
    return out


def test_coarray_same_as_plain(daemons, caf_prog):
    d = daemons("caf")
    ref = mh.mpirun(caf_prog, 3, preload=False)
    assert ref.returncode == 0, ref.describe()
    assert "coarray_check: done" in ref.stdout
    assert "atomic sum = 6, critical count = 3" in ref.stdout
    prot = mh.mpirun(caf_prog, 3, socket=d.sock)
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == ref.stdout
    off = mh.mpirun(caf_prog, 2, socket=d.sock, x=("ESMPI_RMA=off",))
    assert off.returncode != 0, off.describe()
    assert re.search(r"MPI_Win_\w+: one-sided communication is off in "
                     r"this job \(ESMPI_RMA=off", off.stderr), off.describe()


def test_coarray_across_hosts(ns_hosts, caf_prog):
    hosts = ns_hosts()
    hosts.start_daemons()
    # plain through osc/pt2pt, which moves the data over TCP
    (rc, plain, err), pcap = hosts.captured_run(
        "caf-plain", [str(caf_prog)], preload=False,
        x=("OMPI_MCA_osc=pt2pt",))
    assert rc == 0, f"plain job failed ({rc}):\n{plain}\n{err}"
    assert "coarray_check: done" in plain
    assert pcap.count(nshosts.MARKER) >= 1, \
        "capture saw no plaintext marker: the plain job moved no data?"
    (rc, enc, err), pcap = hosts.captured_run(
        "caf-enc", [str(caf_prog)], preload=True,
        x=("OMPI_MCA_osc=pt2pt",))
    assert rc == 0, f"esmpi job failed ({rc}):\n{enc}\n{err}\n{hosts.logs()}"
    assert enc == plain
    assert len(pcap) > 4000
    assert pcap.count(nshosts.MARKER) == 0
