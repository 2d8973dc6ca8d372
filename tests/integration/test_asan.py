# SPDX-License-Identifier: Apache-2.0
"""libesmpi itself under AddressSanitizer and UBSan, inside real MPI jobs.
The unit tests run common/ and policy/ under the sanitizers; this covers
the MPI layer: request and communicator lifetimes, freed datatypes and
operations, buffered sends, Comm_idup, every collective (plain and signed)
and persistent collective (pcoll_check),
the Fortran entry points, one-sided batches and deferred Gets with the
applier thread (rma_check).

A side build of the libesmpi target alone (build-asan-mpi/ next to the
build, -DESMPI_SANITIZE=ON; made here, incrementally, ~20 s from scratch)
is preloaded after GCC's libasan into examples that exercise that
bookkeeping. Each must print its OK line, exit 0 and leave no sanitizer
report (UBSan stops at the first). Leak checking is off: Open MPI itself
leaks at exit.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_asan.py
"""
import subprocess

import pytest

import esmpi_it as it
import mpi_helpers as mh

ASAN_BUILD = it.BUILD.parent / "build-asan-mpi"
ASAN_LIB = ASAN_BUILD / "libclient" / "libesmpi.so"

CASES = [("modes", 2), ("comms", 3), ("datatypes", 2), ("persistent", 2),
         ("probe", 2), ("large", 2), ("wildcard", 3), ("threads", 2), ("coll_check", 3),
         ("conform", 3), ("rma_check", 3), ("pcoll_check", 2),
         ("fortran_calls", 2), ("fortran_calls_f08", 2)]


@pytest.fixture(scope="module")
def asan_preload():
    """LD_PRELOAD value: GCC's libasan, then the sanitized libesmpi."""
    r = it.run(["cmake", "-S", it.REPO, "-B", ASAN_BUILD,
                "-DCMAKE_BUILD_TYPE=Debug", "-DESMPI_SANITIZE=ON",
                "-DESMPI_BUILD_TESTS=ON"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = it.run(["cmake", "--build", ASAN_BUILD, "-j2", "--target", "esmpi"],
               timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    asan = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                          capture_output=True, text=True).stdout.strip()
    assert asan.startswith("/"), f"no libasan.so from gcc: {asan!r}"
    return f"{asan}:{ASAN_LIB}"


def asan_job(name, np, sock, preload):
    job = mh.mpirun(mh.example(name), np, socket=sock, lib=preload,
                    timeout=300,
                    x=["ASAN_OPTIONS=detect_leaks=0",
                       "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"])
    why = job.describe()
    assert "AddressSanitizer" not in job.stderr, why
    assert "runtime error" not in job.stderr, why
    assert job.returncode == 0, why
    assert any(mh.RESULT.match(line) or line.endswith(" OK") or
               (line.startswith("rma_check: ") and ", all ok, " in line)
               for line in job.stdout.splitlines()), why
    return job


@pytest.mark.parametrize("name, np", CASES,
                         ids=[f"{n}-np{k}" for n, k in CASES])
def test_examples_under_asan(daemon, asan_preload, name, np):
    asan_job(name, np, daemon.sock, asan_preload)


def test_signed_collectives_under_asan(daemons, write_policy, asan_preload):
    d = daemons("asan-sign", policy=write_policy(it.POLICY_SIGN_ALL))
    asan_job("coll_check", 2, d.sock, asan_preload)
