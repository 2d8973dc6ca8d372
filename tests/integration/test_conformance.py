# SPDX-License-Identifier: Apache-2.0
"""MPI conformance where esmpi once differed from plain Open MPI (issue 20):
each program runs plain and under libesmpi.so with the same arguments, and
what it prints must be the same.

- status_fields.c: MPI_SOURCE, MPI_TAG, MPI_ERROR (as the caller set it),
  count and cancelled after every single-completion call, for one-record,
  chunked and stashed messages and a truncation;
- persist_self.c: inactive and persistent requests to and from ourselves,
  MPI_PROC_NULL and MPI_ANY_SOURCE, through every completion call;
- dtype_recv.c: derived-datatype receives (partial fills, partial
  elements) with a bound on their cost against plain MPI;
- huge.c: a message over 2 GiB through the receive paths;
- conform.c: a pass over the standard's chapters (point to point,
  collectives, communicators, groups, attributes, error handlers,
  topologies, intercommunicators, datatypes), every result logged.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_conformance.py
"""
import re

import pytest

import mpi_helpers as mh


def run_both(daemon, name, np, args=(), timeout=mh.MPIRUN_TIMEOUT, x=()):
    prog = mh.example(name)
    plain = mh.mpirun(prog, np, preload=False, args=args, timeout=timeout,
                      x=x)
    assert plain.returncode == 0, f"plain run failed\n{plain.describe()}"
    prot = mh.mpirun(prog, np, socket=daemon.sock, args=args,
                     timeout=timeout, x=x)
    assert prot.returncode == 0, (
        f"{name} fails under libesmpi (plain run passed)\n{prot.describe()}"
        f"\n--- esmpid\n{daemon.log()[-3000:]}")
    return plain, prot


def lines(job, name):
    """The program's own lines, and its final OK line (printed by rank 0,
    so it may come anywhere among another rank's lines)."""
    own = [ln for ln in job.stdout.splitlines() if ln.startswith(name + ":")]
    final = [ln for ln in own if mh.RESULT.match(ln)]
    assert len(final) == 1, f"no '{name}: OK checksum' line\n{job.describe()}"
    return [ln for ln in own if ln not in final], final[0]


def assert_same(plain, prot, name):
    p, pf = lines(plain, name)
    e, ef = lines(prot, name)
    assert p, plain.describe()
    diff = [f"plain: {a}\nesmpi: {b}" for a, b in zip(p, e) if a != b]
    assert not diff and len(p) == len(e) and pf == ef, (
        f"{name}: output differs under libesmpi\n" + "\n".join(diff) +
        f"\n--- plain\n{plain.stdout}--- esmpi\n{prot.stdout}")
    assert "esmpi:" not in prot.stderr, prot.describe()


@pytest.fixture(scope="module", autouse=True)
def built():
    missing = mh.missing_examples(["status_fields", "persist_self",
                                   "dtype_recv", "huge", "conform"])
    if missing:
        pytest.fail(f"not built: {', '.join(missing)}", pytrace=False)


def test_status_fields_as_plain_mpi(daemon):
    """Every field of every single-completion status as plain Open MPI
    leaves it; MPI_ERROR was overwritten for chunked and stashed messages
    and truncations, and a send's status showed the record's size (for a
    chunked Isend, its last chunk's tag and size)."""
    plain, prot = run_both(daemon, "status_fields", 2)
    assert_same(plain, prot, "status_fields")
    # The large round really went in chunks through the stash.
    assert "error 4242" in prot.stdout


@pytest.mark.parametrize("np", (1, 3))
def test_persistent_and_inactive_requests_to_self(daemon, np):
    """Inactive persistent receives completed by any call were opened as
    if a record had arrived (an integrity failure against esmpi's own
    traffic, tag -1); Request_get_status on one marked it done, so the
    Wait after its next Start skipped the real record."""
    plain, prot = run_both(daemon, "persist_self", np)
    assert_same(plain, prot, "persist_self")
    assert "integrity failure" not in prot.stderr, prot.describe()


DTYPE_COST = re.compile(r"dtype_recv: rank (\d+) seconds ([\d.]+) faults (\d+)")


@pytest.mark.parametrize("np", (1, 2))
def test_derived_datatype_receives_cost_one_pass(daemon, np):
    """Derived-datatype receives with room for twice what arrives, over
    world, a dup, a split and a reversed communicator, and a receive ending
    inside an element (n ints into one element of a vector of 2n): the
    data as plain MPI delivers it, and the cost bounded against plain MPI
    in the same test. Minor page faults count fresh memory touched: the
    library used to allocate (and wipe) scratch of the receive's capacity
    per message and rebuild a partial element's layout byte by byte in
    megabytes of fresh memory (10 times plain's faults, and 250 times its
    time for a partial element); now it reuses pooled buffers."""
    plain, prot = run_both(daemon, "dtype_recv", np, args=(65530, 5),
                           timeout=120)
    assert_same(plain, prot, "dtype_recv")
    cost = {}
    for name, job in (("plain", plain), ("esmpi", prot)):
        cost[name] = {int(r): (float(s), int(f))
                      for r, s, f in DTYPE_COST.findall(job.stderr)}
        assert set(cost[name]) == set(range(np)), job.describe()
    for rank in range(np):
        (ps, pf), (es, ef) = cost["plain"][rank], cost["esmpi"][rank]
        assert ef <= 2 * pf + 2000, (
            f"rank {rank}: {ef} page faults under esmpi, {pf} plain")
        assert es <= 5 * ps + 1, (
            f"rank {rank}: {es:.2f} s under esmpi, {ps:.2f} s plain")


def test_messages_over_2gib(daemon):
    """2 GiB + 4 KiB in one message (268,435,968 MPI_LONG_LONG_INT): 'receive
    too large' under esmpi before. Two of huge.c's five paths, both
    refused before: MPI_Recv of a chunked MPI_Send (the issue's case) and
    MPI_Irecv + MPI_Wait of an MPI_Ssend (one record of more than 2 GiB,
    which MPI moves as one element of a derived type). huge.c checks
    count, elements, source, tag and data against what MPI defines, so it
    runs under esmpi only: the plain run would double the time (minutes
    on a loaded 2-core machine) and check nothing more. The other three
    paths (Probe + Recv of an Isend, Mprobe + Mrecv, Recv_init of a
    Send_init) and the issue's 2.16 GB pass too, by hand:
    docs/CONFORMANCE.md."""
    n = (2**31 + 4096) // 8
    job = mh.mpirun(mh.example("huge"), 2, socket=daemon.sock,
                    args=(n, "14"), timeout=300)
    assert job.returncode == 0, (
        f"huge fails under libesmpi\n{job.describe()}"
        f"\n--- esmpid\n{daemon.log()[-3000:]}")
    got, final = lines(job, "huge")
    assert got == [f"huge: Recv: {n} elements, {n * 8} bytes",
                   f"huge: Irecv+Wait (Ssend): {n} elements, {n * 8} bytes"
                   ], job.describe()
    assert "esmpi:" not in job.stderr, job.describe()


def test_large_collectives_and_non_contiguous_chunks(daemon):
    """huge.c's paths 6-8 at 24 MB, through the code that carries them
    past 2 GiB: a chunked message received into a non-contiguous type
    (511 of every 512 elements, the last element partial: opened chunk by
    chunk into a chunk-sized stage, elements across chunk boundaries), a
    Bcast and a Gatherv (in place at the root), whose records move in
    64-byte units (byte counts stopped at 2 GiB). At 2 GiB + 4 KiB each
    path takes as long as the test above (over a minute on a loaded
    machine): docs/CONFORMANCE.md says how to run them by hand."""
    n = 3000000
    job = mh.mpirun(mh.example("huge"), 2, socket=daemon.sock,
                    args=(n, "678"), timeout=120)
    assert job.returncode == 0, (
        f"huge fails under libesmpi\n{job.describe()}"
        f"\n--- esmpid\n{daemon.log()[-3000:]}")
    got, final = lines(job, "huge")
    assert sorted(got) == sorted(
        f"huge: {how}: {n} elements, {n * 8} bytes" for how in (
            "Recv (non-contiguous)", "Bcast", "Gatherv")), job.describe()
    assert "esmpi:" not in job.stderr, job.describe()


@pytest.mark.parametrize("np", (1, 2, 3, 4))
def test_conformance_pass_as_plain_mpi(daemon, np):
    """conform.c's log, every rank's in rank order, is plain Open MPI's
    line for line: MPI_IN_PLACE in every collective, zero counts,
    MPI_PROC_NULL, negative displacements, the error classes of the v/w
    forms' negative counts (esmpi passed them on as records, and a block
    of count -1 as no block), attributes and their callbacks across
    Comm_dup, error handlers, topologies and neighbourhood collectives,
    intercommunicator collectives, Sendrecv_replace, buffered sends,
    cancelled receives, Request_get_status, Waitany/Testany over null and
    inactive requests."""
    plain, prot = run_both(daemon, "conform", np, timeout=120)
    p, pf = lines(plain, "conform")
    e, ef = lines(prot, "conform")
    assert len(p) > 150 * np, plain.describe()
    diff = [f"plain: {a}\nesmpi: {b}" for a, b in zip(p, e) if a != b]
    assert not diff and len(p) == len(e) and pf == ef, (
        "conform: output differs under libesmpi\n" + "\n".join(diff) +
        f"\n--- esmpi stderr\n{prot.stderr}")
    # The erroneous calls are refused with a message saying what; none
    # is esmpi's own failure.
    for bad in ("internal", "integrity", "protocol"):
        assert bad not in prot.stderr, prot.describe()
