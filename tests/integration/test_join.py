# SPDX-License-Identifier: Apache-2.0
"""The join at MPI_Init (issue 14, finding 1): a rank with libesmpi never
waits for ever for peers that never joined key establishment.

One host, Open MPI's MPMD syntax gives the ranks different environments:
exactly one rank runs without libesmpi (what a launch message whose
LD_PRELOAD was stripped on the way produces). With ESMPI_JOIN_TIMEOUT=5
the ranks with the library stop within seconds instead of hanging, name
the rank that did not join (or that sent plaintext) and the likely cause,
and esmpid audits join_failed. All ranks with the library run as before.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_join.py
"""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import esmpi_it as it
import mpi_helpers as mh

TIMEOUT = 5
# mpirun's start and abort, and the peers' longer wait: far below a hang.
STOP_WITHIN = 30
CAUSE = ("without libesmpi (LD_PRELOAD lost or altered on the way to its "
         "node, or a program started without esmpirun)")
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", autouse=True)
def examples_built():
    missing = mh.missing_examples(["ring", "wildcard"])
    if not mh.LIBESMPI.exists():
        missing.append(str(mh.LIBESMPI))
    if missing:
        pytest.fail(f"not built: {', '.join(missing)}", pytrace=False)


def mpmd(daemon, prog, plain, np, timeout_env=str(TIMEOUT)):
    """Run prog (an example's name or a path) on np ranks, one app context
    per rank; the ranks in `plain` get no libesmpi. Returns (Job, seconds
    taken)."""
    path = prog if isinstance(prog, Path) else mh.example(prog)
    env = {k: v for k, v in os.environ.items() if k not in mh._SCRUB}
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
    for r in range(np):
        if r:
            cmd.append(":")
        cmd += ["-np", "1"]
        if r not in plain:
            cmd += ["-x", f"ESMPI_SOCKET={daemon.sock}",
                    "-x", f"LD_PRELOAD={mh.LIBESMPI}"]
            if timeout_env is not None:
                cmd += ["-x", f"ESMPI_JOIN_TIMEOUT={timeout_env}"]
        cmd.append(str(path))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=mh.MPIRUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        out, err = mh._kill_job(proc)
        raise AssertionError(
            f"the job hung ({mh.MPIRUN_TIMEOUT}s, killed): {' '.join(cmd)}"
            f"\n--- stdout\n{out}--- stderr\n{err}--- esmpid\n"
            f"{daemon.log()}") from None
    return mh.Job(cmd, proc.returncode, out, err), time.monotonic() - t0


def why(job, daemon):
    return f"{job.describe()}--- esmpid\n{daemon.log()}"


def stopped(job, took, daemon):
    assert job.returncode != 0, f"the job ran:\n{why(job, daemon)}"
    assert took < STOP_WITHIN, f"stopped after {took:.0f}s:\n" + \
        why(job, daemon)
    # Nothing of the application's output: nobody got past MPI_Init
    # with a peer that runs plain.
    assert "checksum" not in job.stdout, why(job, daemon)


def join_failed(daemon, rank, peer, job):
    """The join_failed event rank reported (naming peer), as esmpid
    audited it."""
    evs = daemon.wait_audit(
        "join_failed", timeout=10,
        pred=lambda e: e.get("ESMPI_RANK") == str(rank))
    e = evs[0]
    assert e.get("ESMPI_PEER") == str(peer), f"{e}\n{why(job, daemon)}"
    assert e.get("PRIORITY") == "2", e     # LOG_CRIT
    return e


@pytest.mark.parametrize("np,plain", [(2, 1), (3, 2), (3, 1)],
                         ids=["np2-rank1", "np3-rank2", "np3-rank1"])
def test_plain_rank_that_never_joins_is_named(daemon, np, plain):
    """ring: the plain rank waits for its left neighbour and never sends
    rank 0 anything; rank 0 stops after ESMPI_JOIN_TIMEOUT naming it."""
    job, took = mpmd(daemon, "ring", {plain}, np)
    stopped(job, took, daemon)
    want = (f"esmpi: rank 0: rank {plain} did not join job key "
            f"establishment within {TIMEOUT} s (ESMPI_JOIN_TIMEOUT): it "
            f"runs {CAUSE} or never reached MPI_Init; refusing to run "
            "unprotected")
    assert want in job.stderr, why(job, daemon)
    assert took >= TIMEOUT - 1, f"{took:.1f}s: {why(job, daemon)}"
    e = join_failed(daemon, 0, plain, job)
    assert f"rank {plain} did not join" in e["MESSAGE"], e
    if np == 3:
        # The rank that joined hears why from rank 0, which may abort
        # the job first.
        says = mh.rank_lines(job.stderr, "rank 0 stopped the job: rank "
                             f"{plain} did not join")
        assert says <= {3 - plain}, why(job, daemon)
        for e in daemon.audit("join_failed"):
            assert e["ESMPI_PEER"] == str(plain), e


def test_plain_rank_zero_is_seen_sending_plaintext(daemon):
    """ring, rank 0 plain: it sends its token to rank 1 in plaintext, and
    rank 1 (listening for rank 0's answer to its join) says so at once."""
    job, took = mpmd(daemon, "ring", {0}, 2)
    stopped(job, took, daemon)
    want = ("esmpi: rank 1: rank 0 sent an application message (tag 0, 4 "
            "bytes) in plaintext instead of answering this rank's join of "
            f"job key establishment: it runs {CAUSE}; refusing to run "
            "unprotected")
    assert want in job.stderr, why(job, daemon)
    assert took < TIMEOUT + 5, f"{took:.1f}s: {why(job, daemon)}"
    join_failed(daemon, 1, 0, job)


def test_plain_rank_zero_that_never_answers(daemon):
    """ring on 3 ranks, rank 0 plain: rank 1 sees its token; rank 2 hears
    nothing from rank 0 (its first message goes to rank 1). Whichever
    stops first aborts the job; rank 1 does so at once."""
    job, took = mpmd(daemon, "ring", {0}, 3)
    stopped(job, took, daemon)
    assert "esmpi: rank 1: rank 0 sent an application message (tag 0" \
        in job.stderr, why(job, daemon)
    join_failed(daemon, 1, 0, job)


def test_plaintext_to_rank_zero_is_named(daemon):
    """wildcard on 3 ranks, rank 1 plain: its first message to rank 0 is
    application data (tag 30), which rank 0 receives instead of a join;
    rank 2, which joined, hears why from rank 0."""
    job, took = mpmd(daemon, "wildcard", {1}, 3)
    stopped(job, took, daemon)
    m = re.search(r"esmpi: rank 0: rank 1 sent an application message in "
                  r"plaintext instead of joining job key establishment "
                  r"\(tag 30, (\d+|more than 64) bytes\): it runs (.*); "
                  r"refusing to run unprotected", job.stderr)
    assert m, why(job, daemon)
    assert m.group(2) == CAUSE, why(job, daemon)
    assert took < TIMEOUT + 5, f"{took:.1f}s: {why(job, daemon)}"
    e = join_failed(daemon, 0, 1, job)
    assert "in plaintext" in e["MESSAGE"], e


@pytest.mark.parametrize("plain,peer,tag,limit", [(1, 0, 7, 64),
                                                  (0, 1, 8, 512)],
                         ids=["to-rank0", "from-rank0"])
def test_large_plaintext_message_is_named(daemon, workdir, plain, peer,
                                          tag, limit):
    """The plain rank's first message is larger than a join (or than rank
    0's answer): the receive is truncated, and that too is plaintext."""
    prog = workdir / "join_big"
    r = it.run(["mpicc", "-O2", "-Wall", "-o", prog, HERE / "join_big.c"],
               timeout=120)
    assert r.returncode == 0, r.stderr
    job, took = mpmd(daemon, prog, {plain}, 2)
    assert job.returncode != 0 and took < STOP_WITHIN, why(job, daemon)
    assert f"join_big: rank {peer} done" not in job.stdout, why(job, daemon)
    assert f"esmpi: rank {peer}: rank {plain} sent an application message" \
        in job.stderr, why(job, daemon)
    assert f"(tag {tag}, more than {limit} bytes)" in job.stderr, \
        why(job, daemon)
    join_failed(daemon, peer, plain, job)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "5s"])
def test_bad_timeout_is_refused(daemon, value):
    job, took = mpmd(daemon, "ring", set(), 2, timeout_env=value)
    assert job.returncode != 0, why(job, daemon)
    assert f"ESMPI_JOIN_TIMEOUT='{value}' is not a number of seconds" in \
        job.stderr, why(job, daemon)
    assert not daemon.audit("session_open"), why(job, daemon)


def test_esmpirun_forwards_the_timeout(daemon):
    env = {k: v for k, v in os.environ.items() if k not in mh._SCRUB}
    env.update(ESMPI_SOCKET=str(daemon.sock), ESMPI_JOIN_TIMEOUT="x1")
    r = it.run([ESMPIRUN, "--oversubscribe", "-np", "2",
                mh.example("ring")], env=env, timeout=mh.MPIRUN_TIMEOUT)
    assert r.returncode != 0, r
    assert mh.rank_lines(r.stderr, "ESMPI_JOIN_TIMEOUT='x1'") == {0, 1}, r


@pytest.mark.parametrize("np", [2, 3])
def test_all_ranks_with_libesmpi_run_sealed(daemon, np):
    """Control: every rank joins, the job runs, every session is under the
    one job id rank 0 sent in its answer."""
    job, took = mpmd(daemon, "ring", set(), np)
    assert job.returncode == 0, why(job, daemon)
    assert re.search(r"^ring: \d+ ranks, .* checksum \d+$", job.stdout,
                     re.M), why(job, daemon)
    assert "esmpi:" not in job.stderr, why(job, daemon)
    opened = daemon.wait_audit("session_open", count=np)
    assert len({e["ESMPI_JOB"] for e in opened}) == 1, opened
    assert sorted(int(e["ESMPI_RANK"]) for e in opened) == list(range(np))
    assert not daemon.audit("join_failed")
