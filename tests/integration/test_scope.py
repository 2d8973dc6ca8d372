# SPDX-License-Identifier: Apache-2.0
"""Policy `scope: inter-node`: point-to-point messages between ranks of one
node travel plain (they never leave the machine), everything between nodes
is sealed; the default (`scope: all`) seals everything.

The evidence is each rank's record counters (ESMPI_STATS=1 prints them at
MPI_Finalize: records sealed, of which to same-node peers, and plain ones),
the daemon's session_open audit (ESMPI_SCOPE), and, across two namespace
hosts with two ranks each, a capture of the link between them.
"""
import os
import re
import subprocess

import pytest

import esmpi_it as it
import mpi_helpers as mh
import nshosts

POLICY_INTER = it.POLICY_ROOT + "  scope: inter-node\n"
# Only tags 100-199 of any communicator stay plain on one node.
POLICY_RULE = it.POLICY_ROOT + """\
rules:
  - name: halo
    match: { tags: "100-199" }
    scope: inter-node
"""
STATS = re.compile(r"esmpi: rank (\d+): stats: sealed (\d+) \(same node "
                   r"(\d+)\), plain (\d+), same-node peers (\d+)")


def stats(stderr):
    """{rank: (sealed, sealed to same-node peers, plain, same-node peers)}"""
    return {int(m[0]): tuple(map(int, m[1:]))
            for m in STATS.findall(stderr)}


def run_stats(prog, np, sock, args=(), hosts=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")}
    env.update(ESMPI_STATS="1", ESMPI_SOCKET=str(sock))
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np",
           str(np), "-x", "ESMPI_STATS", "-x", "ESMPI_SOCKET",
           "-x", f"LD_PRELOAD={mh.LIBESMPI}", str(prog), *map(str, args)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       timeout=mh.MPIRUN_TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    s = stats(r.stderr)
    assert sorted(s) == list(range(np)), r.stderr
    return r, s


@pytest.fixture(scope="module", autouse=True)
def examples_built():
    missing = mh.missing_examples(["ring", "wildcard", "halo"])
    if missing:
        pytest.fail(f"examples not built: {missing}", pytrace=False)


def test_default_seals_same_node(daemons):
    d = daemons("all")
    plain = mh.mpirun(mh.example("ring"), 2, preload=False)
    r, s = run_stats(mh.example("ring"), 2, d.sock)
    assert r.stdout == plain.stdout
    for rank, (sealed, local, nplain, peers) in s.items():
        assert peers == 1 and nplain == 0, s
        assert local > 0, s
    opens = d.wait_audit("session_open", count=2)
    assert {e["ESMPI_SCOPE"] for e in opens} == {"all"}


@pytest.mark.parametrize("prog", ["ring", "wildcard", "halo"])
def test_inter_node_same_node_plain(daemons, workdir, prog):
    pol = workdir / "inter.yaml"
    pol.write_text(POLICY_INTER)
    d = daemons("inter", policy=pol)
    plain = mh.mpirun(mh.example(prog), 4, preload=False)
    assert plain.returncode == 0, plain.describe()
    r, s = run_stats(mh.example(prog), 4, d.sock)
    assert r.stdout == plain.stdout
    for rank, (sealed, local, nplain, peers) in s.items():
        # Every rank shares the node; only the Init collective is sealed.
        assert peers == 3 and local == 0, s
    assert sum(v[2] for v in s.values()) > 0, s
    opens = d.wait_audit("session_open", count=4)
    assert {e["ESMPI_SCOPE"] for e in opens} == {"inter-node"}


def test_rule_scope_only_its_tags(daemons, workdir):
    """halo uses tags 100-199 (plain under the rule) and the ring's tags
    elsewhere are sealed: both sides agree per (communicator, peer, tag)."""
    pol = workdir / "rule.yaml"
    pol.write_text(POLICY_RULE)
    d = daemons("rule", policy=pol)
    for prog in ("ring", "halo"):
        plain = mh.mpirun(mh.example(prog), 2, preload=False)
        r, s = run_stats(mh.example(prog), 2, d.sock)
        assert r.stdout == plain.stdout
        nplain = sum(v[2] for v in s.values())
        local = sum(v[1] for v in s.values())
        if prog == "ring":      # tags 0 and 1: sealed
            assert nplain == 0 and local > 0, s
        else:   # halo tags 100 and 101 plain; the report (tag 32000) sealed
            assert s[0][2] > 0 and s[1][2] > 0, s
            assert s[0][1] == 0 and s[1][1] == 1, s
    opens = d.wait_audit("session_open", count=2)
    assert {e["ESMPI_SCOPE"] for e in opens} == {"inter-node (some rules)"}


# ------------------------------------------------- two hosts, two ranks each

def test_inter_node_across_hosts(ns_hosts, workdir):
    """4 ranks: 0 and 1 on host A, 2 and 3 on host B; shared memory inside
    a host (each host its own host name, see nshosts), TCP between."""
    nshosts.need("tshark")
    pol = workdir / "inter.yaml"
    pol.write_text(POLICY_INTER)
    hosts = ns_hosts()
    da, db = hosts.start_daemons(policy=pol)
    ring = nshosts.example(workdir, "ring")
    runs = {}
    for name, preload in (("plain", False), ("enc", True)):
        (rc, out, err), pcap = hosts.captured_run(
            name, ring, per_host=2, preload=preload,
            x=["ESMPI_STATS=1"] if preload else [])
        assert rc == 0, f"{name}:\n{out}\n{err}"
        runs[name] = (out, err, pcap)
    plain_out, _, plain_pcap = runs["plain"]
    enc_out, enc_err, enc_pcap = runs["enc"]
    # One policy on both hosts: no warning at MPI_Init.
    assert "differs from rank 0" not in enc_err, enc_err
    assert plain_pcap.count(nshosts.MARKER) >= 1, "marker not on the wire"
    assert enc_out == plain_out
    assert len(enc_pcap) > 4000
    assert enc_pcap.count(nshosts.MARKER) == 0
    s = stats(enc_err)
    assert sorted(s) == [0, 1, 2, 3], enc_err
    for rank, (sealed, local, nplain, peers) in s.items():
        # One same-node peer each; nothing to it sealed.
        assert peers == 1 and local == 0, s
    # The ring's same-host hops (0->1, 2->3) went plain, the
    # inter-host ones (1->2, 3->0) sealed.
    assert s[0][2] > 0 and s[2][2] > 0, s
    assert s[1][0] > 1 and s[3][0] > 1, s
    for d in (da, db):
        opens = d.wait_audit("session_open", count=2)
        assert {e["ESMPI_SCOPE"] for e in opens} == {"inter-node"}


def test_plain_refused_where_policy_seals(daemons, workdir):
    """Two daemons with one node identity but different policies: rank 0
    (scope inter-node) sends plain records, rank 1 (scope all) would seal,
    so it refuses them as an integrity failure: no downgrade. Both ranks
    were told at MPI_Init that their policies differ (stderr, audit
    policy_mismatch on both daemons), and the refusal says so."""
    state = workdir / "state"
    it.run([it.ESMPICTL, "ca", "init", "--dir", workdir / "ca"])
    r = it.run([it.ESMPICTL, "node", "enroll", "--ca", workdir / "ca",
                "--name", "node", "--out", state])
    assert r.returncode == 0, r.stderr
    pol = workdir / "inter.yaml"
    pol.write_text(POLICY_INTER)
    da = daemons("inter", policy=pol, state_dir=state)
    db = daemons("all", state_dir=state)
    ring = mh.example("ring")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    pre = f"LD_PRELOAD={mh.LIBESMPI}"
    cmd = ["mpirun", "--allow-run-as-root", "-np", "1", "-x", pre,
           "-x", f"ESMPI_SOCKET={da.sock}", ring, ":", "-np", "1", "-x",
           pre, "-x", f"ESMPI_SOCKET={db.sock}", ring]
    p = subprocess.run([str(c) for c in cmd], env=env, capture_output=True,
                       text=True, timeout=mh.MPIRUN_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert p.returncode != 0, p.stdout + p.stderr
    assert 1 in mh.rank_lines(p.stderr, "integrity failure"), p.stderr
    assert "tag 0 refused (access denied)" in p.stderr, p.stderr
    assert "ESMPI-SECRET-MARKER" not in p.stdout
    assert db.wait_audit("integrity_failure")
    assert re.search(r"rank 1: warning: the policy esmpid \(\S+\) gives "
                     r"this rank differs from rank 0's", p.stderr), p.stderr
    assert "rank 0: warning: 1 rank(s) of this job run a policy that " \
        "differs" in p.stderr, p.stderr
    assert "ranks of this job run different policies" in p.stderr, p.stderr
    assert db.wait_audit("policy_mismatch", pred=lambda e:
                         e.get("ESMPI_RANK") == "1")
    assert da.wait_audit("policy_mismatch", pred=lambda e:
                         e.get("ESMPI_RANK") == "0")
