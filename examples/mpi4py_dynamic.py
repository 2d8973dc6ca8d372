# SPDX-License-Identifier: Apache-2.0
"""mpi4py dynamic processes: an intercommunicator from Comm.Spawn
(`spawn`; the children run `child`), Accept/Connect (`accept PORTFILE`
and `connect PORTFILE`, two jobs, the port name passed through a file)
or Comm.Join (`join`, ranks 0 and 1 over a TCP socket; `join-listen
PORTFILE` and `join-connect PORTFILE`, two jobs), then a message,
an Allreduce and a Barrier on it, an Allgather on the merged
intracommunicator and an Allreduce on a duplicate, and Disconnect. Each
side's rank 0 prints what it got, as a SHA-256 prefix (output never
carries the marker: across hosts it travels in Open MPI's own messages;
the parent side sends the marker in
the file $DYN_MARKER_FILE, by default ESMPI-SECRET-MARKER; `spawn` puts
the children on host $DYN_SPAWN_HOST if set; `spawn-twice` spawns one
child job after another). `spawn-plain` spawns the children without
LD_PRELOAD (plain MPI), which esmpi must refuse. With $DYN_SIGN_TAG, the
parent side's rank 0 last sends one message on that tag (see use())."""
import hashlib
import os
import socket
import sys
import time

from mpi4py import MPI

mode = sys.argv[1]
w = MPI.COMM_WORLD
r = w.Get_rank()


def digest(text):
    return "sha256 " + hashlib.sha256(text.encode()).hexdigest()[:16]


def use(ic, side):
    me = ic.Get_rank()
    got = None
    if me == 0:
        if side == "parent":
            marker = "ESMPI-SECRET-MARKER"
            if "DYN_MARKER_FILE" in os.environ:
                with open(os.environ["DYN_MARKER_FILE"]) as f:
                    marker = f.read()
            ic.send(f"{marker} from the parent side", dest=0, tag=7)
        else:
            got = ic.recv(source=0, tag=7)
    total = ic.allreduce(me + 1)
    ic.Barrier()
    # Derived communicators: both sides in one group, and a duplicate.
    m = ic.Merge(high=side == "child")
    everyone = m.allgather(f"{side}{me}")
    d = ic.Dup()
    dtotal = d.allreduce(10 * (me + 1))
    # One side's rank 0 prints at a time: spawned children share
    # mpirun's output with their parents.
    for turn in ("child", "parent"):
        if side == turn and me == 0:
            # One write: the two jobs of a join or connect share a pipe
            # through their mpiruns, which may tear separate writes apart.
            text = f"{side} got: {digest(got)}\n" if got is not None else ""
            text += f"{side} allreduce over the other side: {total}\n"
            text += f"{side} merged: {everyone} dup allreduce: {dtotal}\n"
            sys.stdout.write(text)
            sys.stdout.flush()
        ic.Barrier()
    d.Free()
    m.Free()
    # $DYN_SIGN_TAG: a tag a `sign` rule of the policy covers: the record
    # is signed by the sender's certified key and verified by the receiver,
    # within one job and across a link alike; a refusal is printed.
    if "DYN_SIGN_TAG" in os.environ and me == 0:
        tag = int(os.environ["DYN_SIGN_TAG"])
        if side == "parent":
            ic.send("signed", dest=0, tag=tag)
        else:
            ic.Set_errhandler(MPI.ERRORS_RETURN)
            # The children of `spawn-twice` say which spawn they are.
            label = f" ({sys.argv[2]})" if mode == "child" and \
                len(sys.argv) > 2 else ""
            try:
                ic.recv(source=0, tag=tag)
                sys.stdout.write(f"sign-check{label}: delivered\n")
            except MPI.Exception:
                sys.stdout.write(f"sign-check{label}: refused\n")
            sys.stdout.flush()
    ic.Disconnect()


if mode == "spawn":
    info = MPI.Info.Create()
    if "DYN_SPAWN_HOST" in os.environ:
        info.Set("host", os.environ["DYN_SPAWN_HOST"])
    use(w.Spawn(sys.executable, [__file__, "child"], maxprocs=2, info=info),
        "parent")
    info.Free()
elif mode == "spawn-twice":
    # One child job after the other (one process each).
    for which in ("first", "second"):
        use(w.Spawn(sys.executable, [__file__, "child", which], maxprocs=1),
            "parent")
elif mode == "spawn-plain":
    use(w.Spawn("/usr/bin/env", ["-u", "LD_PRELOAD", sys.executable, __file__,
                                 "child"], maxprocs=1), "parent")
elif mode == "child":
    use(MPI.Comm.Get_parent(), "child")
elif mode == "accept":
    port = MPI.Open_port() if r == 0 else None
    if r == 0:
        with open(sys.argv[2] + ".tmp", "w") as f:
            f.write(port)
        os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    use(w.Accept(port, root=0), "parent")
    if r == 0:
        MPI.Close_port(port)
elif mode == "connect":
    port = None
    if r == 0:
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.05)
        with open(sys.argv[2]) as f:
            port = f.read()
    use(w.Connect(port, root=0), "child")
elif mode == "join-listen":
    # Two jobs of one rank each join over TCP, the port through a file.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    s, _ = ls.accept()
    use(MPI.Comm.Join(s.fileno()), "parent")
    s.close()
elif mode == "join-connect":
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.05)
    with open(sys.argv[2]) as f:
        s = socket.create_connection(("127.0.0.1", int(f.read())))
    use(MPI.Comm.Join(s.fileno()), "child")
    s.close()
elif mode == "join":
    if r == 0:
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        w.send(ls.getsockname()[1], dest=1, tag=3)
        s, _ = ls.accept()
    else:
        s = socket.create_connection(("127.0.0.1", w.recv(source=0, tag=3)))
    if r < 2:
        use(MPI.Comm.Join(s.fileno()), "parent" if r == 0 else "child")
    s.close()
