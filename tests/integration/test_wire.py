# SPDX-License-Identifier: Apache-2.0
"""What crosses the wire: a real tshark capture of a real mpirun job over
TCP. Without esmpi the plaintext marker is on the wire; with esmpi it never
is, and the job's results are the same."""
import os
import signal
import subprocess
import time

import esmpi_it as it

RING = it.BUILD / "examples" / "ring"
LIB = it.BUILD / "libclient" / "libesmpi.so"
MARKER = b"ESMPI-SECRET-MARKER"
MCA = ["--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo"]


def capture(path):
    p = subprocess.Popen(["tshark", "-i", "lo", "-f", "tcp", "-w", str(path),
                          "-q"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    # tshark says "Capturing on 'Loopback: lo'" once it listens.
    deadline = time.monotonic() + 20
    buf = b""
    while b"Capturing on" not in buf:
        assert p.poll() is None, f"tshark exited: {buf!r}"
        assert time.monotonic() < deadline, "tshark did not start"
        buf += os.read(p.stderr.fileno(), 4096)
    return p


def stop(p):
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGINT)
    p.wait(20)


def mpirun(env_extra, preload):
    env = dict(os.environ, **env_extra)
    cmd = ["mpirun", "--allow-run-as-root", "-np", "2", *MCA]
    if preload:
        cmd += ["-x", "ESMPI_SOCKET", "-x", f"LD_PRELOAD={LIB}"]
    r = subprocess.run(cmd + [str(RING)], env=env, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode()


def test_marker_on_wire_only_without_esmpi(daemons, workdir):
    d = daemons("wire")
    plain_pcap, enc_pcap = workdir / "plain.pcap", workdir / "enc.pcap"

    cap = capture(plain_pcap)
    try:
        plain_out = mpirun({}, preload=False)
    finally:
        stop(cap)
    cap = capture(enc_pcap)
    try:
        enc_out = mpirun({"ESMPI_SOCKET": str(d.sock)}, preload=True)
    finally:
        stop(cap)

    assert "ESMPI-SECRET-MARKER" in plain_out
    assert plain_out == enc_out
    plain_bytes, enc_bytes = plain_pcap.read_bytes(), enc_pcap.read_bytes()
    # The capture must have seen the job's traffic in both runs.
    assert plain_bytes.count(MARKER) >= 3
    assert len(enc_bytes) > 4000
    assert enc_bytes.count(MARKER) == 0
    # And the daemon saw both ranks open sessions of one job.
    opens = d.wait_audit("session_open", count=2)
    assert {e["ESMPI_RANK"] for e in opens} == {"0", "1"}
    assert len({e["ESMPI_JOB"] for e in opens}) == 1
