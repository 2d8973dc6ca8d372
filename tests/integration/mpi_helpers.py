# SPDX-License-Identifier: Apache-2.0
"""Running the MPI example programs (examples/*.c) under mpirun, plain and
with libesmpi.so preloaded.

The examples are found in $ESMPI_EXAMPLES, default $ESMPI_BUILD/examples
(where add_subdirectory(examples) puts them); a side build works too:
  cmake -S examples -B build/examples-side && cmake --build build/examples-side
  ESMPI_EXAMPLES=build/examples-side python3 -m pytest tests/integration/test_mpi_p2p.py
"""
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import esmpi_it as it

EXAMPLES = Path(os.environ.get("ESMPI_EXAMPLES", str(it.BUILD / "examples")))
LIBESMPI = it.BUILD / "libclient" / "libesmpi.so"
# The MPICH build (scripts/build.sh: build-mpich/, ESMPI_MPI=mpich): its
# libesmpi and the examples linked to MPICH, run by hydra (hydra()).
MPICH_BUILD = Path(os.environ.get("ESMPI_MPICH_BUILD",
                                  str(it.REPO / "build-mpich")))
MPICH_EXAMPLES = MPICH_BUILD / "examples"
MPICH_LIBESMPI = MPICH_BUILD / "libclient" / "libesmpi.so"

# mpirun takes 0.5-1 s to start a job; the examples run well under a second.
MPIRUN_TIMEOUT = 60

# Environment that must not leak from the caller into a job.
_SCRUB = ("LD_PRELOAD", "ESMPI_SOCKET", "ESMPI_PROJECT")

# The last stdout line of every example.
RESULT = re.compile(r"^(?P<name>\w+): OK checksum \d+$")


@dataclass
class Job:
    cmd: list
    returncode: int
    stdout: str
    stderr: str

    def describe(self):
        return (f"$ {' '.join(self.cmd)}\nexit {self.returncode}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def example(name, mpich=False):
    return (MPICH_EXAMPLES if mpich else EXAMPLES) / name


def missing_examples(names, mpich=False):
    return [str(example(n, mpich)) for n in names
            if not os.access(example(n, mpich), os.X_OK)]


def _kill_job(proc):
    """mpirun forwards SIGTERM to its ranks and cleans up; SIGKILL (to its
    whole session) only if it does not go."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return "", ""


def mpirun(prog, np, socket=None, preload=True, timeout=MPIRUN_TIMEOUT,
           args=(), lib=None, x=()):
    """Run prog on np ranks; with preload, under libesmpi.so (or the
    LD_PRELOAD list lib) talking to the esmpid at socket (ESMPI_SOCKET);
    x: more NAME=VALUE for the ranks. Returns a Job; raises AssertionError
    (after killing the job) if it does not finish within timeout."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(np)]
    for v in x:
        cmd += ["-x", v]
    if preload:
        if socket is not None:
            env["ESMPI_SOCKET"] = str(socket)
            cmd += ["-x", "ESMPI_SOCKET"]
        # Only the ranks get the library, not mpirun itself.
        cmd += ["-x", f"LD_PRELOAD={lib or LIBESMPI}"]
    cmd += [str(prog), *map(str, args)]
    return _run(cmd, env, timeout, "mpirun")


def hydra(prog, np, socket=None, preload=True, timeout=MPIRUN_TIMEOUT,
          args=(), lib=None, x=()):
    """mpirun() for MPICH: prog (linked to MPICH) on np ranks under
    mpiexec.hydra, with MPICH's libesmpi unless lib says otherwise. Hydra
    hands its whole environment to the ranks: what they must not inherit
    is scrubbed, what they need is given with -genv (not to hydra
    itself)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    cmd = ["mpiexec.hydra", "-n", str(np)]
    for v in x:
        cmd += ["-genv", *v.split("=", 1)]
    if preload:
        if socket is not None:
            cmd += ["-genv", "ESMPI_SOCKET", str(socket)]
        cmd += ["-genv", "LD_PRELOAD", str(lib or MPICH_LIBESMPI)]
    cmd += [str(prog), *map(str, args)]
    return _run(cmd, env, timeout, "mpiexec.hydra")


def _run(cmd, env, timeout, what):
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _kill_job(proc)
        raise AssertionError(
            f"{what} did not finish within {timeout}s (killed): "
            f"{' '.join(cmd)}\n--- stdout\n{out}--- stderr\n{err}") from None
    return Job(cmd, proc.returncode, out, err)


def rank_lines(stderr, needle):
    """World ranks that printed an `esmpi: rank N: ...needle...` line."""
    ranks = set()
    for line in stderr.splitlines():
        m = re.search(r"esmpi: rank (\d+): (.*)", line)
        if m and needle in m.group(2):
            ranks.add(int(m.group(1)))
    return ranks
