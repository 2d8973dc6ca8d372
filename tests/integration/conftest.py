# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the esmpid integration tests.

The build directory comes from $ESMPI_BUILD (default <repo>/build); build with
  cmake -S . -B build && cmake --build build
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import esmpi_it as it
import nshosts

JOURNAL_DIR = Path("/run/systemd/journal")
JOURNAL_SOCKET = JOURNAL_DIR / "socket"
JOURNALD = Path("/lib/systemd/systemd-journald")


@pytest.fixture(scope="session", autouse=True)
def binaries():
    missing = [str(p) for p in (it.ESMPID, it.ESMPICTL, it.TESTCLIENT)
               if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"build outputs missing (ESMPI_BUILD={it.BUILD}): "
                    f"{', '.join(missing)}", pytrace=False)


@pytest.fixture
def workdir():
    """A fresh directory that user nobody may traverse (0755), with short
    paths for Unix sockets. pytest's tmp_path lives under a 0700 dir."""
    d = Path(tempfile.mkdtemp(prefix="esmpi-it-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemons(workdir):
    """Factory: daemons("name", policy=..., ...) starts an esmpid and
    terminates it at teardown whatever happened."""
    started = []

    def make(name="d", start=True, **kw):
        d = it.Daemon(workdir, name, **kw)
        started.append(d)
        if start:
            d.start()
        return d

    yield make
    reports = []
    for d in started:
        d.cleanup()
        reports += it.sanitizer_reports(d.log())
    # A daemon built with sanitizers (scripts/test.sh runs this suite on
    # one too) fails the test that made it report.
    assert not reports, "sanitizer report in esmpid's stderr:\n" + \
        "\n".join(reports)


POLICY_ROOT = it.POLICY_ROOT


@pytest.fixture
def ns_hosts(workdir):
    """Factory: ns_hosts(n=2, router=False) sets up namespace hosts
    (nshosts.Hosts) in workdir; teardown, whatever happened, ends what runs
    in them and removes them."""
    made = []

    def make(n=2, router=False):
        h = nshosts.Hosts(workdir, n=n, router=router)
        made.append(h)
        return h.setup()

    yield make
    for h in reversed(made):
        h.teardown()


@pytest.fixture
def tri(ns_hosts, workdir):
    """The network adversary set-up: hosts A - R - B with the tamper bridge
    to start in R (tri.bridge()), a daemon per host under one CA, and
    pingpong as the default program (tri.prog)."""
    nshosts.need("ethtool", "mpirun")
    h = ns_hosts(router=True)
    h.start_daemons()
    h.prog = nshosts.example(workdir, "pingpong")
    return h


@pytest.fixture
def write_policy(workdir):
    def write(text, name="policy.yaml"):
        p = workdir / name
        p.write_text(text)
        os.chmod(p, 0o644)
        return p
    return write


@pytest.fixture
def daemon(daemons, write_policy):
    """One esmpid serving root with a policy file (reloadable)."""
    return daemons("d", policy=write_policy(POLICY_ROOT))


def _journal_alive():
    """Whether something receives on journald's native socket."""
    if not JOURNAL_SOCKET.exists():
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(str(JOURNAL_SOCKET))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Journald:
    """A systemd-journald run as a plain root process, and cleaned up after
    (stale sockets would look like a journal to esmpid)."""

    def __init__(self):
        if not os.access(JOURNALD, os.X_OK):
            pytest.fail(f"{JOURNALD} not found (install systemd)",
                        pytrace=False)
        self.dir_existed = JOURNAL_DIR.exists()
        if self.dir_existed and JOURNAL_SOCKET.exists():
            JOURNAL_SOCKET.unlink()  # stale: nobody listens on it
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(JOURNALD)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while not _journal_alive():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                why = self.log.read().decode(errors="replace")
                self.stop()
                pytest.fail("systemd-journald did not come up: " + why,
                            pytrace=False)
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        if not self.dir_existed:
            shutil.rmtree(JOURNAL_DIR, ignore_errors=True)
        else:
            for n in ("socket", "stdout", "dev-log", "io.systemd.journal"):
                try:
                    (JOURNAL_DIR / n).unlink()
                except FileNotFoundError:
                    pass


def pytest_configure(config):
    """With pytest-xdist (-n N) the controller starts the journald the
    workers share, before them, and stops it after the last: one worker's
    session must not end it under another's."""
    if getattr(config.option, "numprocesses", None) and \
            not hasattr(config, "workerinput") and not _journal_alive():
        config._esmpi_journald = Journald()


def pytest_unconfigure(config):
    j = getattr(config, "_esmpi_journald", None)
    if j is not None:
        j.stop()


@pytest.fixture(scope="session")
def journald():
    """A journald to log into: the running one, or one we start as a plain
    root process (and stop at the end)."""
    if _journal_alive():
        yield None
        return
    j = Journald()
    try:
        yield j.proc
    finally:
        j.stop()