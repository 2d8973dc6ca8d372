#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One-off: regenerate mpi_functions.tbl from the installed mpi.h.

    libclient/pmpi/extract_prototypes.py > libclient/pmpi/mpi_functions.tbl
    libclient/pmpi/extract_prototypes.py --impl mpich > libclient/pmpi/mpich_extra.tbl

Runs `mpicc -E -P` over `#include <mpi.h>` and keeps every exported
(OMPI_DECLSPEC) MPI_* function, with whitespace normalised and deprecation
attributes dropped. OMPI_OMIT_MPI1_COMPAT_DECLS=0 brings back the ten
functions removed in MPI-3.0 (MPI_Address, MPI_Type_struct, ...): libmpi.so
still exports them, so an old binary can still call them.

Each function gets a family (first matching rule in FAMILIES) and a
disposition: SPECIAL, then PASSTHROUGH, else deny. A new function therefore
becomes a deny wrapper until someone decides otherwise (closed world). The
checked-in table is what the build uses; review the diff after regenerating.

--impl mpich reads MPICH's mpi.h (mpicc.mpich) and writes what the MPICH
build reads besides mpi_functions.tbl: every MPI_* and MPIX_* function
MPICH declares that mpi_functions.tbl lacks (MPI-4's large-count `_c`
variants, persistent collectives, partitioned communication, sessions,
MPI_T events, MPICH's MPIX_*). A `_c` variant takes the disposition of
its base function's family, except that hand-written (special) bases
become deny: their wrappers know only the int counts.
"""
import os
import re
import subprocess
import sys
import tempfile

# Hand-written in libclient/ (the generator emits nothing for these).
SPECIAL = set("""
Init Init_thread Finalize
Send Ssend Rsend Bsend Isend Issend Irsend Ibsend Recv Irecv
Sendrecv Sendrecv_replace
Wait Waitany Waitsome Waitall Test Testany Testsome Testall
Probe Iprobe Mprobe Improbe Mrecv Imrecv Request_free Request_get_status
Send_init Ssend_init Rsend_init Bsend_init Recv_init Start Startall
Buffer_attach Buffer_detach
Comm_dup Comm_dup_with_info Comm_split Comm_split_type Comm_create
Comm_create_group Comm_free Comm_set_name Intercomm_create Intercomm_merge
Comm_idup
Cart_create Cart_sub Graph_create Dist_graph_create
Dist_graph_create_adjacent Comm_disconnect
Bcast Gather Gatherv Scatter Scatterv Allgather Allgatherv Alltoall Alltoallv
Alltoallw Reduce Allreduce Reduce_scatter Reduce_scatter_block Scan Exscan
Ibcast Igather Igatherv Iscatter Iscatterv Iallgather Iallgatherv Ialltoall
Ialltoallv Ialltoallw Ireduce Iallreduce Ireduce_scatter Ireduce_scatter_block
Iscan Iexscan
Neighbor_allgather Neighbor_allgatherv Neighbor_alltoall Neighbor_alltoallv
Neighbor_alltoallw Ineighbor_allgather Ineighbor_allgatherv Ineighbor_alltoall
Ineighbor_alltoallv Ineighbor_alltoallw
Op_free
File_open File_close File_read_all File_write_all File_read_at_all
File_write_at_all File_iread_all File_iwrite_all File_iread_at_all
File_iwrite_at_all File_read_ordered File_write_ordered
File_read_all_begin File_read_all_end File_write_all_begin File_write_all_end
File_read_at_all_begin File_read_at_all_end File_write_at_all_begin
File_write_at_all_end File_read_ordered_begin File_read_ordered_end
File_write_ordered_begin File_write_ordered_end
Comm_spawn Comm_spawn_multiple Comm_accept Comm_connect Comm_join
""".split())

# Move no application payload between processes; MPI_T_, *_f2c, *_c2f and
# the families datatype/group/errhandler/info/attr/tool/conv are added by
# disposition() below.
PASSTHROUGH = set("""
Abort Pcontrol Wtime Wtick Get_processor_name Get_version
Get_library_version Initialized Finalized Query_thread Is_thread_main
Get_address Alloc_mem Free_mem
Comm_rank Comm_size Comm_group Comm_compare Comm_get_name Comm_test_inter
Comm_remote_size Comm_remote_group Comm_set_info Comm_get_info
Get_count Get_elements Get_elements_x Status_set_cancelled
Status_set_elements Status_set_elements_x Test_cancelled
Cancel Grequest_start Grequest_complete
Op_create Op_free Op_commutative Reduce_local
Cart_coords Cart_rank Cart_get Cart_shift Cartdim_get Cart_map Dims_create
Graph_get Graph_map Graph_neighbors Graph_neighbors_count Graphdims_get
Topo_test Dist_graph_neighbors Dist_graph_neighbors_count
Barrier Ibarrier
Win_fence Win_lock Win_unlock Win_lock_all Win_unlock_all Win_flush
Win_flush_all Win_flush_local Win_flush_local_all Win_sync Win_post
Win_start Win_complete Win_wait Win_test Win_free
Win_get_group Win_get_name Win_set_name Win_get_info Win_set_info
Comm_get_parent Open_port Close_port Publish_name Unpublish_name Lookup_name
""".split())
PASSTHROUGH_FAMILIES = {"datatype", "group", "errhandler", "info", "attr",
                        "tool", "conv", "status", "op", "env", "io"}

# (family, regex on the name without "MPI_"); first match wins.
FAMILIES = [
    ("conv", r".*_(f2c|c2f)"),
    ("tool", r"T_.*"),
    ("errhandler", r"Errhandler_.*|Error_.*|Add_error_.*|.*_errhandler"),
    ("attr", r"Attr_.*|Keyval_.*|.*_(keyval|attr)"),
    ("init", r"Init|Init_thread|Finalize"),
    ("env", r"Abort|Pcontrol|Wtime|Wtick|Get_processor_name|Get_version"
            r"|Get_library_version|Initialized|Finalized|Query_thread"
            r"|Is_thread_main|Get_address|Alloc_mem|Free_mem|Address"),
    ("datatype", r"Type_.*|Pack.*|Unpack.*"),
    ("group", r"Group_.*"),
    ("info", r"Info_.*"),
    ("status", r"Get_count|Get_elements.*|Status_.*|Test_cancelled"),
    ("op", r"Op_.*|Reduce_local"),
    ("completion", r"(Wait|Test)(any|some|all)?|Request_.*|Cancel"
                   r"|Grequest_.*|Start|Startall"),
    ("p2p", r"([BSR]?s|S)end(_init)?|I[bsr]?send|Recv(_init)?|Irecv"
            r"|Sendrecv.*|Probe|Iprobe|Mprobe|Improbe|Mrecv|Imrecv"
            r"|Buffer_.*"),
    ("neighbor", r"(Neighbor|Ineighbor)_.*"),
    ("nbcoll", r"I(barrier|bcast|gatherv?|scatterv?|allgatherv?"
               r"|alltoall[vw]?|reduce|allreduce|reduce_scatter(_block)?"
               r"|scan|exscan)"),
    ("coll", r"Barrier|Bcast|Gatherv?|Scatterv?|Allgatherv?|Alltoall[vw]?"
             r"|Reduce|Allreduce|Reduce_scatter(_block)?|Scan|Exscan"),
    ("rma", r"Win_.*|Put|Rput|Get|Rget|Accumulate|Raccumulate"
            r"|Get_accumulate|Rget_accumulate|Fetch_and_op|Compare_and_swap"),
    ("io", r"File_.*|Register_datarep"),
    ("dynamic", r"Comm_(spawn.*|accept|connect|join|get_parent)|Open_port"
                r"|Close_port|Publish_name|Unpublish_name|Lookup_name"),
    ("topo", r"Cart.*|Graph.*|Dist_graph.*|Dims_create|Topo_test"),
    ("comm", r"Comm_.*|Intercomm_.*"),
]

# One comment per family, printed above its section of the table.
REASONS = {
    "init": "init: session set-up and key teardown (hand-written)",
    "env": "env: local queries and memory; no payload",
    "p2p": "p2p: sealed/opened by hand-written wrappers",
    "completion": "completion: hand-written (Irecv open, Isend release); "
                  "Cancel, Grequest_* are local",
    "comm": "comm: key lifecycle hand-written; queries are local",
    "topo": "topo: creators derive keys (hand-written); queries are local",
    "coll": "coll: sealed per block (mpi/coll.c); Barrier carries none",
    "nbcoll": "nbcoll: sealed at start, opened at completion (mpi/coll.c, "
              "req/req.c); Ibarrier carries none",
    "neighbor": "neighbor: sealed per neighbour block (mpi/coll.c), Cartesian, "
                "graph, dist graph",
    "rma": "rma: creation and data movement denied; sync, free and "
           "queries on a window move no data",
    "io": "io: collective data access made independent (mpi/io.c): no "
          "data between ranks; the rest is local or file-system I/O",
    "dynamic": "dynamic: another job's processes; the intercommunicator is "
               "keyed by a link\n# between the two jobs' esmpids "
               "(comm/link.c); ports and names move no payload",
    "datatype": "datatype: local type construction and packing",
    "group": "group: local group arithmetic",
    "errhandler": "errhandler: local error classes and handlers",
    "info": "info: local key/value objects",
    "attr": "attr: local attribute caching (incl. deprecated MPI-1 names)",
    "status": "status: local status inspection",
    "op": "op: local reduction operators; Op_free hand-written (a pending "
          "nonblocking reduction keeps its operation)",
    "tool": "tool: MPI_T tool interface, process-local",
    "conv": "conv: Fortran/C handle conversion",
    "unclassified": "unclassified: new in this mpi.h; denied until reviewed",
}

# MPICH 4.0's additions not covered by FAMILIES (name without "MPI_").
MPICH_FAMILIES = [
    ("pcoll", r"(All)?[Gg]atherv?_init|Scatterv?_init"
              r"|Alltoall[vw]?_init|Bcast_init|(All)?[Rr]educe_init"
              r"|Reduce_scatter(_block)?_init|(Ex)?[Ss]can_init"
              r"|Neighbor_\w+_init"),
    ("mpi4", r"Isendrecv(_replace)?|Psend_init|Precv_init"),
    ("partition", r"Pready(_list|_range)?|Parrived|Barrier_init"),
    ("env", r"Aint_(add|diff)"),
    ("session", r"Session_(init|finalize|get_\w+)|Comm_create_from_group"
                r"|Intercomm_create_from_groups"),
]
# MPICH's MPIX_* (name without "MPIX_"): family, disposition.
MPICH_MPIX = [
    ("ft", "deny", r"Comm_(agree|shrink|revoke)"),
    ("ft", "passthrough", r"Comm_failure_(ack|get_acked)"),
    ("errhandler", "passthrough", r"Delete_error_\w+"),
    ("completion", "passthrough", r"Grequest_\w+"),
    ("env", "passthrough", r"\w+_support"),
]
MPICH_REASONS = {
    "large": "large: MPI-4 large-count (_c) variants of calls that move "
             "payload; esmpi's wrappers take int counts, denied",
    "pcoll": "pcoll: persistent collectives: each Start runs esmpi's "
             "nonblocking collective, sealed (mpi/pcoll.c); Barrier_init "
             "carries no payload (partition)",
    "mpi4": "mpi4: MPI-4 nonblocking sendrecv (mpi/nb.c: one sealed "
            "record each way, one request) and partitioned point-to-point "
            "(mpi/part.c: the whole buffer one record, sealed when the last "
            "partition is ready)",
    "partition": "partition: Pready(_range, _list) and Parrived act on "
                 "esmpi's partitioned requests (mpi/part.c: the last ready "
                 "partition seals, Parrived is true once the record "
                 "opened); Barrier_init carries no payload",
    "session": "session: MPI-4 sessions: Session_init starts MPI without "
               "MPI_Init (no esmpi session) and communicators made from "
               "a group have no keys: denied; queries and finalize are local",
    "ft": "ft: MPICH's fault tolerance (ULFM): agree and revoke move "
          "data, shrink makes a communicator without keys; acks are local",
}
PASSTHROUGH_MPI4 = {"partition"}
# Hand-written in libclient/ (MPICH build): families, functions.
SPECIAL_MPI4 = {"pcoll", "mpi4"}
SPECIAL_MPICH = {"Comm_idup_with_info", "Pready", "Pready_list",
                 "Pready_range", "Parrived"}


DECL = re.compile(r'__attribute__\(\(visibility\("default"\)\)\)\s*'
                  r'([A-Za-z_][\w ]*?\**)\s*\b(MPI_\w+)\s*\(([^;]*?)\)'
                  r'\s*(?:__attribute__\(\(.*?\)\)\s*)?;')


def preprocess(mpicc="mpicc"):
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "x.c")
        with open(src, "w") as f:
            f.write("#include <mpi.h>\n")
        return subprocess.run([mpicc, "-E", "-P",
                               "-DOMPI_OMIT_MPI1_COMPAT_DECLS=0", src],
                              check=True, capture_output=True,
                              text=True).stdout


def normalise(s):
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"\s*(\*+)\s*", r" \1", s)
    s = re.sub(r"\s*([,)\]])", r"\1", s)
    s = re.sub(r"([(\[])\s*", r"\1", s)
    return re.sub(r",(?=\S)", ", ", s)


def family(short):
    for fam, rx in FAMILIES:
        if re.fullmatch(rx, short):
            return fam
    return "unclassified"


def disposition(short, fam):
    if short in SPECIAL:
        return "special"
    if short in PASSTHROUGH or fam in PASSTHROUGH_FAMILIES:
        return "passthrough"
    return "deny"


# MPICH marks nothing on its declarations: any `T MPI_X(...);` statement.
MPICH_DECL = re.compile(r"(?:^|(?<=[;}]))\s*([A-Za-z_][\w ]*?\**)\s*"
                        r"\b(MPIX?_\w+)\s*\(([^;{}]*?)\)\s*;")


def mpich_row(name):
    """(family, disposition) of a function MPICH adds."""
    if name.startswith("MPIX_"):
        for fam, disp, rx in MPICH_MPIX:
            if re.fullmatch(rx, name[5:]):
                return fam, disp
        return "unclassified", "deny"
    short = name[4:]
    if short.endswith("_c"):
        fam = family(short[:-2])
        disp = disposition(short[:-2], fam)
        return (fam, disp) if disp == "passthrough" else ("large", "deny")
    for fam, rx in MPICH_FAMILIES:
        if re.fullmatch(rx, short):
            local = (fam in PASSTHROUGH_MPI4 | PASSTHROUGH_FAMILIES or
                     re.fullmatch(r"Session_(get_\w+|finalize)", short))
            if fam in SPECIAL_MPI4 or short in SPECIAL_MPICH:
                return fam, "special"
            return fam, "passthrough" if local else "deny"
    fam = family(short)
    if short in SPECIAL_MPICH:
        return fam, "special"
    return fam, disposition(short, fam)


def main_mpich():
    here = os.path.dirname(os.path.abspath(__file__))
    known = set()
    with open(os.path.join(here, "mpi_functions.tbl")) as f:
        for line in f:
            m = re.search(r"\b(MPIX?_\w+)\(", line.split("#", 1)[0])
            if m:
                known.add(m.group(1))
    rows = {}
    text = re.sub(r"\s+", " ", preprocess("mpicc.mpich"))
    for ret, name, params in MPICH_DECL.findall(text):
        if name in known or "typedef" in ret:
            continue
        known.add(name)
        fam, disp = mpich_row(name)
        rows.setdefault(fam, []).append(
            (disp, name, normalise(f"{ret} {name}({params})")))
    print("# SPDX-License-Identifier: Apache-2.0")
    print("# What MPICH 4.0.2's mpi.h declares beyond mpi_functions.tbl (read")
    print("# by the MPICH build only); generated by extract_prototypes.py")
    print("# --impl mpich, then reviewed. See README.md.")
    print("# disposition | family | prototype")
    reasons = {**REASONS, **MPICH_REASONS}
    for fam in sorted(rows, key=lambda f: list(reasons).index(f)):
        print(f"\n# {reasons[fam]}")
        for disp, _, proto in sorted(rows[fam], key=lambda r: r[1]):
            print(f"{disp:<11} | {fam:<10} | {proto}")


def main():
    if sys.argv[1:] == ["--impl", "mpich"]:
        return main_mpich()
    if sys.argv[1:]:
        sys.exit("usage: extract_prototypes.py [--impl mpich]")
    rows = {}
    for ret, name, params in DECL.findall(re.sub(r"\s+", " ", preprocess())):
        short = name[len("MPI_"):]
        fam = family(short)
        proto = normalise(f"{ret} {name}({params})")
        rows.setdefault(fam, []).append((disposition(short, fam), name, proto))
    missing = SPECIAL - {n[4:] for r in rows.values() for _, n, _ in r}
    if missing:
        sys.exit(f"special functions not in mpi.h: {sorted(missing)}")
    print("# SPDX-License-Identifier: Apache-2.0")
    print("# Every MPI_* function of Open MPI 4.1.4's mpi.h; generated by")
    print("# extract_prototypes.py, then reviewed. See README.md. Includes the")
    print("# ten MPI-1 functions removed in MPI-3.0 (MPI_Address, MPI_Type_struct,")
    print("# ...): hidden by mpi.h unless OMPI_OMIT_MPI1_COMPAT_DECLS=0, but")
    print("# libmpi.so still exports them.")
    print("# disposition | family | prototype")
    for fam in list(REASONS):
        if fam not in rows:
            continue
        print(f"\n# {REASONS[fam]}")
        for disp, _, proto in sorted(rows[fam], key=lambda r: r[1]):
            print(f"{disp:<11} | {fam:<10} | {proto}")


if __name__ == "__main__":
    main()
