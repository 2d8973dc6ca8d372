# SPDX-License-Identifier: Apache-2.0
"""A network adversary between two hosts: namespaces A - R - B, where R is a
user-space L2 bridge (tamper_bridge.py) that flips one byte in Open MPI's
TCP BTL segments and fixes the TCP checksum, so the kernel delivers the
altered stream as if it were genuine.

- plain Open MPI: the application receives the altered bytes silently (its
  own content checks catch them; MPI itself does not);
- with esmpi: the receiving rank refuses the record, names source,
  destination, communicator and tag, delivers nothing, and its host's
  esmpid audits an integrity_failure;
- control: the same esmpi job through the bridge without tampering passes.
"""
import re

import pytest

import nshosts
from nshosts import BTL_PORT_MIN, BTL_PORT_RANGE, report
from nshosts import adversary_job as job

# The adversary set-up is conftest.py's `tri` fixture: nshosts.Hosts with a
# router namespace, a daemon per host, pingpong as tri.prog.

INTEGRITY = re.compile(
    r"integrity failure: message from rank (\d+) \(world (\d+)\) to rank "
    r"(\d+) \(world (\d+)\) on communicator '([^']*)' tag (-?\d+) refused "
    r"\([^)]*\); no data delivered")


def tamper_args(every=1, min_payload=1000):
    return ["--tamper-port-min", str(BTL_PORT_MIN),
            "--tamper-port-max", str(BTL_PORT_MIN + BTL_PORT_RANGE - 1),
            "--min-payload", str(min_payload), "--offset", "600",
            "--every", str(every)]


# ------------------------------------------------------------------ tests

def test_plain_mpi_delivers_tampered_data(tri):
    """Without esmpi, MPI hands the altered bytes to the application."""
    bridge = tri.bridge("plain", *tamper_args())
    rc, out, err = job(tri, preload=False)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    # pingpong checks every byte: "check failed ... byte N wrong", then
    # "pingpong: FAILED ..." and a non-zero exit.
    assert re.search(r"check failed: .*(byte|element) -?\d+ wrong", err), \
        f"plain MPI: no corrupted data reported by the application:\n{why}"
    assert "pingpong: OK" not in out, why


@pytest.mark.parametrize("min_payload", [1000, 1300],
                         ids=["record", "chunk"])
def test_esmpi_refuses_tampered_record(tri, min_payload):
    """With esmpi, the altered record is refused: no data delivered, the
    job fails naming who/what, and the receiving host audits it.
    pingpong's messages are 0, 1, 1000 bytes, 1 and 4 MiB: segments of
    1300 bytes or more carry only the MiB ones, which esmpi sends in
    chunks (from 512 KiB), so "chunk" alters a chunk record."""
    bridge = tri.bridge("enc", *tamper_args(min_payload=min_payload))
    rc, out, err = job(tri, preload=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert rc is not None, f"esmpi job hung instead of failing:\n{why}"
    assert rc != 0, f"esmpi job with tampered records succeeded:\n{why}"
    comm, tag = check_refused(tri, out, err, why).group(5, 6)
    if min_payload > 1000:
        # pingpong's tag is its size's index (+100 as MPI_DOUBLE): 3 and 4
        # are 1 and 4 MiB. The refusal names the application's
        # communicator and tag, not the chunks' private ones.
        assert int(tag) % 100 in (3, 4) and comm == "MPI_COMM_WORLD", why


def check_refused(tri, out, err, why):
    """pingpong's job: a rank refused a record saying who and what, no
    altered byte reached pingpong's checks, and the receiving rank's host
    audited the integrity_failure. Returns the refusal's match."""
    m = INTEGRITY.search(err)
    assert m, f"no esmpi integrity failure message:\n{why}"
    src_w, dst_w, comm, tag = m.group(2, 4, 5, 6)
    assert "check failed" not in err and "FAILED" not in out, why
    assert "pingpong: OK" not in out, why
    receiver = tri.a.daemon if dst_w == "0" else tri.b.daemon
    evs = receiver.wait_audit(
        "integrity_failure", timeout=5,
        pred=lambda e: (e.get("ESMPI_PEER") == src_w and
                        e.get("ESMPI_TAG") == tag and
                        e.get("ESMPI_COMM") == comm))
    assert evs[0].get("ESMPI_RANK") == dst_w, evs
    return m


def test_esmpi_through_passthrough_bridge(tri):
    """Control: the same job through the bridge, nothing rewritten."""
    bridge = tri.bridge("pass")
    rc, out, err = job(tri, preload=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc == 0, f"esmpi job through the pass-through bridge:\n{why}"
    assert "pingpong: OK" in out, why
    assert not bridge.rewrites(), why
    assert not tri.a.daemon.audit("integrity_failure"), why
    assert not tri.b.daemon.audit("integrity_failure"), why


def test_marker_rewrite_plain_text_only(tri):
    """Marker mode: the bridge rewrites the first byte of a plain-text
    marker wherever it crosses. Plain MPI delivers the altered text; under
    esmpi the marker never crosses in clear, so nothing is rewritten and
    the job's result is the original."""
    ring = nshosts.example(tri.work, "ring")
    bridge = tri.bridge("marker-plain", "--marker", "ESMPI-SECRET-MARKER")
    rc, out, err = job(tri, preload=False, prog=ring)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc == 0, why
    assert bridge.rewrites(), why
    assert "last message 'DSMPI-SECRET-MARKER lap 2'" in out, why

    bridge = tri.bridge("marker-enc", "--marker", "ESMPI-SECRET-MARKER")
    rc, out, err = job(tri, preload=True, prog=ring)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert rc == 0, why
    assert not bridge.rewrites(), why
    assert "last message 'ESMPI-SECRET-MARKER lap 2'" in out, why
