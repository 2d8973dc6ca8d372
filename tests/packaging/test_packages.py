# SPDX-License-Identifier: Apache-2.0
"""The Debian and RPM packages: build, lint, contents, and the installed
Debian packages at work (daemon started by hand from the installed files,
an encrypted 2-rank job with the installed esmpirun), then purge.

Run as root on Debian 12 after packaging/install-deps.sh:
    /usr/bin/python3 -m pytest tests/packaging

The packages are built once per session with packaging/build-packages.sh
into a temporary directory (a minute or two). ESMPI_PACKAGES=DIR uses the
packages already in DIR instead. The `cmake --install --prefix` test uses
the build tree $ESMPI_BUILD (default build/) and is skipped without one.

The installed-package tests change the machine: they purge any installed
esmpid/libesmpi0/libesmpi-dev, install the freshly built ones, use the
default paths (/etc/esmpi, /var/lib/esmpi, /run/esmpi) and purge again.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ESMPI_BUILD", str(REPO / "build")))
VERSION = re.search(r"project\(esmpi VERSION ([0-9.]+)",
                    (REPO / "CMakeLists.txt").read_text()).group(1)
DEBS = ("esmpid", "libesmpi0", "libesmpi-mpich0", "libesmpi-dev",
        "esmpi-slurm")
RPMS = ("esmpi", "esmpi-libs", "esmpi-mpich", "esmpi-devel", "esmpi-slurm")
UNITS = ("esmpid.service", "esmpid.socket", "esmpid-admin.socket")
SOCK = Path("/run/esmpi/esmpid.sock")
ADMIN = Path("/run/esmpi/admin.sock")
POLICY = Path("/etc/esmpi/policy.yaml")
STATE = Path("/var/lib/esmpi")
BUILD_TIMEOUT = 900
RING_OUT = re.compile(r"^ring: 2 ranks, 3 laps, token 2001, last message "
                      r"'ESMPI-SECRET-MARKER lap 2', checksum 33993$", re.M)

TOOLS = ("dpkg-buildpackage", "dh", "lintian", "rpmbuild", "scdoc", "cmake",
         "mpicc", "mpirun", "mpicc.mpich", "mpiexec.hydra", "systemd-analyze",
         "systemd-socket-activate")


def run(cmd, timeout=120, check=False, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"$ {' '.join(map(str, cmd))}\nexit "
                             f"{r.returncode}\n--- stdout\n{r.stdout}"
                             f"--- stderr\n{r.stderr}")
    return r


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(0.05)


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg])
    return r.returncode == 0 and "installed" in r.stdout.split()


def purge_all():
    present = [p for p in DEBS
               if run(["dpkg-query", "-W", p]).returncode == 0]
    if present:
        run(["dpkg", "--purge", *present], check=True)


def tree_snapshot():
    """What a package build run in the tree itself would leave behind:
    debian/, obj-*/, files under packaging/. (Other files may change while
    the tests run: people edit the tree.)"""
    top = sorted(p.name for p in REPO.iterdir()
                 if p.name == "debian" or p.name.startswith("obj-"))
    files = sorted((str(p.relative_to(REPO)), p.stat().st_mtime_ns)
                   for p in (REPO / "packaging").rglob("*"))
    return top, files


# ------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def pkgdir(tmp_path_factory):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools: {', '.join(missing)} (run "
                    "packaging/install-deps.sh)", pytrace=False)
    given = os.environ.get("ESMPI_PACKAGES")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("packages")
    before = tree_snapshot()
    log = out.parent / "build-packages.log"
    with open(log, "w") as f:
        r = subprocess.run([REPO / "packaging" / "build-packages.sh", out],
                           stdin=subprocess.DEVNULL, stdout=f,
                           stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    if r.returncode != 0:
        pytest.fail(f"build-packages.sh failed ({r.returncode}):\n"
                    + "".join(log.read_text().splitlines(True)[-60:]),
                    pytrace=False)
    assert tree_snapshot() == before, \
        "build-packages.sh wrote into the source tree"
    return out


def deb(pkgdir, name):
    return pkgdir / f"{name}_{VERSION}_amd64.deb"


def rpm(pkgdir, name):
    found = sorted(pkgdir.glob(f"{name}-{VERSION}-*.x86_64.rpm"))
    assert found, f"no {name} rpm in {pkgdir}: {os.listdir(pkgdir)}"
    return found[0]


@pytest.fixture(scope="module")
def installed_debs(pkgdir):
    if os.geteuid() != 0:
        pytest.fail("installing packages needs root", pytrace=False)
    purge_all()
    debs = [deb(pkgdir, n) for n in DEBS]
    r = run(["dpkg", "-i", *debs], timeout=300)
    if r.returncode != 0:
        # Dependencies the machine lacks come from the archive.
        run(["apt-get", "install", "-f", "-y", "-q"], timeout=600,
            check=True, env={**os.environ,
                             "DEBIAN_FRONTEND": "noninteractive"})
    for p in DEBS:
        assert installed(p), f"{p} not installed:\n{r.stdout}{r.stderr}"
    yield
    purge_all()


@pytest.fixture(scope="module")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="esmpi-pkg-test-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def ring(workdir):
    exe = workdir / "ring"
    run(["mpicc", "-O2", "-o", exe, REPO / "examples" / "ring.c"],
        check=True)
    return exe


# ----------------------------------------------------- build and lint

def test_packages_built(pkgdir):
    for n in DEBS:
        assert deb(pkgdir, n).is_file(), os.listdir(pkgdir)
    for n in RPMS:
        assert rpm(pkgdir, n).is_file()


def test_lintian_no_errors(pkgdir):
    changes = sorted(pkgdir.glob("*.changes"))
    targets = changes or [deb(pkgdir, n) for n in DEBS]
    r = run(["lintian", "--display-info", *targets], timeout=600)
    tags = [ln for ln in r.stdout.splitlines() if re.match(r"^[EWI]: ", ln)]
    print("lintian:\n" + "\n".join(tags))
    errors = [ln for ln in tags if ln.startswith("E: ")]
    assert not errors, "\n".join(errors)
    assert r.returncode == 0, r.stdout + r.stderr


def test_deb_metadata(pkgdir):
    def field(name, f):
        return run(["dpkg-deb", "-f", deb(pkgdir, name), f],
                   check=True).stdout.strip()

    dep = field("libesmpi0", "Depends")
    assert "openmpi-bin" in dep and "libopenmpi3" in dep, dep
    dep = field("esmpid", "Depends")
    assert "libssl3" in dep and "libyaml-0-2" in dep, dep
    assert "systemd-sysusers" in dep, dep
    assert f"libesmpi0 (= {VERSION})" in field("libesmpi-dev", "Depends")
    # ipsec-mb, the faster AEAD engine, where Debian has it (amd64).
    arch = run(["dpkg-architecture", "-qDEB_HOST_ARCH"],
               check=True).stdout.strip()
    for name in ("libesmpi0", "esmpid"):
        dep = field(name, "Depends")
        assert ("libipsec-mb1" in dep) == (arch == "amd64"), (name, dep)

    ctl = Path(tempfile.mkdtemp())
    try:
        run(["dpkg-deb", "-e", deb(pkgdir, "esmpid"), ctl], check=True)
        assert (ctl / "conffiles").read_text().split() == [str(POLICY)]
        post = (ctl / "postinst").read_text()
        # The group exists before the socket units (SocketGroup=esmpi) start.
        assert post.index("systemd-sysusers") < post.index("deb-systemd-invoke")
        assert "rm -rf /var/lib/esmpi" in (ctl / "postrm").read_text()
        assert "esmpictl node guard on" in post
        assert "esmpictl node guard off" in (ctl / "prerm").read_text()
    finally:
        shutil.rmtree(ctl)


def deb_files(path):
    out = run(["dpkg-deb", "-c", path], check=True).stdout
    return {ln.split()[5].lstrip(".") for ln in out.splitlines()}


def test_deb_contents(pkgdir):
    d = deb_files(deb(pkgdir, "esmpid"))
    for f in ("/usr/sbin/esmpid", "/usr/sbin/esmpictl", str(POLICY),
              "/etc/esmpi/policy.d/", "/usr/lib/sysusers.d/esmpi.conf",
              "/usr/share/man/man8/esmpid.8.gz",
              "/usr/share/man/man8/esmpictl.8.gz",
              "/usr/share/man/man5/esmpi-policy.5.gz",
              *(f"/lib/systemd/system/{u}" for u in UNITS)):
        assert f in d, f"{f} not in esmpid: {sorted(d)}"
    lib = deb_files(deb(pkgdir, "libesmpi0"))
    arch = run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"],
               check=True).stdout.strip()
    assert f"/usr/lib/{arch}/esmpi/libesmpi-guard.so" in d, sorted(d)
    for f in ("/usr/bin/esmpirun", f"/usr/lib/{arch}/libesmpi.so.0",
              f"/usr/lib/{arch}/libesmpi.so.{VERSION}",
              "/usr/share/man/man1/esmpirun.1.gz"):
        assert f in lib, f"{f} not in libesmpi0: {sorted(lib)}"
    assert f"/usr/lib/{arch}/libesmpi.so" not in lib
    # MPICH's library where esmpirun looks for it; libmpich its dependency.
    mp = deb_files(deb(pkgdir, "libesmpi-mpich0"))
    assert f"/usr/lib/{arch}/esmpi/mpich/libesmpi.so.0" in mp, sorted(mp)
    assert f"/usr/lib/{arch}/esmpi/mpich/libesmpi.so" not in mp, sorted(mp)
    dep = run(["dpkg-deb", "-f", deb(pkgdir, "libesmpi-mpich0"), "Depends"],
              check=True).stdout.strip()
    assert "libmpich12" in dep and "mpich" in dep.split(", "), dep
    # The modulefile where environment-modules looks, linked where Lmod
    # looks (Debian's default MODULEPATHs).
    assert "/usr/share/modules/modulefiles/esmpi" in lib, sorted(lib)
    out = run(["dpkg-deb", "-c", deb(pkgdir, "libesmpi0")], check=True).stdout
    assert re.search(r"\./etc/lmod/modules/esmpi -> "
                     r"(/usr/share/modules/modulefiles/|\.\./\.\./\.\./usr/share"
                     r"/modules/modulefiles/)esmpi", out), out
    sl = deb_files(deb(pkgdir, "esmpi-slurm"))
    assert f"/usr/lib/{arch}/slurm-wlm/spank_esmpi.so" in sl, sorted(sl)
    out = run(["dpkg-deb", "-c", deb(pkgdir, "esmpi-slurm")], check=True).stdout
    # A link, not a conffile: it leaves with the plugin.
    assert re.search(r"^l.*\./etc/slurm/plugstack\.conf\.d/esmpi\.conf -> ",
                     out, re.M), out
    dev = deb_files(deb(pkgdir, "libesmpi-dev"))
    for f in (f"/usr/lib/{arch}/libesmpi.so",
              f"/usr/lib/{arch}/pkgconfig/esmpi.pc",
              f"/usr/lib/{arch}/cmake/esmpi/esmpiConfig.cmake"):
        assert f in dev, f"{f} not in libesmpi-dev: {sorted(dev)}"


def test_rpm_files(pkgdir):
    def files(name):
        return set(run(["rpm", "-qpl", rpm(pkgdir, name)],
                       check=True).stdout.split())

    main = files("esmpi")
    for f in ("/usr/sbin/esmpid", "/usr/sbin/esmpictl", "/usr/bin/esmpirun",
              str(POLICY), "/etc/esmpi/policy.d", str(STATE),
              "/usr/lib/sysusers.d/esmpi.conf",
              *(f"/usr/lib/systemd/system/{u}" for u in UNITS)):
        assert f in main, f"{f} not in esmpi rpm: {sorted(main)}"
    assert any(f.startswith("/usr/share/licenses/") for f in main)
    for page in ("man1/esmpirun.1", "man5/esmpi-policy.5", "man8/esmpid.8",
                 "man8/esmpictl.8"):
        assert any(f.startswith(f"/usr/share/man/{page}") for f in main), page
    assert any(re.match(r"/usr/lib(64)?/esmpi/libesmpi-guard\.so$", f)
               for f in main), sorted(main)
    libs = files("esmpi-libs")
    assert any(re.match(r"/usr/lib(64)?/libesmpi\.so\.0$", f) for f in libs)
    mp = files("esmpi-mpich")
    assert any(re.match(r"/usr/lib(64)?/esmpi/mpich/libesmpi\.so\.0$", f)
               for f in mp), mp
    devel = files("esmpi-devel")
    assert any(f.endswith("/pkgconfig/esmpi.pc") for f in devel), devel
    assert any(re.search(r"/libesmpi\.so$", f) for f in devel), devel
    assert "/usr/share/modulefiles/esmpi" in main, sorted(main)
    sl = files("esmpi-slurm")
    assert any(re.match(r"/usr/lib(64)?/slurm/spank_esmpi\.so$", f)
               for f in sl), sl
    assert "/etc/slurm/plugstack.conf.d/esmpi.conf" in sl, sl

    # %config(noreplace) policy, state directory 0700.
    r = run(["rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags} "
             "%{FILEMODES:perms}\n]", rpm(pkgdir, "esmpi")], check=True)
    flags = {ln.split()[0]: ln.split()[1:] for ln in r.stdout.splitlines()}
    assert "c" in flags[str(POLICY)][0] and "n" in flags[str(POLICY)][0], \
        flags[str(POLICY)]
    assert flags[str(STATE)][-1] == "drwx------", flags[str(STATE)]


def test_rpm_scriptlets(pkgdir):
    r = run(["rpm", "-qp", "--scripts", rpm(pkgdir, "esmpi")], check=True)
    s = r.stdout
    pre = s[s.index("preinstall scriptlet"):s.index("postinstall scriptlet")]
    assert "groupadd -r esmpi" in pre or "sysusers" in pre, s
    post = s[s.index("postinstall scriptlet"):]
    assert re.search(r"systemctl --no-reload preset .*esmpid\.socket", post) \
        or "systemd-update-helper install-system-units" in post, s
    assert re.search(r"systemctl --no-reload disable --now .*esmpid\.service",
                     s) or "systemd-update-helper remove-system-units" in s, s
    assert re.search(r"try-restart .*esmpid\.service", s) or \
        "systemd-update-helper mark-restart-system-units" in s, s
    reqs = run(["rpm", "-qpR", rpm(pkgdir, "esmpi")], check=True).stdout
    assert "systemd" in reqs.split() and "openmpi" in reqs.split(), reqs
    # ipsec-mb on x86-64, by soname (rpm's automatic library requires).
    libs = run(["rpm", "-qpR", rpm(pkgdir, "esmpi-libs")], check=True).stdout
    arch = run(["rpm", "-qp", "--qf", "%{ARCH}", rpm(pkgdir, "esmpi-libs")],
               check=True).stdout
    assert bool(re.search(r"^libIPSec_MB\.so\.\d+\(\)\(64bit\)$", libs,
                          re.M)) == (arch == "x86_64"), (arch, libs)


# ----------------------------------------------- the installed packages

def test_installed_files(installed_debs):
    for p in ("/usr/sbin/esmpid", "/usr/sbin/esmpictl", "/usr/bin/esmpirun"):
        assert os.access(p, os.X_OK), p
    assert POLICY.is_file() and Path("/etc/esmpi/policy.d").is_dir()
    st = STATE.stat()
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o700, oct(st.st_mode)
    assert run(["getent", "group", "esmpi"]).returncode == 0, \
        "systemd-sysusers did not create group esmpi"
    for page in ("esmpid", "esmpictl", "esmpirun", "esmpi-policy"):
        r = run(["man", "-w", page])
        assert r.returncode == 0 and "/usr/share/man/" in r.stdout, page


def preload_list():
    p = Path("/etc/ld.so.preload")
    return p.read_text() if p.exists() else ""


def test_installed_guard_refuses_plain_mpi(installed_debs, ring):
    """The package lists the guard in /etc/ld.so.preload: on this node a
    plain mpirun job stops at MPI_Init saying why (esmpirun's jobs run,
    below)."""
    assert "/esmpi/libesmpi-guard.so" in preload_list(), preload_list()
    st = run(["esmpictl", "node", "guard", "status"], check=True).stdout
    assert st.startswith("guard on"), st
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    job = run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np",
               "2", ring], timeout=120, env=env)
    assert job.returncode != 0, job.stdout + job.stderr
    assert "esmpi-guard" in job.stderr and "libesmpi is not loaded" in \
        job.stderr, job.stderr
    assert "lap" not in job.stdout, job.stdout


def test_installed_default_policy_is_valid(installed_debs, workdir):
    r = run(["esmpictl", "policy", "check", POLICY], check=True)
    assert "valid policy" in r.stdout and "aes-256-gcm" in r.stdout, r.stdout
    text = POLICY.read_text()
    assert re.search(r"^\s+groups: \[esmpi\]", text, re.M)
    assert re.search(r"^\s+users: \[root\]", text, re.M)
    # The commented examples (rules, projects) are valid when uncommented.
    lines, on = [], False
    for ln in text.splitlines():
        if ln in ("# rules:", "# projects:"):
            on = True
        elif not ln.strip():
            on = False
        lines.append(re.sub(r"^# ?", "", ln) if on else ln)
    (workdir / "policy.d").mkdir(exist_ok=True)
    (workdir / "policy.d" / "climate.yaml").write_text(
        "version: 1\ndefaults: { suite: chacha20-poly1305 }\n")
    (workdir / "examples.yaml").write_text("\n".join(lines) + "\n")
    r = run(["esmpictl", "policy", "check", workdir / "examples.yaml"],
            check=True)
    assert "2 rules, 1 projects" in r.stdout, r.stdout


def test_installed_units_verify(installed_debs):
    units = [f"/lib/systemd/system/{u}" for u in UNITS]
    r = run(["systemd-analyze", "verify", "--man=yes", *units], cwd="/")
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    text = Path(units[0]).read_text()
    assert ("ExecStart=/usr/sbin/esmpid --foreground --policy "
            "/etc/esmpi/policy.yaml --state-dir /var/lib/esmpi") in text


def unit_value(unit, key):
    text = Path(f"/lib/systemd/system/{unit}").read_text()
    return re.search(rf"^{key}=(.*)$", text, re.M).group(1).strip()


class Esmpid:
    """The installed esmpid, started by hand in the foreground with the
    installed defaults, or through systemd-socket-activate."""

    def __init__(self, workdir, cmd):
        self.errpath = workdir / f"esmpid-{time.monotonic_ns()}.log"
        self.notify_path = workdir / "notify.sock"
        self.cmd = [str(c) for c in cmd]
        self.proc = None

    def start(self, wait_ready=True):
        for p in (self.notify_path,):
            if p.exists():
                p.unlink()
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(self.notify_path))
        notify.settimeout(0.1)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LISTEN_")}
        env["NOTIFY_SOCKET"] = str(self.notify_path)
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, env=env)
        self.notify = notify
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if "READY=1" in self.notify.recv(4096).decode().split("\n"):
                    return
            except socket.timeout:
                pass
            assert self.proc.poll() is None, \
                f"esmpid exited with {self.proc.returncode}:\n{self.log()}"
        raise AssertionError(f"no READY=1 within {timeout}s:\n{self.log()}")

    def log(self):
        return self.errpath.read_text(errors="replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        return self.proc.returncode


def esmpirun(ring, sock, timeout=120):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ESMPI_LIB", "ESMPI_PROJECT")}
    env["ESMPI_SOCKET"] = str(sock)
    return run(["esmpirun", "--oversubscribe", "-np", "2", ring],
               timeout=timeout, env=env, cwd=ring.parent)


def esmpirun_mpich(exe, sock, timeout=120):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ESMPI_MPICH_LIB", "ESMPI_PROJECT")}
    env["ESMPI_SOCKET"] = str(sock)
    return run(["esmpirun", "-n", "2", exe], timeout=timeout, env=env,
               cwd=exe.parent)


def session_opens(log):
    return len(re.findall(r"\bESMPI_EVENT=session_open\b", log))


@pytest.fixture
def no_default_daemon():
    """The default socket must be free: another esmpid would be hijacked."""
    if SOCK.exists():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(SOCK))
            pytest.fail(f"an esmpid already serves {SOCK}", pytrace=False)
        except OSError:
            pass
        finally:
            s.close()


def test_installed_daemon_runs_encrypted_job(installed_debs, workdir, ring,
                                            no_default_daemon):
    d = Esmpid(workdir, ["/usr/sbin/esmpid", "--foreground", "--log-stderr",
                         "--policy", POLICY]).start()
    try:
        assert SOCK.is_socket() and ADMIN.is_socket()
        assert (ADMIN.stat().st_mode & 0o777) == 0o600
        # Identity created in the default state directory.
        assert (STATE / "node.key").is_file()
        assert (STATE / "node.key").stat().st_mode & 0o077 == 0

        job = esmpirun(ring, SOCK)
        assert job.returncode == 0, job.stdout + job.stderr + d.log()
        assert RING_OUT.search(job.stdout), job.stdout
        wait_for(lambda: session_opens(d.log()) >= 2, 10,
                 "two session_open audit records")

        # libesmpi-dev: link against libesmpi, run under plain mpirun.
        linked = workdir / "ring-linked"
        libs = run(["pkg-config", "--libs", "esmpi"], check=True).stdout
        assert "-lesmpi" in libs
        run(["mpicc", "-O2", "-o", linked, REPO / "examples" / "ring.c",
             *libs.split()], check=True)
        assert "libesmpi.so.0" in run(["ldd", linked], check=True).stdout
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        env["ESMPI_SOCKET"] = str(SOCK)
        job = run(["mpirun", "--allow-run-as-root", "--oversubscribe",
                   "-np", "2", "-x", "ESMPI_SOCKET", linked], timeout=120,
                  env=env)
        assert job.returncode == 0, job.stdout + job.stderr + d.log()
        assert RING_OUT.search(job.stdout), job.stdout
        wait_for(lambda: session_opens(d.log()) >= 4, 10,
                 "four session_open audit records")

        # libesmpi-mpich0: esmpirun sees ring linked to MPICH and runs it
        # under mpiexec.hydra with MPICH's installed library.
        exe = workdir / "ring-mpich"
        run(["mpicc.mpich", "-O2", "-o", exe, REPO / "examples" / "ring.c"],
            check=True)
        job = esmpirun_mpich(exe, SOCK)
        assert job.returncode == 0, job.stdout + job.stderr + d.log()
        assert RING_OUT.search(job.stdout), job.stdout
        wait_for(lambda: session_opens(d.log()) >= 6, 10,
                 "six session_open audit records")

        st = run(["esmpictl", "status"], check=True).stdout
        assert f"policy {POLICY}" in st, st
    finally:
        rc = d.stop()
    log = d.log()
    assert rc == 0, log
    assert "ESMPI_EVENT=policy_loaded" in log and f"{POLICY}" in log, log
    assert "ESMPI_SUITE=aes-256-gcm" in log, log
    assert not SOCK.exists() and not ADMIN.exists(), \
        "esmpid left its sockets behind"


def test_installed_units_socket_activation(installed_debs, workdir, ring,
                                           no_default_daemon):
    """The daemon as the installed units start it: ExecStart= of
    esmpid.service, the two sockets and names of the .socket units."""
    client = unit_value("esmpid.socket", "ListenStream")
    admin = unit_value("esmpid-admin.socket", "ListenStream")
    names = (unit_value("esmpid.socket", "FileDescriptorName") + ":" +
             unit_value("esmpid-admin.socket", "FileDescriptorName"))
    assert names == "client:admin"
    exec_start = unit_value("esmpid.service", "ExecStart").split()
    Path(client).parent.mkdir(mode=0o755, exist_ok=True)
    notify = workdir / "notify.sock"
    # systemd-socket-activate passes on only the environment given with -E.
    d = Esmpid(workdir, ["systemd-socket-activate", "-l", client, "-l", admin,
                         f"--fdname={names}", "-E", f"NOTIFY_SOCKET={notify}",
                         *exec_start, "--log-stderr"])
    d.start(wait_ready=False)
    try:
        wait_for(lambda: Path(client).exists() and Path(admin).exists() or
                 d.proc.poll() is not None, 10, "activation sockets")
        assert d.proc.poll() is None, d.log()
        # The first connection (admin) starts esmpid on both sockets.
        st = run(["esmpictl", "--admin-socket", admin, "status"], timeout=30)
        assert st.returncode == 0, st.stderr + d.log()
        d.wait_ready()
        job = esmpirun(ring, client)
        assert job.returncode == 0, job.stdout + job.stderr + d.log()
        assert RING_OUT.search(job.stdout), job.stdout
    finally:
        rc = d.stop()
        for p in (client, admin):
            if os.path.exists(p):
                os.unlink(p)
    log = d.log()
    assert rc == 0, log
    assert "(socket activation)" in log, log
    assert session_opens(log) >= 2, log


# ------------------------------------------ module load esmpi, srun --esmpi

MODULE_SYSTEMS = ("environment-modules", "lmod")     # they conflict
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


@pytest.fixture
def default_daemon(installed_debs, workdir):
    """The installed esmpid on the default socket, for the jobs below."""
    if SOCK.exists():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(SOCK))
            pytest.fail(f"an esmpid already serves {SOCK}", pytrace=False)
        except OSError:
            pass
        finally:
            s.close()
    d = Esmpid(workdir, ["/usr/sbin/esmpid", "--foreground", "--log-stderr",
                         "--policy", POLICY]).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def module_systems():
    """Installs one module system at a time (Debian's two conflict); puts
    back the one that was there."""
    before = [m for m in MODULE_SYSTEMS if installed(m)]

    def use(name):
        if not installed(name):
            run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                 name], timeout=300, check=True, env=APT_ENV)
        assert installed(name)
    yield use
    now = [m for m in MODULE_SYSTEMS if installed(m)]
    if now != before:
        run(["apt-get", "remove", "-y", "-q", *now], timeout=300,
            env=APT_ENV)
        if before:
            use(before[0])


MODULE_SCRIPT = """\
module avail 2>&1
module load esmpi || exit 10
echo "LIST=$OMPI_MCA_mca_base_env_list"
echo "PRELOAD=${LD_PRELOAD-}"
echo "MAPPED=$(grep -c 'libesmpi\\.so' /proc/self/maps)"
echo "== loaded"
mpirun --allow-run-as-root --oversubscribe -np 2 ./ring 2>&1
echo "RC=$?"
echo "== unloaded"
module unload esmpi
echo "LIST=${OMPI_MCA_mca_base_env_list-unset}"
mpirun --allow-run-as-root --oversubscribe -np 2 ./ring 2>&1
echo "RC=$?"
"""


@pytest.mark.parametrize("system", MODULE_SYSTEMS)
def test_module_load_esmpi(installed_debs, module_systems, default_daemon,
                           ring, system):
    """In a fresh login shell, `module avail` lists esmpi where the package
    put it; after `module load esmpi` a plain mpirun runs its ranks with
    libesmpi (the guard the package turned on lets them through, the
    daemon opens their sessions) while the shell's own programs have
    nothing preloaded; after unload the job runs without it (the guard
    stops it)."""
    module_systems(system)
    user_list = "mpi_leave_pinned=0"     # a user's own entry stays
    opens = session_opens(default_daemon.log())
    r = run(["env", "-i", "HOME=/root", "PATH=/usr/bin:/bin",
             f"OMPI_MCA_mca_base_env_list={user_list}",
             "bash", "-l", "-c", MODULE_SCRIPT], timeout=240,
            cwd=ring.parent)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    avail, loaded, unloaded = re.split(r"^== \w+$", out, flags=re.M)
    assert re.search(r"\besmpi\b", avail), avail
    lib = "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libesmpi.so.0"
    assert f"LIST={user_list};{lib}" in avail.splitlines(), avail
    assert "PRELOAD=" in avail.splitlines() and "MAPPED=0" in avail, avail
    assert RING_OUT.search(loaded) and "RC=0" in loaded, loaded
    wait_for(lambda: session_opens(default_daemon.log()) >= opens + 2, 10,
             "two session_open audit records")
    assert f"LIST={user_list}" in unloaded.splitlines(), unloaded
    assert "libesmpi is not loaded" in unloaded, unloaded
    assert "RC=0" not in unloaded, unloaded


@pytest.fixture
def slurm_cluster(installed_debs, default_daemon, workdir):
    """Slurm as Debian configures it for plugins: /etc/slurm/plugstack.conf
    includes plugstack.conf.d/*.conf, where esmpi-slurm put its entry."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    import slurm_it
    slurm_it.need(spank=False)
    assert "plugstack.conf.d/*.conf" in \
        Path("/etc/slurm/plugstack.conf").read_text()
    cl = slurm_it.Cluster(workdir, [slurm_it.Node("esmpi1", "127.0.0.1")],
                          ctld_host=socket.gethostname().split(".")[0],
                          ctld_addr="127.0.0.1",
                          plugstack_conf="/etc/slurm/plugstack.conf")
    try:
        yield cl.start()
    finally:
        cl.stop()


def test_installed_srun_esmpi(slurm_cluster, default_daemon, ring):
    opens = session_opens(default_daemon.log())
    r = slurm_cluster.srun("--mpi=pmix", "--esmpi", "-n", "2", ring)
    assert r.returncode == 0, r.stdout + r.stderr + slurm_cluster.logs()
    assert RING_OUT.search(r.stdout), r.stdout
    wait_for(lambda: session_opens(default_daemon.log()) >= opens + 2, 10,
             "two session_open audit records")
    # Without --esmpi the node guard stops the ranks.
    r = slurm_cluster.srun("--mpi=pmix", "-n", "2", ring)
    assert r.returncode != 0 and "libesmpi is not loaded" in r.stderr, \
        r.stdout + r.stderr


def test_purge_leaves_nothing(installed_debs):
    r = run(["dpkg", "--purge", *DEBS], check=True)
    for p in DEBS:
        q = run(["dpkg", "-L", p])
        assert q.returncode != 0 or not q.stdout.strip(), q.stdout
        assert not installed(p)
    for p in ("/usr/sbin/esmpid", "/usr/sbin/esmpictl", "/usr/bin/esmpirun",
              "/etc/esmpi", "/var/lib/esmpi",
              *(f"/lib/systemd/system/{u}" for u in UNITS),
              "/usr/lib/sysusers.d/esmpi.conf",
              "/usr/share/modules/modulefiles/esmpi", "/etc/lmod/modules/esmpi",
              "/etc/slurm/plugstack.conf.d/esmpi.conf",
              "/etc/systemd/system/sockets.target.wants/esmpid.socket",
              "/etc/systemd/system/multi-user.target.wants/esmpid.service"):
        assert not os.path.lexists(p), f"{p} left after purge:\n{r.stdout}"
    assert "esmpi" not in preload_list(), preload_list()
    # Documented: the system group esmpi is kept (Debian practice).


# ------------------------------------------- cmake --install --prefix

def test_cmake_install_prefix(tmp_path):
    cache = BUILD / "CMakeCache.txt"
    if not cache.is_file():
        pytest.fail(f"no build tree at {BUILD}", pytrace=False)
    prefix = tmp_path / "prefix"
    r = run(["cmake", "--install", BUILD, "--prefix", prefix], check=True)
    for f in ("sbin/esmpid", "sbin/esmpictl", "bin/esmpirun",
              "etc/esmpi/policy.yaml", "lib/systemd/system/esmpid.service",
              "lib/systemd/system/esmpid.socket",
              "lib/systemd/system/esmpid-admin.socket",
              "lib/sysusers.d/esmpi.conf"):
        assert (prefix / f).exists(), f"{f} not installed:\n{r.stdout}"
    assert (prefix / "etc/esmpi/policy.d").is_dir()
    libs = [p for p in prefix.glob("lib*/**/libesmpi.so.0")]
    assert libs, r.stdout
    libdir = libs[0].parent
    pc = libdir / "pkgconfig" / "esmpi.pc"
    assert pc.is_file(), r.stdout
    # Relocatable: -L points into the prefix it was installed to.
    out = run(["pkg-config", "--libs", "esmpi"], check=True,
              env={**os.environ, "PKG_CONFIG_PATH": str(pc.parent)}).stdout
    m = re.search(r"-L(\S+)", out)
    assert m and Path(m.group(1)).resolve() == libdir.resolve(), out
    cached = cache.read_text()
    if re.search(r"^SCDOC:FILEPATH=/", cached, re.M):
        for page in ("man8/esmpid.8", "man8/esmpictl.8", "man1/esmpirun.1",
                     "man5/esmpi-policy.5"):
            assert (prefix / "share/man" / page).is_file(), page
    # A second install keeps an edited policy.
    (prefix / "etc/esmpi/policy.yaml").write_text("# edited\n")
    run(["cmake", "--install", BUILD, "--prefix", prefix], check=True)
    assert (prefix / "etc/esmpi/policy.yaml").read_text() == "# edited\n"

    # find_package(esmpi) from the installed tree.
    proj = tmp_path / "consumer"
    proj.mkdir()
    (proj / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\n"
        "project(consumer LANGUAGES NONE)\n"
        "find_package(esmpi 0.1 REQUIRED)\n"
        "get_target_property(loc esmpi::esmpi IMPORTED_LOCATION)\n"
        "message(STATUS \"ESMPI_LIB=${loc}\")\n")
    r = run(["cmake", "-S", proj, "-B", proj / "b",
             f"-DCMAKE_PREFIX_PATH={prefix}"], check=True)
    m = re.search(r"ESMPI_LIB=(\S+)", r.stdout)
    assert m and Path(m.group(1)).is_file(), r.stdout
    assert Path(m.group(1)).resolve().parent == libdir.resolve(), r.stdout
