# SPDX-License-Identifier: Apache-2.0
"""mpi4py under esmpi: pickled objects and buffers, point-to-point and
collectives. Same output with and without the library."""
from array import array
from mpi4py import MPI
c = MPI.COMM_WORLD
r, n = c.Get_rank(), c.Get_size()
obj = c.bcast({"k": [1, 2, 3], "from": 0} if r == 0 else None, root=0)
got = None
if r == 0:
    c.send({"hello": "ESMPI-SECRET-MARKER"}, dest=1, tag=5)
elif r == 1:
    got = c.recv(source=0, tag=5)
tot = c.allreduce(r + 1)
g = c.gather(r * 10, root=0)
a = array("d", [float(i * (r + 1)) for i in range(1000)])
b = array("d", [0.0] * 1000)
c.Allreduce(a, b, op=MPI.SUM)
s = array("d", [0.0] * 1000)
if r == 0:
    c.Send(a, dest=1, tag=9)
elif r == 1:
    c.Recv(s, source=0, tag=9)
    assert s == array("d", [float(i) for i in range(1000)])
    assert got == {"hello": "ESMPI-SECRET-MARKER"}
if r == 0:
    print("mpi4py:", obj, tot, g, sum(b))
