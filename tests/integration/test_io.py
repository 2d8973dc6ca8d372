# SPDX-License-Identifier: Apache-2.0
"""MPI-IO under esmpi (libclient/mpi/io.c): collective data access runs as
the independent access, so no MPI-IO component moves file data between
ranks, whatever MCA parameters the job passes.

- io_check.c, every MPI-IO form on a contiguous and an interleaved
  (derived-datatype) view, 2 and 4 ranks: same output and the same file,
  byte for byte, plain and under esmpi (unprotected: deny, the default);
- across the namespace hosts, with one aggregator and two-phase collective
  buffering (OMPIO) or ROMIO: the plaintext marker crosses the veth
  without esmpi, never with it;
- parallel HDF5 (hdf5_check.c): a dataset written collectively by 4 ranks
  on two hosts and read back, same as plain, capture clean;
- mpi4py's MPI.File.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_io.py
"""
import pytest

import esmpi_it as it
import mpi_helpers as mh
import nshosts
from nshosts import MARKER
from test_conformance import assert_same, run_both

# Options that make plain Open MPI move file data between ranks (issue 18).
AGGREGATE = {
    "ompio-two_phase": ("OMPI_MCA_io=ompio",
                        "OMPI_MCA_io_ompio_num_aggregators=1",
                        "OMPI_MCA_fcoll=two_phase"),
    "romio321": ("OMPI_MCA_io=romio321",),
}


@pytest.fixture(scope="module", autouse=True)
def built():
    missing = mh.missing_examples(["io_check", "hdf5_check"])
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (hdf5_check needs "
                    f"libhdf5-openmpi-dev: scripts/install-deps.sh)",
                    pytrace=False)


@pytest.mark.parametrize("np", (2, 4))
def test_every_form_same_output_and_file(daemon, workdir, np):
    """Every form of MPI-IO gives what plain Open MPI gives, the files are
    identical, and nothing is refused under the default policy. 4 ranks
    also pass the aggregation options, so a collective call esmpi failed
    to turn independent would reach fcoll/two_phase."""
    x = AGGREGATE["ompio-two_phase"] if np == 4 else ()
    files = [workdir / f"plain{np}.dat", workdir / f"esmpi{np}.dat"]
    plain = mh.mpirun(mh.example("io_check"), np, preload=False,
                      args=[files[0]], x=x)
    assert plain.returncode == 0, plain.describe()
    prot = mh.mpirun(mh.example("io_check"), np, socket=daemon.sock,
                     args=[files[1]], x=x)
    assert prot.returncode == 0, (f"{prot.describe()}\n--- esmpid\n"
                                  f"{daemon.log()[-3000:]}")
    assert_same(plain, prot, "io_check")
    assert files[0].read_bytes() == files[1].read_bytes()
    assert "ok" in prot.stdout and "_ordered" in prot.stdout
    assert not daemon.audit("unprotected_call")


def test_mpi4py_file(daemon, workdir):
    prog = ["/usr/bin/python3", it.REPO / "examples" / "mpi4py_file.py"]
    plain = mh.mpirun(prog[0], 2, preload=False,
                      args=[prog[1], workdir / "p.dat"])
    assert plain.returncode == 0, plain.describe()
    prot = mh.mpirun(prog[0], 2, socket=daemon.sock,
                     args=[prog[1], workdir / "e.dat"])
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == plain.stdout and "mpi4py_file:" in prot.stdout
    assert (workdir / "p.dat").read_bytes() == \
        (workdir / "e.dat").read_bytes()


def test_no_file_data_between_hosts(ns_hosts, workdir):
    """With one aggregator (OMPIO two_phase) or ROMIO, plain Open MPI
    gathers the file data at an aggregator over the link: each run's own
    marker is on the wire. Under esmpi with the same options it never is;
    io_check itself checks what it read back. Parallel HDF5 on 4 ranks (2
    per host) likewise; files and output as plain. One capture for the
    plain runs, one for esmpi's (tshark's start and stop cost seconds)."""
    nshosts.need("tshark")
    hosts = ns_hosts()
    hosts.start_daemons()
    io = nshosts.example(workdir, "io_check")
    h5 = nshosts.example(workdir, "hdf5_check")
    runs = [(io, opt, x, 1) for opt, x in AGGREGATE.items()]
    runs.append((h5, "hdf5", AGGREGATE["ompio-two_phase"], 2))
    # Markers in files: the launcher carries argv between hosts in clear.
    for _, opt, _, _ in runs:
        (workdir / f"marker-{opt}").write_bytes(MARKER + opt.encode() +
                                                b"\n")
    outs = {}
    for mode in ("plain", "esmpi"):
        with hosts.capture(workdir / f"{mode}.pcap") as cap:
            for prog, opt, x, per_host in runs:
                rc, out, err = hosts.run(
                    [prog, workdir / f"{mode}-{opt}.dat",
                     workdir / f"marker-{opt}"],
                    preload=mode == "esmpi", x=x, per_host=per_host)
                assert rc == 0, (f"{mode} {opt} failed ({rc}):\n{out}\n"
                                 f"{err}\n{hosts.logs()}")
                assert ": OK checksum" in out
                outs[mode, opt] = out
        for _, opt, _, _ in runs:
            n = cap.data.count(MARKER + opt.encode())
            if mode == "plain":
                assert n >= 1, (f"plain {opt}: no marker on the veth, the "
                                "options did not make file data cross "
                                "between ranks")
            else:
                assert n == 0, f"esmpi {opt}: marker on the wire"
    assert cap.data.count(MARKER) == 0
    for _, opt, _, _ in runs:
        assert outs["plain", opt] == outs["esmpi", opt]
        assert (workdir / f"plain-{opt}.dat").read_bytes() == \
            (workdir / f"esmpi-{opt}.dat").read_bytes()
