# SPDX-License-Identifier: Apache-2.0
"""mpi4py's MPI.Win under esmpi: Allocate, Create, Create_dynamic and
Allocate_shared windows; fence, lock/unlock, lock_all with request forms
and flushes, post/start/complete/wait; Put, Get, Accumulate,
Get_accumulate, Fetch_and_op, Compare_and_swap. Buffers are arrays of the
standard library. Same output with and without the library."""
from array import array
from mpi4py import MPI

c = MPI.COMM_WORLD
r, n = c.Get_rank(), c.Get_size()
right, left = (r + 1) % n, (r - 1) % n
out = []

# Allocate + fence: Put right, Get left, Accumulate into all
w = MPI.Win.Allocate(64 * 8, 8, comm=c)
w.Lock(r)
m = memoryview(w.tomemory()).cast("B").cast("q")
for i in range(64):
    m[i] = r * 1000 + i
w.Unlock(r)
w.Fence()
w.Put(array("q", [r * 7 + i for i in range(8)]), right, target=0)
w.Fence()
got = array("q", [0] * 8)
w.Get(got, left, target=8)
w.Fence()
for t in range(n):
    w.Accumulate(array("q", [r + 1] * 4), t, target=16, op=MPI.SUM)
w.Fence()
out.append(("fence", list(m[0:2]), list(got[0:2]), list(m[16:18])))
w.Free()

# Lock: Fetch_and_op counter and Compare_and_swap on rank 0
w = MPI.Win.Allocate(4 * 8, 8, comm=c)
w.Lock(r)
m = memoryview(w.tomemory()).cast("B").cast("q")
for i in range(4):
    m[i] = 0
w.Unlock(r)
c.Barrier()
one, old = array("q", [1]), array("q", [0])
for _ in range(5):
    w.Lock(0, MPI.LOCK_SHARED)
    w.Fetch_and_op(one, old, 0, 0, MPI.SUM)
    w.Unlock(0)
while True:
    w.Lock(0)
    cur = array("q", [0])
    w.Fetch_and_op(one, cur, 0, 1, MPI.NO_OP)
    w.Flush(0)
    new, res = array("q", [cur[0] + 1]), array("q", [0])
    w.Compare_and_swap(new, cur, res, 0, 1)
    w.Unlock(0)
    if res[0] == cur[0]:
        break
w.Lock(0)
ga = array("q", [0])
w.Get_accumulate(array("q", [r + 1]), ga, 0, target=2, op=MPI.SUM)
w.Unlock(0)
c.Barrier()
w.Lock(r, MPI.LOCK_SHARED)
out.append(("lock", list(m[0:3])))
w.Unlock(r)
w.Free()

# Create on an array + Lock_all with Rput/Rget and flushes
buf = array("d", [r + i / 10 for i in range(8)])
w = MPI.Win.Create(buf, 8, comm=c)
c.Barrier()
w.Lock_all()
rq = w.Rput(array("d", [r * 10.0, r * 10.0 + 1]), right, target=0)
rq.Wait()
w.Flush(right)
y = array("d", [0.0] * 2)
w.Rget(y, right, target=0).Wait()
w.Flush_all()
w.Unlock_all()
c.Barrier()
out.append(("lock_all", list(buf[0:3]), list(y)))
w.Free()

# Post/start/complete/wait
buf = array("i", [0, 0])
w = MPI.Win.Create(buf, 4, comm=c)
g = c.Get_group()
to, frm = g.Incl([right]), g.Incl([left])
w.Post(frm)
w.Start(to)
w.Put(array("i", [r + 100]), right, target=1)
w.Complete()
w.Wait()
out.append(("pscw", list(buf)))
for x in (to, frm, g):
    x.Free()
w.Free()

# Dynamic window
buf = array("i", [r * 10 + i for i in range(4)])
w = MPI.Win.Create_dynamic(comm=c)
w.Attach(buf)
addrs = c.allgather(MPI.Get_address(buf))
w.Fence()
w.Put(array("i", [-r]), right, target=addrs[right] + 4)
w.Fence()
w.Detach(buf)
out.append(("dynamic", list(buf)))
w.Free()

# Shared memory among the ranks of this node
node = c.Split_type(MPI.COMM_TYPE_SHARED)
w = MPI.Win.Allocate_shared(8, 8, comm=node)
mine = memoryview(w.tomemory()).cast("B").cast("q")
mine[0] = node.Get_rank() + 5
node.Barrier()
w.Sync()
first, unit = w.Shared_query(0)
out.append(("shared", unit, memoryview(first).cast("B").cast("q")[0]))
w.Free()
node.Free()

res = c.gather(out, root=0)
if r == 0:
    for i, o in enumerate(res):
        print(i, o)
    print(f"mpi4py_win: {n} ranks done")
