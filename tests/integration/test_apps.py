# SPDX-License-Identifier: Apache-2.0
"""Real applications from Debian packages, unmodified, under libesmpi.so:
LAMMPS (`lmp`, package lammps) and the HPC Challenge (`hpcc`, package hpcc).

- shared memory, 2 and 4 ranks: same results as the plain run (LAMMPS
  thermo output identical; hpcc validation passes and every result that is
  not a time or a rate is equal);
- across two namespace hosts (nshosts.py): same results, and the
  wire shows no plaintext (LAMMPS: rank 0 broadcasts each input line, so a
  marker in the input crosses in clear without esmpi; hpcc moves random
  doubles, so the check is that the payload is incompressible as for
  NetPIPE).
"""
import os
import re
import shutil
import struct
import subprocess
import zlib

import pytest

import esmpi_it as it
import nshosts

LMP = shutil.which("lmp")
HPCC = shutil.which("hpcc")
ESMPIRUN = it.BUILD / "libclient" / "esmpirun"
LIBESMPI = it.BUILD / "libclient" / "libesmpi.so"
MARKER = "ESMPI-SECRET-MARKER"
APP_TIMEOUT = 120

# Lennard-Jones melt, as LAMMPS's bench/in.lj but smaller and shorter. The
# marker is a string variable: rank 0 broadcasts every input line.
LJ_MELT = f"""\
variable        secret string {MARKER}
units           lj
atom_style      atomic
lattice         fcc 0.8442
region          box block 0 8 0 8 0 8
create_box      1 box
create_atoms    1 box
mass            1 1.0
velocity        all create 3.0 87287 loop geom
pair_style      lj/cut 2.5
pair_coeff      1 1 1.0 1.0 2.5
neighbor        0.3 bin
neigh_modify    every 20 delay 0 check no
fix             1 all nve
thermo          50
run             250
"""

# hpcc's example input with N=400, NB=40 and one P x Q grid (all its tests
# size themselves from N, so the whole run takes seconds).
HPCCINF = "/usr/share/doc/hpcc/examples/_hpccinf.txt"

# hpcc summary keys that measure time or speed; every other one is a
# size, a residual, an error count or a parameter and must not change.
HPCC_VARIABLE = re.compile(
    r"(time|Tflops|Gflops|GUPs|GBs|STREAM_|Latency|Bandwidth|_usec)", re.I)


@pytest.fixture(scope="module", autouse=True)
def apps_present():
    missing = [n for n, p in (("lammps (lmp)", LMP), ("hpcc", HPCC))
               if p is None]
    if missing or not os.path.exists(HPCCINF):
        pytest.fail(f"missing packages: {', '.join(missing) or HPCCINF} "
                    "(scripts/install-deps.sh)", pytrace=False)


def write_lj(workdir):
    path = workdir / "in.melt"
    path.write_text(LJ_MELT)
    return path


def write_hpccinf(workdir, p, q):
    text = open(HPCCINF).read().splitlines()
    fields = {5: "400", 7: "40", 10: str(p), 11: str(q)}  # 0-based lines
    for i, v in fields.items():
        text[i] = f"{v:<13}" + text[i].split(None, 1)[1]
    (workdir / "hpccinf.txt").write_text("\n".join(text) + "\n")


def thermo(log):
    """LAMMPS thermo table: the lines from the `Step` header to `Loop time`."""
    lines = log.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split()[:1] == ["Step"])
    end = next(i for i, l in enumerate(lines) if l.startswith("Loop time"))
    rows = lines[start:end]
    assert len(rows) == 7, log
    return rows


def hpcc_summary(text):
    """hpccoutf.txt summary: ({stable key: value}, {all keys})."""
    m = re.search(r"Begin of Summary section\.\n(.*)End of Summary", text,
                  re.S)
    assert m, text[-2000:]
    kv = dict(line.split("=", 1) for line in m.group(1).splitlines()
              if "=" in line)
    return {k: v for k, v in kv.items() if not HPCC_VARIABLE.search(k)}, kv


def check_hpcc(text):
    stable, kv = hpcc_summary(text)
    assert kv.get("Success") == "1", text[-3000:]
    assert "FAILED" not in text
    assert kv.get("HPL_N") == "400"
    # HPL's own residual check, to the printed digits.
    resid = re.findall(r"\|\|Ax-b\|\|_oo.*= +(\S+) \.+ PASSED", text)
    assert len(resid) == 1, text[-3000:]
    for k in ("PTRANS_residual", "MPIRandomAccess_Errors",
              "MPIRandomAccess_LCG_Errors"):
        assert kv.get(k) == "0", (k, kv.get(k))
    return stable, resid[0]


def run_job(cmd, cwd, env=None, timeout=APP_TIMEOUT):
    e = {k: v for k, v in os.environ.items()
         if k not in ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")}
    e.update(env or {})
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=e,
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}: exit " \
        f"{r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def local(np, sock, prog, cwd):
    """Plain mpirun when sock is None, else esmpirun (mpirun + libesmpi)."""
    opts = ["--allow-run-as-root", "--oversubscribe", "-np", str(np)]
    if sock is None:
        return run_job(["mpirun", *opts, *prog], cwd)
    return run_job([ESMPIRUN, *opts, *prog], cwd,
                   env={"ESMPI_SOCKET": str(sock)})


def tcp_payload(pcapng, limit=8 << 20, skip=0):
    """TCP payload bytes of IPv4-over-Ethernet packets in a pcapng capture
    (tshark's default format), up to limit bytes, leaving out the first
    skip bytes of each packet's payload. Read here: tshark's own field
    export takes minutes on hpcc's hundreds of megabytes."""
    data = pcapng.read_bytes() if hasattr(pcapng, "read_bytes") else pcapng
    out, i = bytearray(), 0
    while i + 12 <= len(data) and len(out) < limit:
        btype, blen = struct.unpack_from("<II", data, i)
        if blen < 12:
            break
        if btype == 6:      # enhanced packet block
            caplen = struct.unpack_from("<I", data, i + 20)[0]
            pkt = data[i + 28:i + 28 + caplen]
            if len(pkt) > 34 and pkt[12:14] == b"\x08\x00" and pkt[23] == 6:
                ihl = (pkt[14] & 15) * 4
                iplen = struct.unpack_from(">H", pkt, 16)[0]
                tcp = 14 + ihl
                doff = (pkt[tcp + 12] >> 4) * 4
                out += pkt[tcp + doff + skip:14 + iplen]
        i += blen
    return bytes(out)


def compressibility(data):
    return len(zlib.compress(data, 6)) / max(len(data), 1)


# ------------------------------------------------------------ shared memory

@pytest.mark.parametrize("np", [2, 4])
def test_lammps_shm(daemons, workdir, np):
    d = daemons("lmp")
    inp = write_lj(workdir)
    logs = {}
    for name, sock in (("plain", None), ("enc", d.sock)):
        log = workdir / f"{name}.log"
        local(np, sock, [LMP, "-in", inp, "-log", log, "-screen", "none"],
              workdir)
        logs[name] = thermo(log.read_text())
    assert logs["enc"] == logs["plain"]
    assert len(d.wait_audit("session_open", count=np)) == np
    assert not d.audit("unprotected_call")


def test_lammps_shm_scope_inter_node(daemons, workdir):
    """scope inter-node on one node: LAMMPS's point-to-point traffic goes
    as plain records (none sealed for a same-node peer), same thermo."""
    pol = workdir / "inter.yaml"
    pol.write_text(it.POLICY_ROOT + "  scope: inter-node\n")
    d = daemons("lmp", policy=pol)
    inp = write_lj(workdir)
    logs = {}
    for name, sock in (("plain", None), ("enc", d.sock)):
        log = workdir / f"{name}.log"
        r = run_job(["mpirun", "--allow-run-as-root", "--oversubscribe",
                     "-np", "4", "-x", "ESMPI_STATS=1", "-x",
                     "ESMPI_SOCKET", *([] if sock is None else
                                       ["-x", f"LD_PRELOAD={LIBESMPI}"]),
                     LMP, "-in", inp, "-log", log, "-screen", "none"],
                    workdir, env={"ESMPI_SOCKET": str(sock)})
        logs[name] = thermo(log.read_text())
    assert logs["enc"] == logs["plain"]
    st = re.findall(r"stats: sealed \d+ \(same node (\d+)\), plain (\d+), "
                    r"same-node peers (\d+)", r.stderr)
    assert len(st) == 4, r.stderr
    assert all(t[0] == "0" and int(t[1]) > 0 and t[2] == "3" for t in st), st


# A 2x2 grid (4 ranks on the 2 cores of CI) took 22 s: suite time. LAMMPS
# runs 4 ranks; hpcc runs across the namespace hosts below.
@pytest.mark.parametrize("np,p,q", [(2, 1, 2)])
def test_hpcc_shm(daemons, workdir, np, p, q):
    d = daemons("hpcc")
    write_hpccinf(workdir, p, q)
    res = {}
    for name, sock in (("plain", None), ("enc", d.sock)):
        out = workdir / "hpccoutf.txt"
        if out.exists():
            out.unlink()
        local(np, sock, [HPCC], workdir)
        res[name] = check_hpcc(out.read_text())
    assert res["enc"] == res["plain"]
    assert len(d.wait_audit("session_open", count=np)) == np
    assert not d.audit("unprotected_call")


# --------------------------------------------------------- two namespace hosts

@pytest.fixture
def two_hosts(ns_hosts):
    """Daemons on both namespace hosts (one CA) and the rsh agent."""
    nshosts.need("tshark")
    hosts = ns_hosts()
    hosts.start_daemons()
    return hosts


def test_lammps_across_hosts(two_hosts, workdir):
    hosts = two_hosts
    da, db = hosts.daemons
    inp = write_lj(workdir)
    res = {}
    for name, preload in (("plain", False), ("enc", True)):
        log = workdir / f"{name}.log"
        (rc, o, e), pcap = hosts.captured_run(
            name, [LMP, "-in", inp, "-log", log, "-screen", "none"],
            preload=preload, timeout=APP_TIMEOUT)
        assert rc == 0, f"lmp {name} ({rc}):\n{o}\n{e}"
        res[name] = (thermo(log.read_text()), pcap.count(MARKER.encode()))
    assert res["plain"][1] >= 1, "marker not seen in the plain run"
    assert res["enc"][1] == 0
    assert res["enc"][0] == res["plain"][0]
    # Each host's daemon saw its rank.
    assert da.wait_audit("session_open") and db.wait_audit("session_open")


def test_hpcc_across_hosts(two_hosts, workdir):
    hosts = two_hosts
    da, db = hosts.daemons
    write_hpccinf(workdir, 1, 2)
    out = workdir / "hpccoutf.txt"
    res = {}
    for name, preload in (("plain", False), ("enc", True)):
        if out.exists():
            out.unlink()
        # hpcc reads hpccinf.txt from, and writes into, its cwd. hpcc
        # moves hundreds of megabytes: the first 256 bytes of every
        # packet are the sample the compressibility check needs.
        with hosts.capture(workdir / f"{name}.pcap", snaplen=256):
            rc, o, e = hosts.run(
                ["sh", "-c", f"cd {workdir} && exec {HPCC}"],
                preload=preload, timeout=APP_TIMEOUT)
        assert rc == 0, f"hpcc {name} ({rc}):\n{o}\n{e}"
        # Segment heads carry Open MPI's and esmpi's headers (which
        # compress): judge the bytes after them.
        payload = tcp_payload(workdir / f"{name}.pcap", skip=96)
        assert len(payload) > 1 << 18, f"hpcc {name}: capture too small"
        res[name] = (check_hpcc(out.read_text()), compressibility(payload))
    assert res["enc"][0] == res["plain"][0]
    assert res["plain"][1] < 0.8, res
    assert res["enc"][1] > 0.95, res
    assert da.wait_audit("session_open") and db.wait_audit("session_open")
