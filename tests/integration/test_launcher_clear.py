# SPDX-License-Identifier: Apache-2.0
"""What Open MPI's runtime sends between hosts in the clear with esmpi
active (docs/SECURITY.md, "Launcher"), and what esmpirun's
--private-output takes off the wire.

Two namespace hosts, mpirun on A, the last rank on B; tshark on B's link.
The job seals its MPI messages, yet the runtime's own TCP (mpirun <->
orted) carries, readable:
- the command line (a marker in the program's arguments),
- the variables exported with -x (a marker in one),
- the remote rank's stdout (it prints a marker), forwarded to mpirun.
Under `esmpirun --private-output DIR` the remote rank's output stays in
DIR on its own host and no longer crosses; the capture still sees the
command line, which shows it was listening.
"""
import esmpi_it as it
import nshosts

ARGV = b"ESMPI-ARGV-MARKER"
ENV = b"ESMPI-ENV-MARKER"
OUTPUT = b"ESMPI-OUTPUT-MARKER"
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"


def test_runtime_carries_argv_env_and_output_in_clear(ns_hosts, workdir):
    nshosts.need("tshark")
    hosts = ns_hosts()
    hosts.start_daemons()
    prog = nshosts.build(workdir, nshosts.HERE / "rank_output.c",
                         "rank_output")
    argv = [prog, ARGV.decode()]
    env = f"ESMPI_TEST_SECRET={ENV.decode()}"

    # esmpi active: sealed MPI, both daemons open a session.
    (rc, out, err), pcap = hosts.captured_run("clear", argv, preload=True,
                                              x=(env,))
    assert rc == 0, f"{out}\n{err}\n{hosts.logs()}"
    assert f"rank 1 result: {OUTPUT.decode()} 1" in out, out
    for d in hosts.daemons:
        d.wait_audit("session_open")
    seen = {m: pcap.count(m) for m in (ARGV, ENV, OUTPUT)}
    assert all(seen.values()), f"expected every marker on the wire: {seen}"

    # esmpirun --private-output: the remote rank's output stays on B.
    outdir = workdir / "private"
    with hosts.capture(workdir / "private.pcap") as cap:
        rc, out, err = hosts.run(argv, preload=False, x=(env,), launcher=(
            ESMPIRUN, "--private-output", outdir))
    assert rc == 0, f"{out}\n{err}\n{hosts.logs()}"
    assert OUTPUT.decode() not in out, out
    assert "esmpirun: warning: -x:" in err, err
    saved = (outdir / "1" / "rank.1" / "stdout").read_text()
    assert f"rank 1 result: {OUTPUT.decode()} 1" in saved, saved
    assert cap.data.count(ARGV) > 0, "capture saw no launch message"
    assert cap.data.count(OUTPUT) == 0, "the remote rank's output crossed"
    # Both ranks ran sealed (esmpirun exports A's ESMPI_SOCKET to both).
    it.wait_for(lambda: sum(len(d.audit("session_open"))
                            for d in hosts.daemons) >= 4,
                what="two more session_open audit records")
