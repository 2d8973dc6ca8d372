# SPDX-License-Identifier: Apache-2.0
"""Replay and reordering by a network adversary: namespaces A - R - B as in
test_tamper.py, with tamper_bridge.py in R finding the fixed-size messages
of seqmsgs.c in Open MPI's TCP stream and either overwriting a later one
with an earlier one's bytes (replay) or exchanging two (reorder), with the
TCP checksum fixed and lengths unchanged.

- plain Open MPI delivers the replayed or reordered data silently (the
  program's own checks see the wrong message);
- esmpi refuses the replayed / out-of-order record with a replay_detected
  error naming source, destination, communicator and tag, wipes the
  receive buffer, and the receiver's esmpid audits replay_detected.
"""
import re

import esmpi_it as it
from nshosts import BTL_PORT_MIN, BTL_PORT_RANGE, build
from nshosts import adversary_job as job, report

SEQMSGS = it.REPO / "tests" / "integration" / "seqmsgs.c"
UNIT = ["--unit-len", "256",
        "--tamper-port-min", str(BTL_PORT_MIN),
        "--tamper-port-max", str(BTL_PORT_MIN + BTL_PORT_RANGE - 1)]
PLAIN = ["--magic", "SEQMSG-UNIT"]

REPLAY = re.compile(
    r"replay detected: message from rank 0 \(world 0\) to rank 1 \(world "
    r"1\) on communicator '([^']*)' tag 7 refused \([^)]*\); no data "
    r"delivered")


def run(tri, name, preload, *args):
    prog = build(tri.work, SEQMSGS, "seqmsgs")
    bridge = tri.bridge(name, *UNIT, *args)
    rc, out, err = job(tri, preload=preload, prog=prog)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc is not None, f"job hung:\n{why}"
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    return rc, out, err, why


def check_refused(tri, out, err, why, recv):
    """esmpi refused receive number recv as a replay, wiped the buffer,
    printed who/what, and host B's esmpid audited it."""
    assert f"recv {recv}: refused (esmpi: replayed message refused)" \
        f", buffer wiped" in out, why
    m = REPLAY.search(err)
    assert m, f"no esmpi replay message:\n{why}"
    evs = tri.b.daemon.wait_audit(
        "replay_detected", timeout=5,
        pred=lambda e: (e.get("ESMPI_PEER") == "0" and
                        e.get("ESMPI_TAG") == "7" and
                        e.get("ESMPI_COMM") == m.group(1)))
    assert evs[0].get("ESMPI_RANK") == "1", evs
    assert not tri.b.daemon.audit("integrity_failure"), why


def test_plain_mpi_delivers_replayed_message(tri):
    rc, out, err, why = run(tri, "replay-plain", False, *PLAIN,
                            "--replay", "3,8")
    # Unit 8 (message 7) now carries unit 3 (message 2): MPI delivers it.
    assert "recv 7: got message 2" in out, why
    assert "seqmsgs: 24 received, 0 refused, 1 wrong" in out, why
    assert rc != 0, why


def test_esmpi_refuses_replayed_record(tri):
    rc, out, err, why = run(tri, "replay-enc", True, "--replay", "3,8")
    check_refused(tri, out, err, why, 7)
    # Only the replayed record is lost; nothing wrong was delivered.
    assert "seqmsgs: 23 received, 1 refused, 0 wrong" in out, why
    assert rc != 0, why


def test_plain_mpi_delivers_reordered_messages(tri):
    rc, out, err, why = run(tri, "swap-plain", False, *PLAIN, "--swap", "4")
    assert "recv 3: got message 4" in out, why
    assert "recv 4: got message 3" in out, why
    assert "seqmsgs: 24 received, 0 refused, 2 wrong" in out, why
    assert rc != 0, why


def test_esmpi_refuses_reordered_record(tri):
    """The later record, arriving first, is authentic and could follow a
    legitimately missing one, so it opens; the earlier one, arriving after
    it on the same (communicator, source, tag), breaks MPI's order and is
    refused."""
    rc, out, err, why = run(tri, "swap-enc", True, "--swap", "4")
    assert "recv 3: got message 4" in out, why
    check_refused(tri, out, err, why, 4)
    assert "seqmsgs: 23 received, 1 refused, 1 wrong" in out, why
    assert rc != 0, why
