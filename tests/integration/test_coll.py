# SPDX-License-Identifier: Apache-2.0
"""Encrypted collectives (libclient/mpi/coll.c), blocking and nonblocking:
examples/coll_check.c gives the same output with and without libesmpi.so
at 2, 3, 4 and 8 ranks, and a marker moved by Bcast, Allgather and their
nonblocking forms crosses TCP loopback in clear only without esmpi. A
rank whose sealing fails (an LD_PRELOAD shim, fail_seal.c) still takes
part in the collective, so under MPI_ERRORS_RETURN every rank gets an
error instead of the others waiting forever, and the job goes on.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_coll.py
"""
import os
import subprocess

import pytest

import esmpi_it as it
import mpi_helpers as mh
from test_wire import MARKER, MCA, capture, stop

PROG = "coll_check"
BASE = ["bcast", "gather", "scatter", "allgather", "alltoall", "reduce",
        "allreduce", "reduce_scatter", "scan", "split", "alltoallw",
        "neighbor", "intercomm", "large"]
# Blocking, then every family through its nonblocking form, then overlap.
FAMILIES = BASE + ["i" + f for f in BASE] + ["overlap"]


@pytest.fixture(scope="module", autouse=True)
def built():
    missing = mh.missing_examples([PROG])
    if not mh.LIBESMPI.exists():
        missing.append(str(mh.LIBESMPI))
    if missing:
        pytest.fail(f"not built: {', '.join(missing)}", pytrace=False)


def check_output(job):
    lines = job.stdout.splitlines()
    assert lines[:-1] == [f"{f}: ok" for f in FAMILIES], job.describe()
    m = mh.RESULT.match(lines[-1])
    assert m and m.group("name") == PROG, job.describe()


@pytest.mark.parametrize("np", [2, 3, 4, 8])
def test_coll_check_same_with_and_without_esmpi(daemon, np):
    prog = mh.example(PROG)
    plain = mh.mpirun(prog, np, preload=False)
    assert plain.returncode == 0, f"plain run failed\n{plain.describe()}"
    check_output(plain)

    prot = mh.mpirun(prog, np, socket=daemon.sock)
    assert prot.returncode == 0, (
        f"coll_check fails under libesmpi (plain run passed)\n"
        f"{prot.describe()}\n--- esmpid\n{daemon.log()[-3000:]}")
    assert prot.stdout == plain.stdout, (
        f"output differs under libesmpi\n--- plain\n{plain.stdout}"
        f"--- esmpi\n{prot.stdout}")
    assert "refused" not in prot.stderr, prot.describe()
    daemon.wait_audit("session_open", count=np)


HERE = os.path.dirname(os.path.abspath(__file__))


def _build(workdir, src, out, *extra, cc="mpicc"):
    r = it.run([cc, "-O2", "-Wall", "-o", str(workdir / out),
                os.path.join(HERE, src), *extra], timeout=120)
    assert r.returncode == 0, r.stderr
    return workdir / out


@pytest.mark.parametrize("np", [2, 3])
def test_seal_failure_fails_peers_instead_of_hanging(daemon, workdir, np):
    prog = _build(workdir, "coll_fail.c", "coll_fail")
    shim = _build(workdir, "fail_seal.c", "fail_seal.so", "-shared",
                  "-fPIC", "-ldl", "-lcrypto", cc="cc")
    wrap = workdir / "fail_rank1.sh"
    wrap.write_text(
        "#!/bin/sh\n"
        # The shim fails OpenSSL's tag read: the rank runs on OpenSSL.
        f"export ESMPI_SOCKET={daemon.sock} FAIL_SEAL_RANK=1 "
        "ESMPI_CRYPTO=openssl\n"
        f"export LD_PRELOAD={shim}:{mh.LIBESMPI}\n"
        'exec "$@"\n')
    os.chmod(wrap, 0o755)
    job = mh.mpirun(wrap, np, preload=False, timeout=60, args=[prog])
    assert job.returncode == 0, job.describe()
    assert job.stderr.count("fail_seal: rank 1: seal") == 2, job.describe()
    for r in range(np):
        for what in ("bcast error", "iallgather error",
                     f"allreduce ok {np * (np - 1) // 2}"):
            assert f"rank {r}: {what}" in job.stdout, job.describe()
    # Rank 1 says why; the others refused what could not open.
    assert "rank 1: MPI_Bcast: cannot seal block" in job.stderr
    assert "rank 1: MPI_Iallgather: cannot seal block" in job.stderr
    assert set(mh.rank_lines(job.stderr, "integrity failure")) == \
        set(range(np)) - {1}, job.describe()


def _wire_run(prog, socket=None):
    env = {k: v for k, v in os.environ.items() if k not in mh._SCRUB}
    cmd = ["mpirun", "--allow-run-as-root", "-np", "2", *MCA]
    if socket is not None:
        env["ESMPI_SOCKET"] = str(socket)
        cmd += ["-x", "ESMPI_SOCKET", "-x", f"LD_PRELOAD={mh.LIBESMPI}"]
    r = subprocess.run(cmd + [str(prog), MARKER.decode()], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_coll_marker_on_wire_only_without_esmpi(daemons, workdir):
    d = daemons("collwire")
    prog = mh.example(PROG)
    plain_pcap, enc_pcap = workdir / "plain.pcap", workdir / "enc.pcap"

    cap = capture(plain_pcap)
    try:
        plain_out = _wire_run(prog)
    finally:
        stop(cap)
    cap = capture(enc_pcap)
    try:
        enc_out = _wire_run(prog, socket=d.sock)
    finally:
        stop(cap)

    assert f"broadcast {MARKER.decode()}" in plain_out
    assert plain_out == enc_out
    plain_bytes, enc_bytes = plain_pcap.read_bytes(), enc_pcap.read_bytes()
    # Both captures saw the job: the marker in clear (Bcast, Allgather,
    # Allreduce and their nonblocking forms), then never.
    assert plain_bytes.count(MARKER) >= 6 * 64
    assert len(enc_bytes) > 4000
    assert enc_bytes.count(MARKER) == 0


def test_persistent_collective_protected(daemon):
    """Open MPI 4.1 exports persistent collectives as MPIX_*_init
    (mpi-ext.h); esmpi runs each Start as its nonblocking collective
    (mpi/pcoll.c, examples/pcoll_check.c covers them all): the result of
    plain Open MPI, nothing refused or audited."""
    prog = mh.example("collective_probe")
    plain = mh.mpirun(prog, 2, preload=False, args=["persistent"])
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout == "collective_probe: 2 ranks, sum of ranks 1\n"
    job = mh.mpirun(prog, 2, socket=daemon.sock, args=["persistent"],
                    timeout=30)
    assert job.returncode == 0, job.describe()
    assert job.stdout == plain.stdout, job.describe()
    assert "refused" not in job.stderr, job.describe()
    assert not daemon.audit("unprotected_call")
