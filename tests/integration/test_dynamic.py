# SPDX-License-Identifier: Apache-2.0
"""Dynamic processes with mpi4py (examples/mpi4py_dynamic.py): Comm.Spawn,
Accept/Connect between two jobs (Open MPI's ompi-server, the port name
through a file) and Comm.Join. esmpi holds no keys in common with another
job yet, so:

- under the default policy (unprotected: deny) each is refused by name on
  every rank, before anything moves;
- under `unprotected: audit` each works as plain Open MPI does (a message,
  an Allreduce and a Barrier on the intercommunicator, Disconnect), the
  children of a spawn run under libesmpi too, and the daemon audits the
  call and the plaintext traffic; never "internal error" (issue 18).

Run: /usr/bin/python3 -m pytest -q tests/integration/test_dynamic.py
"""
import os
import subprocess
import time

import esmpi_it as it
import mpi_helpers as mh

PROG = it.REPO / "examples" / "mpi4py_dynamic.py"
PY = "/usr/bin/python3"
AUDIT = ("version: 1\naccess: {users: [root]}\n"
         "defaults: {unprotected: audit}\n")


def job(mode, socket, preload, *args, server=None, np=2):
    x = ["--ompi-server", f"file:{server}"] if server else []
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", *x,
           "-np", str(np)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")}
    if preload:
        env["ESMPI_SOCKET"] = str(socket)
        cmd += ["-x", "ESMPI_SOCKET", "-x", f"LD_PRELOAD={mh.LIBESMPI}"]
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


def lines(out):
    return sorted(ln for ln in out.splitlines()
                  if ln.startswith(("parent", "child")))


def run_all(workdir, socket, preload):
    """Spawn, join, then accept/connect: {mode: (rc, out, err)}."""
    res = {m: done(job(m, socket, preload)) for m in ("spawn", "join")}
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
        acc = job("accept", socket, preload, port, server=uri)
        con = job("connect", socket, preload, port, server=uri)
        res["connect"] = done(con)
        res["accept"] = done(acc)
    finally:
        mh._kill_job(srv)
    return res


def test_refused_by_name_under_default_policy(daemon):
    # (MPI_Comm_join is refused by the same generated wrapper.)
    for mode, fn in (("spawn", "MPI_Comm_spawn"), ("accept", "MPI_Open_port")):
        rc, out, err = done(job(mode, daemon.sock, True, "/nonexistent"))
        assert rc != 0, out + err
        assert f"{fn} refused: esmpi cannot protect" in err, err
        assert "internal error" not in err and "got:" not in out
    assert daemon.wait_audit("unprotected_call", count=2)


def test_work_plain_and_audited_when_policy_allows(daemons, write_policy,
                                                   workdir):
    d = daemons("dyn", policy=write_policy(AUDIT))
    plain = run_all(workdir, None, False)
    prot = run_all(workdir, d.sock, True)
    for mode in plain:
        rc, out, err = plain[mode]
        assert rc == 0, f"plain {mode}:\n{out}\n{err}"
        rc, eout, err = prot[mode]
        assert rc == 0, f"esmpi {mode}:\n{eout}\n{err}\n{d.log()[-3000:]}"
        assert "internal error" not in err
        assert lines(eout) == lines(out), f"{mode}:\n{out}\n---\n{eout}"
    assert "child got: ESMPI-SECRET-MARKER" in prot["spawn"][1]
    # Parents (2), children (2), joiners (2), acceptors and connectors (4).
    assert len(d.wait_audit("session_open", count=10)) >= 10
    msgs = [e.get("MESSAGE", "") for e in d.audit("unprotected_call")]
    for what in ("MPI_Comm_spawn allowed", "MPI_Comm_get_parent allowed",
                 "MPI_Comm_join allowed", "MPI_Comm_accept allowed",
                 "MPI_Comm_connect allowed",
                 "Traffic with another MPI job's processes"):
        assert any(what in m for m in msgs), f"no audit of {what}: {msgs}"
