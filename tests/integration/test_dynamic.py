# SPDX-License-Identifier: Apache-2.0
"""Dynamic processes with mpi4py (examples/mpi4py_dynamic.py): Comm.Spawn,
Accept/Connect between two jobs (Open MPI's ompi-server, the port name
through a file) and Comm.Join (two jobs; two ranks of one job), under the
default policy. Each new
intercommunicator is keyed by a link between the two jobs' esmpids
(libclient/comm/link.c):

- a message, an Allreduce and a Barrier on it, an Allgather on its
  Intercomm_merge, an Allreduce on its Comm_dup, and Disconnect give the
  same results as plain Open MPI;
- over TCP on lo (`btl tcp,self`, children too), the capture of the plain
  run shows the marker the parent side sends, the esmpi run's never;
- the daemon audits each link on both sides (`link_keyed`); Join is run
  between two jobs (a link) and between two ranks of one job (the job
  key covers it, no link);
- a child spawned without libesmpi is refused clearly, never spoken to;
- a `sign` rule's record is verified across each link (the other job's
  rank certificates come with the link); a parent signing with a key its
  esmpid did not certify (forge_sign_key.c), or sending another job's
  rank certificate as its own (swap_link_cert.c), is refused by the
  spawned child.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_dynamic.py
"""
import hashlib
import os
import secrets
import subprocess
import time

import esmpi_it as it
import mpi_helpers as mh
from test_wire import capture, stop

PROG = it.REPO / "examples" / "mpi4py_dynamic.py"
PY = "/usr/bin/python3"
# Children inherit the environment: every process talks TCP over lo.
TCP = {"OMPI_MCA_btl": "tcp,self", "OMPI_MCA_btl_tcp_if_include": "lo",
       "OMPI_MCA_oob_tcp_if_include": "lo"}
# Other tests' traffic may cross lo meanwhile: a marker of this run's own.
MARKER = f"ESMPI-DYN-{secrets.token_hex(8)}"


def job(mode, socket, preload, *args, server=None, np=2, extra=None,
        shim=None):
    x = ["--ompi-server", f"file:{server}"] if server else []
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", *x,
           "-np", str(np)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")}
    env.update(TCP, **(extra or {}))
    if preload:
        env["ESMPI_SOCKET"] = str(socket)
        pre = f"{shim}:{mh.LIBESMPI}" if shim else str(mh.LIBESMPI)
        cmd += ["-x", "ESMPI_SOCKET", "-x", f"LD_PRELOAD={pre}"]
        for k in extra or {}:
            cmd += ["-x", k]
    cmd += [PY, str(PROG), mode, *map(str, args)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)


def done(p, timeout=90):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = mh._kill_job(p)
        raise AssertionError(f"job hung:\n{out}\n{err}") from None
    return p.returncode, out, err


def got(marker):
    """What the child side prints of the message carrying marker."""
    text = f"{marker} from the parent side"
    return "sha256 " + hashlib.sha256(text.encode()).hexdigest()[:16]


def lines(out):
    return sorted(ln for ln in out.splitlines()
                  if ln.startswith(("parent", "child")))


def run_all(workdir, socket, preload):
    """Spawn, join, then accept/connect: {mode: (rc, out, err)}."""
    # In a file: the environment travels in Open MPI's launch messages.
    (workdir / "marker").write_text(MARKER)
    mk = {"DYN_MARKER_FILE": str(workdir / "marker"), "DYN_SIGN_TAG": "9000"}
    res = {m: done(job(m, socket, preload, extra=mk))
           for m in ("spawn", "join")}
    uri = workdir / f"uri-{int(preload)}"
    port = workdir / f"port-{int(preload)}"
    srv = subprocess.Popen(["ompi-server", "--no-daemonize", "-r", str(uri)],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (uri.exists() and uri.stat().st_size):
            assert time.monotonic() < deadline, "ompi-server did not start"
            time.sleep(0.05)
        for a, c, kw in (("accept", "connect", {"server": uri}),
                         ("join-listen", "join-connect", {"np": 1, "server": uri})):
            pf = port.with_suffix("." + a)
            acc = job(a, socket, preload, pf, extra=mk, **kw)
            try:
                res[c] = done(job(c, socket, preload, pf, extra=mk, **kw))
                res[a] = done(acc)
            finally:
                if acc.poll() is None:
                    mh._kill_job(acc)
    finally:
        mh._kill_job(srv)
    return res


def captured(workdir, name, socket, preload):
    pcap = workdir / f"{name}.pcap"
    cap = capture(pcap)
    try:
        res = run_all(workdir, socket, preload)
    finally:
        stop(cap)
    return res, pcap.read_bytes()


# The default policy plus a sign rule for one tag no other traffic uses.
POLICY_SIGN_TAG = it.POLICY_ROOT + """\
rules:
  - name: signed
    match: { tags: [9000] }
    suite: aes-256-gcm
    sign: ecdsa-p256
"""


def test_keyed_sealed_and_audited_under_default_policy(daemons, write_policy,
                                                       workdir):
    daemon = daemons("d", policy=write_policy(POLICY_SIGN_TAG))
    plain, plain_cap = captured(workdir, "plain", None, False)
    prot, prot_cap = captured(workdir, "esmpi", daemon.sock, True)
    for mode in plain:
        rc, out, err = plain[mode]
        assert rc == 0, f"plain {mode}:\n{out}\n{err}"
        rc, eout, err = prot[mode]
        assert rc == 0, f"esmpi {mode}:\n{eout}\n{err}\n{daemon.log()[-3000:]}"
        assert "internal error" not in err, err
        assert "refused" not in err, err
        assert lines(eout) == lines(out), f"{mode}:\n{out}\n---\n{eout}"
        assert "merged: [" in eout and "dup allreduce:" in eout, eout
        if mode not in ("accept", "join-listen"):   # the other side's job
            assert f"child got: {got(MARKER)}" in eout, eout
            # A sign rule's record: signed and verified within one job
            # and across a link alike.
            assert "sign-check: delivered" in out, out
            assert "sign-check: delivered" in eout, eout
    # The capture saw the plain marker of each of the three (one message
    # each, maybe resent), and the esmpi run's traffic, never the marker.
    marker = MARKER.encode()
    assert plain_cap.count(marker) >= 3, plain_cap.count(marker)
    assert len(prot_cap) > 20000
    assert prot_cap.count(marker) == 0
    # Each link (spawn, accept/connect, join of two jobs; `join` between
    # two ranks of one job needs none: the job key covers it) audited by
    # the side that wrapped and the one that unwrapped (one node: one
    # daemon for both), naming the other job.
    keyed = daemon.wait_audit("link_keyed", count=6)
    msgs = [e.get("MESSAGE", "") for e in keyed]
    assert len(keyed) == 6, msgs
    assert sum("drew and wrapped" in m for m in msgs) == 3, msgs
    assert sum("unwrapped" in m for m in msgs) == 3, msgs
    assert all(e["ESMPI_PEER_JOB"] != e["ESMPI_JOB"] for e in keyed), keyed
    assert not daemon.audit("unprotected_call")
    assert not daemon.audit("signature_invalid")
    assert not daemon.audit("policy_mismatch")


def test_forged_signature_and_other_jobs_cert_across_links_refused(
        daemons, write_policy, workdir):
    """One parent spawns two child jobs, one after the other, with two
    shims before libesmpi (the children inherit them, but send nothing
    signed): forge_sign_key.c signs with a key its esmpid did not certify,
    swap_link_cert.c sends the first child job's genuine rank certificate
    as the parent's in the second link's CERTS. Each child verifies the
    parent's record on the sign rule's tag against the certificate its
    link brought: the first refuses the signature, the second the
    certificate (a rank of one job cannot pass as a rank of another),
    both say why and their esmpid audits it; the rest of each link
    works."""
    from test_sign import SIGFAIL, build
    d = daemons("dforge", policy=write_policy(POLICY_SIGN_TAG))
    here = it.REPO / "tests" / "integration"
    shims = ":".join(str(build(workdir, here / f"{n}.c", f"{n}.so", cc=cc,
                               extra=("-shared", "-fPIC", "-ldl", *x)))
                     for n, cc, x in (("forge_sign_key", "cc", ["-lcrypto"]),
                                      ("swap_link_cert", "mpicc", [])))
    (workdir / "marker").write_text(MARKER)
    rc, out, err = done(job("spawn-twice", d.sock, True, np=1, shim=shims,
                            extra={"DYN_MARKER_FILE": str(workdir / "marker"),
                                   "DYN_SIGN_TAG": "9000"}))
    why = f"{rc}\n{out}\n{err}\n--- esmpid\n{d.log()[-3000:]}"
    assert rc == 0, why
    assert "forge_sign_key: signing with an uncertified key" in err, why
    assert "swap_link_cert: sending another job's rank certificate" in err, \
        why
    assert out.count(f"child got: {got(MARKER)}") == 2, why
    assert "sign-check (first): refused" in out, why
    assert "sign-check (second): refused" in out, why
    assert "delivered" not in out and "internal error" not in err, why
    found = SIGFAIL.findall(err)
    assert len(found) == 2, f"not two 'signature invalid' refusals\n{why}"
    for src, src_w, dst, dst_w, comm, tag, reason in found:
        assert (src, src_w, dst, tag) == ("0", "0", "0", "9000"), why
    assert "(world 0 of the other job)" in err, why
    reasons = sorted(f[-1] for f in found)
    assert "another job" in reasons[0] and "link share" in reasons[0], why
    assert "certified key" in reasons[1], why
    ev = d.wait_audit("signature_invalid", count=2, timeout=5,
                      pred=lambda e: e.get("ESMPI_TAG") == "9000")
    assert len(ev) == 2 and all(e.get("ESMPI_PEER") == "0" for e in ev), ev


def test_sign_rule_in_one_jobs_policy_only(daemons, write_policy, workdir):
    """Accept/connect of one rank each, the accepting job under the default
    policy, the connecting one (esmpid's policy reloaded in between) under
    one that signs tag 9000: both roots warn that the other job's policy
    differs and audit `policy_mismatch`; the connecting side refuses the
    accepting side's unsigned record on tag 9000, saying why; the rest of
    the link works."""
    d = daemons("d1", policy=write_policy(it.POLICY_ROOT, name="no.yaml"))
    uri, port = workdir / "uri", workdir / "port"
    srv = subprocess.Popen(["ompi-server", "--no-daemonize", "-r", str(uri)],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    mk = {"DYN_SIGN_TAG": "9000"}
    try:
        it.wait_for(lambda: uri.exists() and uri.stat().st_size, timeout=20,
                    what="ompi-server")
        acc = job("accept", d.sock, True, port, server=uri, np=1, extra=mk)
        try:
            # The port is written after MPI_Init: the session has its rules.
            it.wait_for(port.exists, timeout=60, what="the port file")
            r = d.ctl("policy", "load", str(write_policy(POLICY_SIGN_TAG)))
            assert r.returncode == 0, r.stderr
            rc, out, err = done(job("connect", d.sock, True, port,
                                    server=uri, np=1, extra=mk))
            arc, aout, aerr = done(acc)
        finally:
            if acc.poll() is None:
                mh._kill_job(acc)
    finally:
        mh._kill_job(srv)
    why = f"{rc} {arc}\n{out}\n{err}\n--- accept\n{aout}\n{aerr}"
    assert rc == 0 and arc == 0, why
    assert "child merged: ['parent0', 'child0']" in out, why
    assert "sign-check: refused" in out, why
    for e in (err, aerr):
        assert "the other job's policy (digest" in e and "differs" in e, why
    assert "refused (no signature on a record of a sign rule)" in err, why
    assert "internal error" not in err + aerr, why
    assert len(d.wait_audit("policy_mismatch", count=2)) == 2, d.log()
    ev = d.wait_audit("signature_invalid", pred=lambda e:
                      e.get("ESMPI_TAG") == "9000")
    assert len(ev) == 1, ev


def test_child_without_libesmpi_refused(daemon):
    rc, out, err = done(job("spawn-plain", daemon.sock, True, np=1,
                            extra={"ESMPI_JOIN_TIMEOUT": "3"}))
    assert rc != 0, out + err
    assert "MPI_Comm_spawn: no esmpi link message from the other side" in err
    assert "does not run libesmpi" in err and "internal error" not in err
    assert "got:" not in out
    assert daemon.wait_audit("link_refused")


def test_spawn_across_namespace_hosts(ns_hosts, workdir):
    """The parent (one rank on host A) spawns its two children on host B
    (MPI_Info "host"): the link between the jobs is made by the two
    hosts' esmpids. Same output as plain; the capture on the link between
    the hosts shows the plain run's marker, the esmpi run's never; each
    daemon audits the link (one wrapped, the other unwrapped)."""
    import nshosts
    nshosts.need("tshark")
    hosts = ns_hosts()
    hosts.start_daemons()
    marker = f"ESMPI-DYNHOST-{secrets.token_hex(8)}"
    (workdir / "marker").write_text(marker)
    x = [f"DYN_MARKER_FILE={workdir / 'marker'}",
         f"DYN_SPAWN_HOST={hosts.b.ip}"]
    res = {}
    for preload in (False, True):
        (rc, out, err), cap = hosts.captured_run(
            f"spawn-{int(preload)}", [PY, str(PROG), "spawn"], per_host=2,
            np=1, preload=preload, x=x)
        assert rc == 0, f"preload={preload} ({rc}):\n{out}\n{err}" \
            f"{hosts.logs()}"
        assert "internal error" not in err, err
        res[preload] = (lines(out), cap)
    (plain, plain_cap), (enc, enc_cap) = res[False], res[True]
    assert enc == plain, f"{plain}\n---\n{enc}"
    assert f"child got: {got(marker)}" in enc, enc
    assert plain_cap.count(marker.encode()) >= 1, "no plaintext marker seen"
    assert len(enc_cap) > 20000, "capture saw no esmpi traffic"
    assert enc_cap.count(marker.encode()) == 0
    a, b = (h.daemon.wait_audit("link_keyed") for h in hosts)
    assert len(a) == len(b) == 1, (a, b)
    msgs = a[0].get("MESSAGE", "") + " | " + b[0].get("MESSAGE", "")
    assert "drew and wrapped" in msgs and "unwrapped" in msgs, msgs
    assert a[0]["ESMPI_PEER_JOB"] == b[0]["ESMPI_JOB"], (a, b)
    assert b[0]["ESMPI_PEER_JOB"] == a[0]["ESMPI_JOB"], (a, b)
