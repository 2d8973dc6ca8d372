# SPDX-License-Identifier: Apache-2.0
"""One-sided communication (examples/rma_check.c: every operation and
synchronisation mode, contiguous and derived datatypes) gives the same
output plain and under esmpi, and its errors are clear MPI errors."""
import pytest

import mpi_helpers as mh

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


def test_rma_marker_never_on_the_wire(ns_hosts, workdir):
    """Across two namespace hosts, Put data crosses the veth in plaintext
    under plain MPI's osc/pt2pt (which really moves it over TCP) and never
    under esmpi, whatever osc the command line asks for."""
    import nshosts
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
