# SPDX-License-Identifier: Apache-2.0
"""Closed world, Fortran side: every MPI procedure exported by Open MPI's
Fortran libraries (libmpi_mpifh for mpif.h and `use mpi`, libmpi_usempif08
for `use mpi_f08`, libmpi_usempi_ignore_tkr for the `use mpi` module) has
a disposition, and libesmpi.so defines that very symbol when the
disposition is special or deny. Those bindings call PMPI_* themselves, so
a Fortran symbol esmpi does not define is a plaintext bypass.

A symbol maps to its table line by name: mpi_x, mpi_x_, mpi_x__, MPI_X,
MPI_X_f and MPI_X_f08 (libmpi_mpifh) and mpi_x_f08_ (libmpi_usempif08) are
all MPI_X; mpi_sizeof_<type>_<rank>_ is MPI_Sizeof. The mapping is done
here, independently of gen_wrappers.py, so a mangling the generator
forgets fails this test. Not MPI procedures, and so not checked: the
profiling entry points (pmpi*), Open MPI's internal C bodies behind them
(ompi_*, ompix_*, pompi_*), an extension's placeholder
(mpiext_pcollreq_mpifh_dummy), and the mpi_f08 module's derived-type helpers and
predefined attribute callbacks (__mpi_f08_types_MOD_*,
__mpi_f08_callbacks_MOD_*, e.g. MPI_COMM_DUP_FN), which move no data.
Anything else a Fortran library exports fails the test until classified.

MPICH (libmpichfort, build-mpich/): its mpif.h and `use mpi` entry points
and its mpi_f08 routines with a choice buffer call the C MPI_X, which
libesmpi wraps; every other mpi_f08 routine calls PMPI_X itself. So each
PMPI_X libmpichfort calls is listed in pmpi/mpich_f08_pmpi.lst, and where
MPI_X is special or deny, MPICH's libesmpi defines the routine calling it
(mpi_x_f08_, mpi_x_f08_large_ for MPI_X_c).
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PMPI = REPO / "libclient" / "pmpi"
TABLES = [PMPI / "mpi_functions.tbl", PMPI / "mpi_extra.tbl"]
BUILD = Path(os.environ.get("ESMPI_BUILD", str(REPO / "build")))
LIBESMPI = BUILD / "libclient" / "libesmpi.so"
FORTRAN_LIBS = ("mpi_mpifh", "mpi_usempif08", "mpi_usempi_ignore_tkr")
NOT_MPI = re.compile(r"^(pmpi|p?ompix?_|mpiext_\w+_dummy$|"
                     r"__mpi_f08_(types|callbacks)_MOD_)", re.I)
MANGLED = re.compile(r"^(?P<base>mpix?_\w+?)(?:_f08_|_f08|_f|__|_)?$")


@pytest.fixture
def binaries():
    """Overrides the suite-wide check for esmpid: only the table, Open
    MPI's libraries and libesmpi.so are needed."""


def table():
    """lower-case name -> (disposition, family, name), both tables."""
    rows = {}
    for path in TABLES:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                disp, family, proto = [f.strip() for f in line.split("|")]
                name = re.search(r"\b(MPIX?_\w+)\s*\(", proto).group(1)
                rows[name.lower()] = (disp, family, name)
    return rows


def defined_functions(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"nm {lib}: {out.stderr}"
    syms = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("T", "W", "i"):
            syms.add(parts[2].split("@", 1)[0])
    return syms


def fortran_libraries():
    """The libraries Open MPI's mpif90 links, found as the linker would."""
    link = subprocess.run(["mpif90", "--showme:link"], capture_output=True,
                          text=True, timeout=60)
    assert link.returncode == 0, f"mpif90 --showme:link: {link.stderr}"
    dirs = [a[2:] for a in link.stdout.split() if a.startswith("-L")]
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True,
                           text=True, timeout=60).stdout
    found = {}
    for name in FORTRAN_LIBS:
        assert f"-l{name}" in link.stdout.split(), \
            f"mpif90 no longer links -l{name}: review FORTRAN_LIBS"
        cands = [Path(d) / f"lib{name}.so" for d in dirs]
        cands += [Path(m) for m in re.findall(
            rf"\blib{name}\.so\S* \(.*?\) => (\S+)", cache)]
        path = next((c for c in cands if c.exists()), None)
        assert path is not None, f"lib{name}.so not found ({cands})"
        found[name] = path.resolve()
    return found


def classify(sym, rows):
    """The table row of an exported Fortran symbol, "skip" for the
    non-MPI symbols above, or None when it has no disposition."""
    if NOT_MPI.match(sym):
        return "skip"
    low = sym.lower()
    if low.startswith("mpi_sizeof_"):
        return rows.get("mpi_sizeof")
    m = MANGLED.match(low)
    return rows.get(m["base"]) if m else None


def test_fortran_symbols_have_a_disposition_and_are_covered():
    if not LIBESMPI.exists():
        pytest.fail(f"{LIBESMPI} does not exist: build libesmpi first",
                    pytrace=False)
    rows = table()
    ours = defined_functions(LIBESMPI)
    unknown, uncovered, checked = [], [], 0
    for name, lib in fortran_libraries().items():
        for sym in sorted(defined_functions(lib)):
            row = classify(sym, rows)
            if row == "skip":
                continue
            if row is None:
                unknown.append(f"{lib.name}: {sym}")
                continue
            checked += 1
            if row[0] in ("special", "deny") and sym not in ours:
                uncovered.append(f"{lib.name}: {sym} ({row[2]}, {row[0]})")
    assert checked > 2000, f"implausibly few Fortran MPI symbols ({checked})"
    assert not unknown, (
        f"Fortran symbols with no disposition (add a line to "
        f"libclient/pmpi/mpi_extra.tbl): {unknown}")
    assert not uncovered, (
        f"special/deny Fortran symbols libesmpi does not define (calls "
        f"would reach Open MPI unprotected): {uncovered}")


def test_extra_table_c_functions_defined():
    """The MPIX_ lines of mpi_extra.tbl are C functions too (mpi-ext.h)."""
    ours = defined_functions(LIBESMPI)
    missing = sorted(name for disp, family, name in table().values()
                     if family == "mpix" and disp != "passthrough"
                     and name not in ours)
    assert not missing, f"MPIX_ functions not wrapped: {missing}"


# ------------------------------------------------------------- MPICH
MPICH_TABLES = [PMPI / "mpi_functions.tbl", PMPI / "mpich_extra.tbl"]
MPICH_F08_LIST = PMPI / "mpich_f08_pmpi.lst"
LIBMPICHFORT = Path("/usr/lib/x86_64-linux-gnu/libmpichfort.so.12")
MPICH_LIBESMPI = Path(os.environ.get(
    "ESMPI_MPICH_BUILD", str(REPO / "build-mpich"))) / "libclient" / \
    "libesmpi.so"


def pmpi_called(lib):
    """MPI_X for every PMPI_X lib calls (its undefined PMPI_ functions)."""
    out = subprocess.run(["nm", "-D", "--undefined-only", str(lib)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"nm {lib}: {out.stderr}"
    return {p[1].split("@", 1)[0][1:] for p in
            (line.split() for line in out.stdout.splitlines())
            if len(p) == 2 and p[1].startswith("PMPI_")}


def test_mpich_f08_routines_calling_pmpi_are_covered():
    if not MPICH_LIBESMPI.exists():
        pytest.fail(f"{MPICH_LIBESMPI} does not exist: build-mpich was not "
                    f"built (scripts/build.sh)", pytrace=False)
    called = pmpi_called(LIBMPICHFORT)
    listed = {x for x in (ln.split("#", 1)[0].strip() for ln in
                          MPICH_F08_LIST.read_text().splitlines()) if x}
    assert len(called) > 200, f"implausibly few PMPI_ calls: {called}"
    assert called == listed, (
        f"{MPICH_F08_LIST.name} and libmpichfort disagree: PMPI_ called but "
        f"not listed: {sorted(called - listed)}; listed but not called: "
        f"{sorted(listed - called)}")
    rows = {}
    for path in MPICH_TABLES:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                disp, _, proto = [f.strip() for f in line.split("|")]
                rows[re.search(r"\b(MPIX?_\w+)\s*\(", proto)[1]] = disp
    theirs = defined_functions(LIBMPICHFORT)
    ours = defined_functions(MPICH_LIBESMPI)
    wanted, missing = set(), []
    for name in sorted(called):
        assert name in rows, f"{name}: no line in the MPICH tables"
        low = name.lower()
        sym = low[:-2] + "_f08_large_" if low.endswith("_c") else \
            low + "_f08_"
        assert sym in theirs, f"{name}: libmpichfort has no {sym}"
        if rows[name] in ("special", "deny"):
            wanted.add(sym)
            if sym not in ours:
                missing.append(f"{sym} ({name}, {rows[name]})")
    assert len(wanted) > 60, f"implausibly few f08 entry points: {wanted}"
    assert not missing, (
        f"mpi_f08 routines calling PMPI_ directly that MPICH's libesmpi "
        f"does not define (they would bypass it): {missing}")
    # And no more than those: any other f08 routine calls the C MPI_X.
    extra = sorted(s for s in ours if re.fullmatch(r"mpi_\w+_f08\w*_", s)
                   and s not in wanted)
    assert not extra, f"f08 entry points defined for no reason: {extra}"
