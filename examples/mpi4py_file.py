# SPDX-License-Identifier: Apache-2.0
"""mpi4py's MPI.File under esmpi: collective, explicit-offset, ordered,
nonblocking and split-collective access on one file (argv[1]). Same
output with and without the library."""
import sys
from array import array

from mpi4py import MPI

c = MPI.COMM_WORLD
r, n = c.Get_rank(), c.Get_size()
N = 256
f = MPI.File.Open(c, sys.argv[1], MPI.MODE_CREATE | MPI.MODE_RDWR)
f.Set_size(0)
f.Set_view(0, MPI.INT, MPI.INT)
mine = array("i", [r * 1000 + i for i in range(N)])
f.Write_at_all(r * N, mine)
back = array("i", [0] * N)
f.Read_at_all(r * N, back)
assert back == mine, "Read_at_all"
req = f.Iwrite_at((n + r) * N, mine)
req.Wait()
c.Barrier()
f.Iread_at_all((n + r) * N, back).Wait()
assert back == mine, "Iread_at_all"
f.Seek_shared(2 * n * N)
f.Write_ordered(array("i", [r] * (r + 1)))
f.Seek_shared(2 * n * N)
got = array("i", [-1] * (r + 1))
f.Read_ordered(got)
assert got == array("i", [r] * (r + 1)), f"Read_ordered {got}"
f.Seek(r * N)
f.Read_all_begin(back)
f.Read_all_end(back)
assert back == mine, "Read_all_begin/end"
size = f.Get_size()
f.Close()
total = c.allreduce(sum(back))
if r == 0:
    with open(sys.argv[1], "rb") as raw:
        data = raw.read()
    print("mpi4py_file:", size, len(data), total, data[-4 * n:].hex())
