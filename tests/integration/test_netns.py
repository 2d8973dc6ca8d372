# SPDX-License-Identifier: Apache-2.0
"""Two hosts for real: two Linux network namespaces joined by a veth pair,
each running its own esmpid with a node identity from one cluster CA, and an
Open MPI job spanning both (rsh launcher whose agent enters the namespace).

- without esmpi the plaintext marker crosses the veth;
- with esmpi the job gives the same result, nothing readable crosses, and
  both daemons open a session;
- a host enrolled under another CA is refused and the job fails, naming the
  certificate problem.
"""
import shutil
import zlib

import pytest

import nshosts
from nshosts import MARKER, sh


# -------------------------------------------------------------------- test

def test_two_namespace_hosts(ns_hosts, workdir):
    nshosts.need("tshark")
    hosts = ns_hosts()
    ring = nshosts.example(workdir, "ring")
    da, db = hosts.start_daemons()

    # (1) plain: the marker crosses the veth in clear.
    (rc, plain_out, err), plain_pcap = hosts.captured_run(
        "plain", ring, preload=False)
    assert rc == 0, f"plain job failed ({rc}):\n{plain_out}\n{err}"
    assert "ESMPI-SECRET-MARKER" in plain_out
    assert plain_pcap.count(MARKER) >= 1, \
        "capture on the veth saw no plaintext marker: wrong interface?"

    # (2) encrypted: same result, nothing readable, both daemons used.
    (rc, enc_out, err), enc_pcap = hosts.captured_run(
        "enc", ring, preload=True)
    assert rc == 0, (f"encrypted job failed ({rc}):\n{enc_out}\n{err}\n"
                     f"{hosts.logs()}")
    assert enc_out == plain_out
    assert len(enc_pcap) > 4000
    assert enc_pcap.count(MARKER) == 0
    oa = da.wait_audit("session_open")
    ob = db.wait_audit("session_open")
    # Each rank talked to its own host's daemon, in one job.
    assert {e.get("ESMPI_RANK") for e in oa} == {"0"}, da.log()
    assert {e.get("ESMPI_RANK") for e in ob} == {"1"}, db.log()
    assert len({e.get("ESMPI_JOB") for e in oa + ob}) == 1

    # (3) host B re-enrolled under another CA: refused, job fails.
    ca2 = nshosts.new_ca(workdir / "ca2")
    state_b2 = nshosts.enroll(ca2, "hostB", workdir / "state-b2")
    db.stop()
    db.state = state_b2
    db.start()
    rc, out, err = hosts.run(ring, preload=True)
    combined = out + err
    assert rc != 0, f"job with a foreign-CA host succeeded:\n{combined}"
    assert "does not verify against this cluster's CA" in combined, (
        f"job output does not name the certificate problem:\n{combined}"
        f"{hosts.logs()}")
    assert MARKER.decode() not in out


def tcp_payload(pcap_path):
    """All TCP payload bytes of a capture, in order."""
    r = sh("tshark", "-r", pcap_path, "-T", "fields", "-e", "tcp.payload",
           timeout=120)
    return b"".join(bytes.fromhex(line.replace(":", ""))
                    for line in r.stdout.split() if line)


def compressibility(data):
    """Compressed size over raw size: ~1.0 for ciphertext."""
    return len(zlib.compress(data, 6)) / max(len(data), 1)


def test_netpipe_unmodified_binary_is_encrypted(ns_hosts, workdir):
    """Debian's NetPIPE binary, unmodified, under LD_PRELOAD across the
    namespace hosts: its messages are plain buffers, highly compressible on
    the wire without esmpi and indistinguishable from random with it."""
    netpipe = shutil.which("NPopenmpi")
    if netpipe is None:
        pytest.fail("NPopenmpi not found (package netpipe-openmpi)",
                    pytrace=False)
    hosts = ns_hosts()
    da, db = hosts.start_daemons()
    results = {}
    for name, preload in (("plain", False), ("enc", True)):
        # Fixed repeats, no perturbations: bounded run time.
        prog = [netpipe, "-n", "10", "-p", "0", "-u", "262144", "-o",
                str(workdir / f"{name}.np")]
        (rc, out, err), _ = hosts.captured_run(name, prog, preload=preload,
                                               timeout=120)
        assert rc == 0, f"NetPIPE ({name}) failed ({rc}):\n{out}\n{err}"
        payload = tcp_payload(workdir / f"{name}.pcap")
        assert len(payload) > 1 << 20, f"{name}: capture too small"
        results[name] = compressibility(payload)
        lines = (workdir / f"{name}.np").read_text().splitlines()
        assert len(lines) > 15, f"{name}: NetPIPE reported too little"
    assert results["plain"] < 0.5, results
    assert results["enc"] > 0.95, results
    assert db.wait_audit("session_open")
