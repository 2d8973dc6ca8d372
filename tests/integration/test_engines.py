# SPDX-License-Identifier: Apache-2.0
"""The record AEAD's two engines (common/esmpi_crypto.c): ipsec-mb and
OpenSSL give the same wire, so one job may run both.

- ESMPI_CRYPTO forces an engine per rank; the rank's ESMPI_STATS line, its
  esmpid's session_open audit (ESMPI_ENGINE) and esmpictl status name it;
- an unknown or unusable forced engine stops MPI_Init on every rank with
  the reason, before anything is sent;
- across two namespace hosts, rank 0 on OpenSSL and rank 1 on ipsec-mb:
  the same result as plain, no marker on the link (which carries it
  without esmpi), and a record altered by the bridge in the router is
  refused and audited.
"""
import json
import os
import re
import subprocess

import esmpi_it as it
import mpi_helpers as mh
import nshosts
from nshosts import MARKER, report
from test_tamper import INTEGRITY, tamper_args

# rank 0 on OpenSSL, every other rank on ipsec-mb; the library reads
# ESMPI_CRYPTO at MPI_Init (sh itself makes no MPI call).
MIXED = ('if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then ESMPI_CRYPTO=openssl; '
         'else ESMPI_CRYPTO=ipsec-mb; fi; export ESMPI_CRYPTO; exec "$@"')


def mixed(prog):
    return ["sh", "-c", MIXED, "sh", str(prog)]


def engines(stderr):
    """{world rank: engine} from the ranks' ESMPI_STATS lines."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(
        r"esmpi: rank (\d+): stats: .*, engine ([^\s,]+)", stderr)}


def test_engine_per_rank_is_named(daemons):
    d = daemons("eng")
    job = mh.mpirun(mh.example("ring"), 2, socket=d.sock,
                    x=["ESMPI_STATS=1", "ESMPI_CRYPTO=openssl"])
    assert job.returncode == 0, job.describe()
    assert engines(job.stderr) == {0: "openssl", 1: "openssl"}, \
        job.describe()
    opened = d.wait_audit("session_open", count=2)
    assert {e.get("ESMPI_ENGINE") for e in opened} == {"openssl"}, opened

    job = mh.mpirun(mh.example("ring"), 2, socket=d.sock,
                    x=["ESMPI_STATS=1", "ESMPI_CRYPTO=ipsec-mb"])
    assert job.returncode == 0, job.describe()
    names = engines(job.stderr)
    assert set(names) == {0, 1} and all(
        n.startswith("ipsec-mb/") for n in names.values()), job.describe()


HOLD = ("from mpi4py import MPI; import time; MPI.COMM_WORLD.Barrier(); "
        "time.sleep(3); MPI.COMM_WORLD.Barrier()")


def test_engine_in_status(daemons):
    """esmpictl status lists each session's engine while the job runs."""
    d = daemons("st")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["ESMPI_SOCKET"] = str(d.sock)
    p = subprocess.Popen(
        ["mpirun", "--allow-run-as-root", "-np", "2", "-x", "ESMPI_SOCKET",
         "-x", "ESMPI_CRYPTO=openssl", "-x", f"LD_PRELOAD={mh.LIBESMPI}",
         "/usr/bin/python3", "-c", HOLD], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        d.wait_audit("session_open", count=2, timeout=30)
        st = d.status()
        assert [s["engine"] for s in st["sessions"]] == \
            ["openssl", "openssl"], st
        r = d.ctl("status")
        assert "ENGINE" in r.stdout and "openssl" in r.stdout, r.stdout
    finally:
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, out + err


def test_unusable_engine_stops_mpi_init(daemons):
    d = daemons("bad")
    job = mh.mpirun(mh.example("ring"), 2, socket=d.sock,
                    x=["ESMPI_CRYPTO=rot13"], timeout=60)
    assert job.returncode != 0, job.describe()
    assert "ring:" not in job.stdout, job.describe()
    ranks = mh.rank_lines(job.stderr, "no usable AEAD engine")
    assert ranks == {0, 1}, job.describe()
    assert "rot13" in job.stderr, job.describe()
    assert not d.audit("session_open"), d.log()


def test_mixed_engines_across_hosts(ns_hosts, workdir):
    nshosts.need("tshark")
    hosts = ns_hosts()
    ring = nshosts.example(workdir, "ring")
    da, db = hosts.start_daemons()
    (rc, plain_out, err), pcap = hosts.captured_run("plain", ring,
                                                    preload=False)
    assert rc == 0, f"plain job failed ({rc}):\n{plain_out}\n{err}"
    assert pcap.count(MARKER) >= 1, \
        "capture on the veth saw no plaintext marker: wrong interface?"

    (rc, out, err), pcap = hosts.captured_run(
        "mixed", mixed(ring), preload=True, x=["ESMPI_STATS=1"])
    assert rc == 0, f"mixed job failed ({rc}):\n{out}\n{err}{hosts.logs()}"
    assert out == plain_out
    names = engines(err)
    assert names.get(0) == "openssl", err
    assert names.get(1, "").startswith("ipsec-mb/"), err
    assert len(pcap) > 4000 and pcap.count(MARKER) == 0
    assert da.wait_audit("session_open")[0].get("ESMPI_ENGINE") == \
        "openssl", da.log()
    assert db.wait_audit("session_open")[0].get(
        "ESMPI_ENGINE", "").startswith("ipsec-mb/"), db.log()


def test_mixed_engines_refuse_tampered_record(tri):
    bridge = tri.bridge("mixed", *tamper_args())
    rc, out, err = tri.run(mixed(tri.prog), preload=True,
                           timeout=nshosts.ADVERSARY_TIMEOUT, hang_ok=True)
    bridge.stop()
    why = report(tri, bridge, rc, out, err)
    assert bridge.rewrites(), f"the bridge rewrote nothing:\n{why}"
    assert rc is not None and rc != 0, why
    m = INTEGRITY.search(err)
    assert m, f"no esmpi integrity failure message:\n{why}"
    assert "check failed" not in err and "pingpong: OK" not in out, why
    src_w, dst_w = m.group(2), m.group(4)
    receiver = tri.a.daemon if dst_w == "0" else tri.b.daemon
    evs = receiver.wait_audit("integrity_failure", timeout=5,
                              pred=lambda e: e.get("ESMPI_PEER") == src_w)
    assert evs, why
