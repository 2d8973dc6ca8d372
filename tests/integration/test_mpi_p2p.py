# SPDX-License-Identifier: Apache-2.0
"""Unmodified MPI programs under libesmpi.so (LD_PRELOAD): every example of
examples/ gives the same rank-0 output with and without the library, at 2
and 4 ranks; the library fails closed without a daemon or without access;
calls esmpi cannot protect are refused unless the policy allows them.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_mpi_p2p.py
(build first, examples included; see mpi_helpers.py for $ESMPI_EXAMPLES).
"""
import os
import re
import signal
import socket

import pytest

import mpi_helpers as mh

# (example, rank counts). Each runs plain and preloaded, ~0.6 s a job.
CASES = [
    ("ring", (2, 4)),
    ("pingpong", (2, 4)),
    ("halo", (2, 4)),
    ("probe", (2, 4)),
    ("persistent", (2, 4)),
    ("datatypes", (2, 4)),
    ("wildcard", (2, 4)),
    ("sendrecv", (2, 4)),
    ("modes", (2, 4)),
    ("comms", (2, 4)),
    ("threads", (2,)),
    ("truncate", (2, 4)),
    ("large", (2, 4)),
    ("argcheck", (2, 4)),
]
PARAMS = [pytest.param(name, np, id=f"{name}-np{np}")
          for name, nps in CASES for np in nps]
ALL = [name for name, _ in CASES] + ["collective_probe", "pmpi_init"]

POLICY_DENY_ROOT = "version: 1\naccess: {users: [nobody]}\n"
POLICY_UNPROTECTED_ALLOW = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-256-gcm
  unprotected: allow
"""
# A rule keyed on the communicator name halo.c sets and its tags.
POLICY_HALO_RULE = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-256-gcm
rules:
  - name: halo-exchange
    match: { comm: "halo*", tags: "100-199" }
    suite: chacha20-poly1305
"""


@pytest.fixture(scope="module", autouse=True)
def examples_built():
    missing = mh.missing_examples(ALL)
    if not mh.LIBESMPI.exists():
        missing.append(str(mh.LIBESMPI))
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (ESMPI_EXAMPLES="
                    f"{mh.EXAMPLES}; build the examples with the tree, or "
                    "`cmake -S examples -B build/examples-side && cmake "
                    "--build build/examples-side` and set "
                    "ESMPI_EXAMPLES=build/examples-side)", pytrace=False)


def result_line(name, job):
    """The example's final line: `<name>: OK checksum N` (ring has its
    own format)."""
    lines = job.stdout.splitlines()
    assert lines, f"{name} printed nothing\n{job.describe()}"
    last = lines[-1]
    if name == "ring":
        assert re.match(r"^ring: \d+ ranks, .* checksum \d+$", last), \
            job.describe()
    else:
        m = mh.RESULT.match(last)
        assert m and m.group("name") == name, \
            f"no '{name}: OK checksum' line\n{job.describe()}"
    return last


@pytest.mark.parametrize("name, np", PARAMS)
def test_example_same_with_and_without_esmpi(daemon, name, np):
    prog = mh.example(name)
    plain = mh.mpirun(prog, np, preload=False)
    assert plain.returncode == 0, f"plain run failed\n{plain.describe()}"
    result_line(name, plain)

    prot = mh.mpirun(prog, np, socket=daemon.sock)
    assert prot.returncode == 0, (
        f"{name} fails under libesmpi (plain run passed)\n{prot.describe()}"
        f"\n--- esmpid\n{daemon.log()[-3000:]}")
    result_line(name, prot)
    assert prot.stdout.splitlines() == plain.stdout.splitlines(), (
        f"rank-0 output differs under libesmpi\n--- plain\n{plain.stdout}"
        f"--- esmpi\n{prot.stdout}")
    # The library ran: every rank opened a session with the daemon.
    daemon.wait_audit("session_open", count=np)
    if name == "truncate":
        assert "MPI_ERR_TRUNCATE" in prot.stdout
    if name == "argcheck":
        assert_argcheck_classes(prot.stdout)


# Lines of argcheck.c's output that must hold under esmpi (the example
# checks every class itself; these are the review's cases, issue 14 §5).
ARGCHECK_EXPECTED = [
    "Send count -1: MPI_ERR_COUNT",
    "Send uncommitted type: MPI_ERR_TYPE",
    "Send MPI_DATATYPE_NULL: MPI_ERR_TYPE",
    "Send MPI_COMM_NULL: MPI_ERR_COMM",
    "Send rank = size: MPI_ERR_RANK",
    "Send tag -5: MPI_ERR_TAG",
    "Isend count -1: MPI_ERR_COUNT",
    "Send_init count -1: MPI_ERR_COUNT",
    "Recv MPI_DATATYPE_NULL: MPI_ERR_TYPE",
    "Recv MPI_COMM_NULL: MPI_ERR_COMM",
    "Sendrecv send count -1: MPI_ERR_COUNT",
    "Bcast count -1: MPI_ERR_COUNT",
    # The invalid sends before it sent nothing: the first valid message
    # arrives first, whole.
    "Recv after invalid sends: MPI_SUCCESS, count 16 bytes, 4 ints",
    # Plain Open MPI reports the message's size, not the record's.
    "Recv of 400 bytes into 100: MPI_ERR_TRUNCATE, count 400 bytes",
    "Irecv+Wait of 400 bytes into 100: MPI_ERR_TRUNCATE, count 400 bytes",
    "Sendrecv of 400 bytes into 100: MPI_ERR_TRUNCATE, count 400 bytes",
    "Recv after truncations: MPI_SUCCESS, count 16 bytes",
]


def assert_argcheck_classes(out):
    for want in ARGCHECK_EXPECTED:
        assert any(line.startswith(f"argcheck: {want}")
                   for line in out.splitlines()), (
            f"argcheck: no line '{want}'\n{out}")


def test_halo_under_a_policy_rule(daemons, write_policy):
    """A rule matching halo.c's communicator names and tags switches those
    messages to another suite: results do not change."""
    d = daemons("rules", policy=write_policy(POLICY_HALO_RULE))
    prog = mh.example("halo")
    plain = mh.mpirun(prog, 4, preload=False)
    prot = mh.mpirun(prog, 4, socket=d.sock)
    assert plain.returncode == 0, plain.describe()
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == plain.stdout
    result_line("halo", prot)
    # The rule reached every rank.
    d.wait_audit("session_open", count=4,
                 pred=lambda e: "1 rules" in e["MESSAGE"])


CHUNK_STATS = re.compile(r"esmpi: rank (\d+): stats: .* in chunks (\d+), "
                         r"probed early (\d+)")


def test_large_messages_go_in_chunks_and_probes_keep_order(daemon):
    """large.c under the library really sends its large messages in chunks
    (senders count them) and its probes really receive heads early into
    the stash (receivers count them), with the same results as plain MPI
    and as esmpi with chunking off (ESMPI_CHUNK_MIN=0). Without chunks,
    the too-small receive is left out: Open MPI 4.1.4 writes a truncated
    rendezvous message's whole length into the (record) buffer."""
    prog = mh.example("large")
    plain = mh.mpirun(prog, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    on = mh.mpirun(prog, 2, socket=daemon.sock, x=("ESMPI_STATS=1",))
    off = mh.mpirun(prog, 2, socket=daemon.sock, args=("no-truncate",),
                    x=("ESMPI_STATS=1", "ESMPI_CHUNK_MIN=0"))
    for job in (on, off):
        assert job.returncode == 0, job.describe()
        assert job.stdout == plain.stdout, job.describe()
    seen = {int(m[0]): (int(m[1]), int(m[2]))
            for m in CHUNK_STATS.findall(on.stderr)}
    assert set(seen) == {0, 1}, on.describe()
    # Rank 0 sends 15 large messages by Send or Isend; its
    # Sendrecv_replace does not chunk. Rank 1's does, as Isend + Recv +
    # Wait while the probed tag 16 waits in its stash.
    assert seen[0][0] == 15 and seen[1][0] == 1, seen
    # Probes of tag 5 (with tag 4 before it), 6, 9, 16 and 17 received 6
    # early.
    assert seen[1][1] == 6, seen
    seen_off = {int(m[0]): int(m[1]) for m in CHUNK_STATS.findall(off.stderr)}
    assert seen_off == {0: 0, 1: 0}, off.describe()


POLICY_REKEY_3 = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-256-gcm
  rekey: { messages: 3 }
"""


def test_rekey_every_few_messages_with_out_of_order_completion(
        daemons, write_policy):
    """modes.c completes six receives on six tags with Waitany & co. in
    another order than they were sent: with a new epoch every 3 messages,
    the receiver meets epochs out of order."""
    d = daemons("rekey", policy=write_policy(POLICY_REKEY_3))
    prog = mh.example("modes")
    plain = mh.mpirun(prog, 2, preload=False)
    prot = mh.mpirun(prog, 2, socket=d.sock)
    assert plain.returncode == 0, plain.describe()
    assert prot.returncode == 0, prot.describe()
    assert prot.stdout == plain.stdout


KEYMEM = re.compile(r"esmpi: rank (\d+): key memory: ([^:]+): VmFlags:(.*)")


def test_key_material_kept_out_of_core_dumps(daemon):
    """With ESMPI_TEST_KEYMEM=1 each rank reports at MPI_Finalize, from
    /proc/self/smaps, the flags of the mappings that hold its job key,
    WORLD's send chains, receive-chain table and a chain's ring, and of
    an OpenSSL allocation (where OpenSSL keeps the AEAD key schedules of
    its cipher contexts): all must be marked "dd" (MADV_DONTDUMP: not in
    core dumps). Heap memory never is, so this fails if any of them moves
    back to malloc or loses its madvise."""
    job = mh.mpirun(mh.example("ring"), 2, socket=daemon.sock,
                    x=("ESMPI_TEST_KEYMEM=1",))
    assert job.returncode == 0, job.describe()
    seen = {}
    for rank, what, flags in KEYMEM.findall(job.stderr):
        seen[(int(rank), what)] = flags.split()
    want = {"job key", "send chains (communicator state)",
            "receive chains", "receive chain ring", "openssl allocations"}
    assert set(seen) == {(r, w) for r in (0, 1) for w in want}, \
        job.describe()
    for key, flags in seen.items():
        assert "dd" in flags, f"{key} is in a dumpable mapping: {flags}"


# ----------------------------------------------------------- fail closed

def assert_no_result(name, job):
    assert job.returncode != 0, f"job succeeded unprotected\n{job.describe()}"
    assert f"{name}:" not in job.stdout, (
        f"{name} ran past MPI_Init\n{job.describe()}")


def test_unreachable_daemon_fails_closed(workdir):
    np = 4
    job = mh.mpirun(mh.example("ring"), np, socket=workdir / "none.sock",
                    timeout=30)
    assert_no_result("ring", job)
    ranks = mh.rank_lines(job.stderr, "cannot reach esmpid")
    assert ranks == set(range(np)), (
        f"ranks {sorted(ranks)} said 'cannot reach esmpid', want all {np}"
        f"\n{job.describe()}")
    assert str(workdir / "none.sock") in job.stderr
    # The node whose esmpid is down is named.
    assert f"cannot reach esmpid on node {socket.gethostname()} at " in \
        job.stderr, job.stderr


def test_access_denied_fails_closed(daemons, write_policy):
    d = daemons("deny", policy=write_policy(POLICY_DENY_ROOT))
    np = 2
    job = mh.mpirun(mh.example("ring"), np, socket=d.sock, timeout=30)
    assert_no_result("ring", job)
    # Every rank is refused (the audit); the first to raise the fatal
    # error aborts the job, possibly before the others have printed.
    said = mh.rank_lines(job.stderr, "access denied")
    assert said and said == mh.rank_lines(job.stderr, "esmpi"), (
        f"ranks {sorted(said)} said 'access denied'\n{job.describe()}")
    d.wait_audit("access_denied", count=np)


PMPI_INIT_MARKER = "PMPI-INIT-MARKER-7f3a9c"
BYPASS = ("MPI was initialized with PMPI_Init, bypassing esmpi; refusing to "
          "send unprotected")


def test_pmpi_init_bypass_fails_closed(daemon):
    """pmpi_init.c starts MPI with PMPI_Init, past esmpi's MPI_Init, and
    sends a marker from rank 0 to rank 1, then broadcasts it and Puts it
    into rank 1's window: plain MPI delivers it each time; under the
    library every call (and the window) is refused with a message saying
    why and an error, and the marker never reaches rank 1."""
    prog = mh.example("pmpi_init")
    plain = mh.mpirun(prog, 2, preload=False)
    assert plain.returncode == 0, plain.describe()
    for call in ("MPI_Irecv: MPI_SUCCESS, received", "MPI_Bcast: "
                 "MPI_SUCCESS, has", "MPI_Win_create, MPI_Put: MPI_SUCCESS, "
                 "has"):
        assert f"rank 1: {call} '{PMPI_INIT_MARKER}'" in plain.stdout, \
            plain.describe()

    job = mh.mpirun(prog, 2, socket=daemon.sock)
    assert job.returncode != 0, job.describe()
    assert mh.rank_lines(job.stderr, BYPASS) == {0, 1}, job.describe()
    assert "rank 0: MPI_Send: esmpi: MPI was initialized with PMPI_Init" \
        in job.stdout, job.describe()
    assert "rank 1: MPI_Irecv: esmpi: MPI was initialized with PMPI_Init" \
        in job.stdout, job.describe()
    for rank in (0, 1):
        for call in ("MPI_Bcast", "MPI_Win_create, MPI_Put"):
            assert f"rank {rank}: {call}: esmpi: MPI was initialized with " \
                "PMPI_Init" in job.stdout, job.describe()
    assert "received ''" in job.stdout, job.describe()
    assert PMPI_INIT_MARKER not in job.stdout, job.describe()

    # Default error handler: the refusal aborts the job, as MPI errors do.
    fatal = mh.mpirun(prog, 2, socket=daemon.sock, args=("fatal",))
    assert fatal.returncode != 0, fatal.describe()
    assert BYPASS in fatal.stderr, fatal.describe()
    assert PMPI_INIT_MARKER not in fatal.stdout, fatal.describe()


# ----------------------------------------------------- unprotected calls

# Open MPI 4.1 has no call left that esmpi refuses: the policy's
# `unprotected` setting is tested with MPICH's fault-tolerance agreement
# MPIX_Comm_agree (collective_probe.c under MPI-4).
UNPROTECTED = "MPIX_Comm_agree"
MPICH_FT_ASSERT = "Assertion failed in file src/mpid/ch4/src/ch4_comm.c"


def test_unprotected_call_refused(daemon):
    prog = mh.example("collective_probe", mpich=True)
    job = mh.hydra(prog, 2, socket=daemon.sock, timeout=30)
    assert_no_result("collective_probe", job)
    # The first refusal (either rank's) may end the job.
    refused = f"{UNPROTECTED} refused"
    assert refused in job.stderr, job.describe()
    daemon.wait_audit("unprotected_call",
                      pred=lambda e: refused in e["MESSAGE"])


def test_unprotected_call_allowed_by_policy(daemons, write_policy):
    """`unprotected: allow` lets MPIX_Comm_agree through to MPICH
    (audited): it then fails exactly as in plain MPICH 4.0.2, whose ch4
    device asserts in every ULFM call (Debian's build has no fault
    tolerance); no refusal of esmpi's."""
    d = daemons("allow", policy=write_policy(POLICY_UNPROTECTED_ALLOW))
    prog = mh.example("collective_probe", mpich=True)
    plain = mh.hydra(prog, 2, preload=False)
    job = mh.hydra(prog, 2, socket=d.sock)
    for j in (plain, job):
        assert j.returncode != 0 and MPICH_FT_ASSERT in j.stderr, \
            j.describe()
    assert "refused" not in job.stderr, job.describe()
    d.wait_audit("unprotected_call",
                 pred=lambda e: f"{UNPROTECTED} allowed" in e["MESSAGE"])


def test_rank_refuses_a_daemon_run_by_another_user(workdir):
    """ESMPI_SOCKET comes from the environment (which the launcher carries
    over the network): a socket served by another local user, who would
    read the job's keys, is refused at MPI_Init before a byte is sent."""
    fake = workdir / "fake"
    fake.mkdir()
    os.chown(fake, 65534, 65534)
    path = fake / "c.sock"
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:    # nobody listens there and never answers
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(str(path))
            os.chmod(path, 0o666)
            s.listen(16)
            os.write(ready_w, b"r")
            s.settimeout(60)
            held = []
            while True:
                held.append(s.accept()[0])
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"r"
        job = mh.mpirun(mh.example("ring"), 2, socket=path)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
    assert job.returncode != 0, job.describe()
    assert "runs as uid 65534, neither root nor this user" in job.stderr, \
        job.describe()

