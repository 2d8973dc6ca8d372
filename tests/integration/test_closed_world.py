# SPDX-License-Identifier: Apache-2.0
"""Closed world: every MPI_* function of mpi.h has a line in
libclient/pmpi/mpi_functions.tbl, every MPIX_* function libmpi.so exports
(Open MPI's extensions, e.g. persistent collectives) one in mpi_extra.tbl,
and libesmpi.so defines every function the tables say it wraps while
exporting nothing but MPI_* / mpi_* symbols (and MPIX_* / mpix_*).
The same for MPICH (mpich_extra.tbl, build-mpich/): its mpi.h and
libmpich's functions. Fortran: test_closed_world_fortran.py.

mpi.h is parsed here on its own (not through extract_prototypes.py), so a
bug in the extraction script cannot hide a function from this test.
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "libclient" / "pmpi" / "mpi_functions.tbl"
MPIX_TABLE = REPO / "libclient" / "pmpi" / "mpi_extra.tbl"
BUILD = Path(os.environ.get("ESMPI_BUILD", str(REPO / "build")))
LIBESMPI = BUILD / "libclient" / "libesmpi.so"
DISPOSITIONS = {"special", "passthrough", "deny"}
# Symbols every shared object carries; "A" (absolute) entries are version tags.
LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start"}
# The one non-MPI export: what the node guard (libesmpi-guard.so) looks
# for to tell that libesmpi is loaded.
GUARD_MARKER = {"esmpi_guard_marker"}


@pytest.fixture
def binaries():
    """Overrides the suite-wide check for esmpid and friends: these tests
    need only mpi.h, the table and (for one test) libesmpi.so."""


def table_rows(table=TABLE, prefix="MPI_"):
    rows = []
    for lineno, line in enumerate(table.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            fields = [f.strip() for f in line.split("|")]
            m = re.search(rf"\b({prefix}\w+)\s*\(", fields[-1])
            rows.append((lineno, fields, m.group(1) if m else None))
    return rows


def table_names(disposition=None, table=TABLE, prefix="MPI_"):
    """Names with prefix (rows of other names are skipped: mpi_extra.tbl
    also holds Fortran-only MPI_* procedures)."""
    return {name for _, f, name in table_rows(table, prefix)
            if name and (disposition is None or f[0] == disposition)}


def libmpi_exports(prefix):
    libdirs = subprocess.run(["mpicc", "--showme:libdirs"],
                             capture_output=True, text=True, timeout=60)
    assert libdirs.returncode == 0, libdirs.stderr
    libs = [Path(d) / "libmpi.so" for d in libdirs.stdout.split()]
    libs = [p for p in libs if p.exists()]
    assert libs, f"no libmpi.so in {libdirs.stdout.strip()}"
    out = subprocess.run(["nm", "-D", "--defined-only", str(libs[0])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"nm failed: {out.stderr}"
    return {p[2].split("@", 1)[0] for p in
            (line.split() for line in out.stdout.splitlines())
            if len(p) >= 3 and p[2].startswith(prefix)}


def test_mpix_table_covers_libmpi():
    exported = libmpi_exports("MPIX_")
    listed = table_names(table=MPIX_TABLE, prefix="MPIX_")
    missing = sorted(exported - listed)
    assert not missing, (
        f"libmpi.so exports MPIX_ functions with no line in "
        f"{MPIX_TABLE.name} (a data-moving one would bypass esmpi): "
        f"{missing}")


def mpi_h_declarations():
    """name -> declaration with whitespace and attributes removed, from
    `mpicc -E`. OMPI_OMIT_MPI1_COMPAT_DECLS=0 also declares the ten MPI-1
    functions removed in MPI-3.0, which libmpi.so still exports."""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "closed_world.c"
        src.write_text("#include <mpi.h>\n")
        out = subprocess.run(["mpicc", "-E", "-P",
                              "-DOMPI_OMIT_MPI1_COMPAT_DECLS=0", str(src)],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"mpicc -E failed: {out.stderr}"
    text = re.sub(r'"[^"]*"', '""', out.stdout)  # strings may hold ';'
    text = re.sub(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)", "", text)
    decls = {}
    for stmt in text.split(";"):
        for name in re.findall(r"\b(MPI_\w+)\s*\(", stmt):
            decls[name] = re.sub(r"\s+", "", stmt)
    return decls


def test_table_covers_mpi_h():
    declared = set(mpi_h_declarations())
    listed = table_names()
    assert len(declared) > 300, "implausibly few MPI_ functions found"
    missing = sorted(declared - listed)
    extra = sorted(listed - declared)
    assert not missing and not extra, (
        f"mpi.h functions with no line in {TABLE.name} "
        f"(a data-moving one would bypass esmpi): {missing}; "
        f"table lines for functions mpi.h does not declare: {extra}")


def test_table_prototypes_match_mpi_h():
    decls = mpi_h_declarations()
    differ = [f"{TABLE.name}:{lineno}: {name}" for lineno, f, name
              in table_rows() if name in decls
              and re.sub(r"\s+", "", f[-1]) not in decls[name]]
    assert not differ, f"prototypes differ from mpi.h: {differ}"


def test_table_lines_well_formed():
    bad, seen, dup = [], set(), []
    for lineno, fields, name in table_rows():
        if (len(fields) != 3 or fields[0] not in DISPOSITIONS
                or not fields[1] or name is None):
            bad.append(f"{lineno}: {' | '.join(fields)}")
        elif name in seen:
            dup.append(name)
        seen.add(name)
    assert not bad, f"want '<{'|'.join(sorted(DISPOSITIONS))}> | family | " \
                    f"prototype': {bad}"
    assert not dup, f"functions listed twice: {dup}"


def test_libesmpi_defines_wrapped_and_exports_only_mpi():
    if not LIBESMPI.exists():
        pytest.fail(f"{LIBESMPI} does not exist: libesmpi was not built "
                    f"(build it, or point ESMPI_BUILD at a build)",
                    pytrace=False)
    out = subprocess.run(["nm", "-D", "--defined-only", str(LIBESMPI)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"nm failed: {out.stderr}"
    exported = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] == "A":
            continue
        exported.add(parts[2].split("@", 1)[0])
    wanted = (table_names("special") | table_names("deny") |
              table_names("deny", MPIX_TABLE, "MPIX_"))
    undefined = sorted(wanted - exported)
    foreign = sorted(s for s in exported - LINKER_SYMBOLS - GUARD_MARKER
                     if not s.startswith(("MPI_", "mpi_", "MPIX_", "mpix_")))
    assert GUARD_MARKER <= exported, "the guard's marker is not exported"
    problems = []
    if undefined:
        problems.append(f"special/deny functions not defined (calls would "
                        f"reach Open MPI unprotected): {undefined}")
    if foreign:
        problems.append(f"non-MPI symbols exported: {foreign}")
    assert not problems, f"{LIBESMPI}: " + "; ".join(problems)


def test_function_list_doc_is_current():
    """docs/MPI_FUNCTIONS.md is what gen_doc.py makes of the tables."""
    gen = REPO / "libclient" / "pmpi" / "gen_doc.py"
    out = subprocess.run([sys.executable, str(gen)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    doc = (REPO / "docs" / "MPI_FUNCTIONS.md").read_text()
    assert out == doc, ("docs/MPI_FUNCTIONS.md is stale: run "
                        "libclient/pmpi/gen_doc.py > docs/MPI_FUNCTIONS.md")


# ------------------------------------------------------------- MPICH
# The MPICH build (ESMPI_MPI=mpich) reads mpi_functions.tbl and
# mpich_extra.tbl: together they must cover MPICH's mpi.h and every
# MPI_*/MPIX_* function libmpich exports, and the MPICH libesmpi must
# define each special and deny one MPICH has (and its mpi_f08 entry points:
# test_closed_world_fortran.py).
MPICH_TABLE = REPO / "libclient" / "pmpi" / "mpich_extra.tbl"
MPICH_BUILD = Path(os.environ.get("ESMPI_MPICH_BUILD",
                                  str(REPO / "build-mpich")))
MPICH_LIBESMPI = MPICH_BUILD / "libclient" / "libesmpi.so"
LIBMPICH = Path("/usr/lib/x86_64-linux-gnu/libmpich.so.12")


def mpich_names(disposition=None):
    return {name for t in (TABLE, MPICH_TABLE) for p in ("MPI_", "MPIX_")
            for name in table_names(disposition, t, p)}


def mpich_declared():
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "closed_world.c"
        src.write_text("#include <mpi.h>\n")
        out = subprocess.run(["mpicc.mpich", "-E", "-P", str(src)],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"mpicc.mpich -E failed: {out.stderr}"
    text = re.sub(r"\s+", " ", out.stdout)
    # Declarations only (`T MPI_X(...);`), not typedefs or QMPI_/PMPI_.
    return set(re.findall(r"(?:^|(?<=[;}]))\s*(?!typedef)[A-Za-z_][\w ]*?"
                          r"\**\s*\b(MPIX?_\w+)\s*\([^;{}]*\)\s*;", text))


def exported(lib, prefixes):
    """Functions lib defines (not its data: MPI_UNWEIGHTED & co.)."""
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"nm {lib}: {out.stderr}"
    return {p[2].split("@", 1)[0] for p in
            (line.split() for line in out.stdout.splitlines())
            if len(p) >= 3 and p[1] in "TWi" and p[2].startswith(prefixes)}


def test_mpich_tables_cover_mpich_mpi_h_and_libmpich():
    declared = mpich_declared()
    assert len(declared) > 500, "implausibly few MPICH functions found"
    listed = mpich_names()
    missing = sorted(declared - listed)
    unexported = sorted(exported(LIBMPICH, ("MPI_", "MPIX_")) - listed)
    # mpich_extra.tbl holds only what MPICH declares.
    stray = sorted(table_names(table=MPICH_TABLE) |
                   table_names(table=MPICH_TABLE, prefix="MPIX_"))
    stray = [n for n in stray if n not in declared]
    assert not missing and not unexported and not stray, (
        f"MPICH's mpi.h declares functions with no line in "
        f"{TABLE.name} or {MPICH_TABLE.name}: {missing}; libmpich exports "
        f"such functions: {unexported}; {MPICH_TABLE.name} lines MPICH "
        f"does not declare: {stray}")


# MPICH's tool interface: registration of in-process tools, no payload;
# passed through (libclient/pmpi/README.md). A new one fails until
# reviewed.
QMPI_REVIEWED = {"QMPI_Register_tool_name", "QMPI_Register_tool_storage",
                 "QMPI_Register_function", "QMPI_Get_function",
                 "QMPI_Get_tool_storage", "QMPI_Get_calling_address"}


def test_mpich_qmpi_functions_reviewed():
    assert exported(LIBMPICH, ("QMPI_",)) == QMPI_REVIEWED


def test_mpich_libesmpi_defines_wrapped_and_exports_only_mpi():
    if not MPICH_LIBESMPI.exists():
        pytest.fail(f"{MPICH_LIBESMPI} does not exist: build-mpich was not "
                    f"built (scripts/build.sh)", pytrace=False)
    ours = exported(MPICH_LIBESMPI, ("",))
    theirs = exported(LIBMPICH, ("MPI_", "MPIX_"))
    wanted = (mpich_names("special") | mpich_names("deny")) & theirs
    undefined = sorted(wanted - ours)
    foreign = sorted(s for s in ours - LINKER_SYMBOLS - GUARD_MARKER
                     if not s.startswith(("MPI_", "MPIX_"))
                     and not re.fullmatch(r"mpi_\w+_f08(_large)?_", s))
    assert len(wanted) > 200, "implausibly few wrapped MPICH functions"
    assert not undefined and not foreign, (
        f"{MPICH_LIBESMPI}: special/deny functions not defined (calls "
        f"would reach MPICH unprotected): {undefined}; non-MPI symbols "
        f"exported: {foreign}")
