# SPDX-License-Identifier: Apache-2.0
"""Per-message ECDSA signatures (policy `sign: ecdsa-p256`, issue 5):

- examples give the same output signed as plain, the collective
  conformance program (coll_check) included: collective records are
  signed by the rank that seals them;
- a policy signing only some tags: unsigned records in a signing job,
  truncation and wildcards behave as in MPI;
- on the wire (seen through PMPI_Recv, which esmpi does not wrap) a signed
  record is 64 bytes longer and carries flag 0x0002, an unsigned one not;
- a rank that signs with a key its esmpid did not certify (an LD_PRELOAD
  shim swaps the key inside OpenSSL) is refused by its peer: the job stops
  naming source, destination, communicator and tag, no data is delivered,
  and the receiver's esmpid audits `signature_invalid`; in a collective
  alike (tag -1, ESMPI_COLL_TAG).

Run: /usr/bin/python3 -m pytest -q tests/integration/test_sign.py
"""
import os
import re
import subprocess

import pytest

import esmpi_it as it
import mpi_helpers as mh

HERE = os.path.dirname(os.path.abspath(__file__))

POLICY_SIGN_ALL = it.POLICY_SIGN_ALL
# Only tag 7 (and tags 9000-9009, which no example uses) are signed.
POLICY_SIGN_SOME = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-256-gcm
rules:
  - name: signed
    match: { tags: [7, "9000-9009"] }
    suite: aes-256-gcm
    sign: ecdsa-p256
"""

SIGFAIL = re.compile(
    r"signature invalid: message from rank (\d+) \(world (\d+)"
    r"(?: of the other job)?\) to rank "
    r"(\d+) \(world (\d+)\) on communicator '([^']*)' tag (-?\d+) refused "
    r"\(([^)]*)\); no data delivered")


def build(workdir, src, name, cc="mpicc", extra=()):
    out = workdir / name
    r = it.run([cc, "-O2", "-Wall", "-o", str(out), str(src), *extra],
               timeout=120)
    if r.returncode != 0:
        pytest.fail(f"cannot build {name}: {r.stderr}", pytrace=False)
    return out


def same_as_plain(d, name, np):
    prog = mh.example(name)
    plain = mh.mpirun(prog, np, preload=False)
    assert plain.returncode == 0, plain.describe()
    prot = mh.mpirun(prog, np, socket=d.sock)
    assert prot.returncode == 0, (
        f"{name} fails signed\n{prot.describe()}\n--- esmpid\n"
        f"{d.log()[-3000:]}")
    assert prot.stdout == plain.stdout, (
        f"--- plain\n{plain.stdout}--- signed\n{prot.stdout}")
    return prot


@pytest.mark.parametrize("name, np", [
    ("ring", 2), ("ring", 4), ("pingpong", 2), ("probe", 2),
    ("persistent", 2), ("wildcard", 2), ("modes", 2), ("truncate", 2),
    ("threads", 2)])
def test_examples_signed_same_as_plain(daemons, write_policy, name, np):
    d = daemons("sign", policy=write_policy(POLICY_SIGN_ALL))
    same_as_plain(d, name, np)
    assert not d.audit("signature_invalid"), d.log()


@pytest.mark.parametrize("np", [2, 3])
def test_collectives_signed_same_as_plain(daemons, write_policy, np):
    d = daemons("csign", policy=write_policy(POLICY_SIGN_ALL))
    prot = same_as_plain(d, "coll_check", np)
    assert "coll_check: OK" in prot.stdout, prot.describe()
    assert not d.audit("signature_invalid"), d.log()


@pytest.mark.parametrize("name", ["truncate", "wildcard", "probe", "modes"])
def test_some_tags_signed(daemons, write_policy, name):
    """Receives have room for a signature; an unsigned record that fits
    only thanks to it is still MPI_ERR_TRUNCATE (truncate.c checks)."""
    d = daemons("some", policy=write_policy(POLICY_SIGN_SOME))
    prot = same_as_plain(d, name, 2)
    if name == "truncate":
        assert "MPI_ERR_TRUNCATE" in prot.stdout


def test_records_on_the_wire_are_signed(daemons, write_policy, workdir):
    d = daemons("wire", policy=write_policy(POLICY_SIGN_SOME))
    prog = build(workdir, os.path.join(HERE, "sign_wire.c"), "sign_wire")
    job = mh.mpirun(prog, 2, socket=d.sock)
    assert job.returncode == 0, job.describe()
    # 100 bytes + 24 header + 16 tag (+ 64 signature on tag 7).
    assert "sign_wire: tag 7 record 204 bytes flags 0x0002" in job.stdout, \
        job.describe()
    assert "sign_wire: tag 8 record 140 bytes flags 0x0000" in job.stdout, \
        job.describe()


def forged_run(d, workdir, prog, args=()):
    """Rank 1 runs with the key-swapping shim before libesmpi.so."""
    shim = build(workdir, os.path.join(HERE, "forge_sign_key.c"),
                 "forge_sign_key.so", cc="cc",
                 extra=("-shared", "-fPIC", "-ldl", "-lcrypto"))
    wrap = workdir / "per_rank.sh"
    wrap.write_text(
        "#!/bin/sh\n"
        f"export ESMPI_SOCKET={d.sock}\n"
        'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then\n'
        f"  export LD_PRELOAD={shim}:{mh.LIBESMPI}\n"
        "else\n"
        f"  export LD_PRELOAD={mh.LIBESMPI}\n"
        "fi\n"
        'exec "$@"\n')
    os.chmod(wrap, 0o755)
    return mh.mpirun(wrap, 2, preload=False, timeout=60,
                     args=[prog, *args])


@pytest.mark.parametrize("name, tag", [("pingpong", None),
                                       ("coll_check", "-1")])
def test_uncertified_signing_key_refused(daemons, write_policy, workdir,
                                         name, tag):
    d = daemons("forge", policy=write_policy(POLICY_SIGN_ALL))
    job = forged_run(d, workdir, mh.example(name))
    why = f"{job.describe()}\n--- esmpid\n{d.log()[-3000:]}"
    assert "forge_sign_key: signing with an uncertified key" in job.stderr, \
        why
    assert job.returncode != 0, f"forged signatures accepted\n{why}"
    assert f"{name}: OK" not in job.stdout, why
    # The program's own checks never saw data: nothing was delivered.
    assert "check failed" not in job.stderr, why
    m = SIGFAIL.search(job.stderr)
    assert m, f"no 'signature invalid' refusal\n{why}"
    src, src_w, dst, dst_w, comm, got_tag, reason = m.groups()
    assert (src_w, dst_w) == ("1", "0"), why
    assert tag is None or got_tag == tag, why
    tag = got_tag
    assert "certified key" in reason, why
    ev = d.wait_audit("signature_invalid", timeout=5,
                      pred=lambda e: e.get("ESMPI_PEER") == "1" and
                      e.get("ESMPI_TAG") == tag and
                      e.get("ESMPI_COMM") == comm)
    assert ev[0].get("ESMPI_RANK") == "0", ev


def test_uncertified_key_harmless_without_sign_rule(daemons, write_policy,
                                                    workdir):
    """Control: the same shim under a policy that signs nothing."""
    d = daemons("nosign", policy=write_policy(it.POLICY_ROOT))
    job = forged_run(d, workdir, mh.example("pingpong"))
    assert job.returncode == 0, job.describe()
    assert "pingpong: OK" in job.stdout, job.describe()
    assert not d.audit("signature_invalid")


# ------------------------------------------------- on the wire, two hosts

from nshosts import BTL_PORT_MIN, BTL_PORT_RANGE  # noqa: E402
from nshosts import adversary_job as job, report  # noqa: E402


def test_flipped_signature_byte_between_hosts(tri):
    """Namespaces A - R - B with the tamper bridge in R: the last bytes of
    pingpong's 1000-byte record (1104 bytes with the signature, one TCP
    segment) are its signature; flipping one is refused on arrival."""
    pol = tri.work / "sign.yaml"
    pol.write_text(POLICY_SIGN_ALL)
    os.chmod(pol, 0o644)
    for d in tri.daemons:
        r = d.ctl("policy", "load", str(pol))
        assert r.returncode == 0, r.stderr
    bridge = tri.bridge(
        "sig", "--tamper-port-min", str(BTL_PORT_MIN),
        "--tamper-port-max", str(BTL_PORT_MIN + BTL_PORT_RANGE - 1),
        "--min-payload", "1000", "--max-payload", "1300",
        "--offset", "10", "--from-end", "--every", "1")
    rc, out, err = job(tri, preload=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert rc is not None and rc != 0, f"not refused:\n{why}"
    m = SIGFAIL.search(err)
    assert m, f"no 'signature invalid' refusal:\n{why}"
    src, src_w, dst, dst_w, comm, tag, reason = m.groups()
    assert "check failed" not in err and "pingpong: OK" not in out, why
    receiver = tri.a.daemon if dst_w == "0" else tri.b.daemon
    ev = receiver.wait_audit(
        "signature_invalid", timeout=5,
        pred=lambda e: e.get("ESMPI_PEER") == src_w and
        e.get("ESMPI_TAG") == tag)
    assert ev[0].get("ESMPI_RANK") == dst_w, ev


# ------------------------------------------------------------- daemon side

REQ_CERTIFY = 16


def test_certify_refused_before_key_establishment(daemon):
    """esmpid certifies a signing key only for a session whose key share
    the job's rank 0 wrapped the job key for (KEYED): right after Hello
    (any rank number may be claimed there) the request is a protocol
    violation."""
    point = b"\x04" + bytes(64)
    with it.connect(daemon.sock) as s:
        s.sendall(it.frame(it.request(
            it.REQ_HELLO, it.hello_body(os.urandom(16), rank=1, size=2))))
        field, _ = it.read_reply(s)
        assert field == it.REP_HELLO
        s.sendall(it.frame(it.request(REQ_CERTIFY, it.f_bytes(1, point))))
        code, msg = it.read_error(s)
        assert code == it.ERR_PROTOCOL, (code, msg)
        assert it.wait_eof(s), "daemon kept the connection open"
    daemon.wait_audit("protocol_error")
    assert daemon.alive()
