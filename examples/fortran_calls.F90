! SPDX-License-Identifier: Apache-2.0
! Many protected calls through Fortran, to exercise the argument
! conversions of the generated entry points: request arrays and 1-based
! indices, status arrays, probes and matched probes, persistent requests,
! buffered sends, communicator and topology constructors (Comm_idup, LOGICAL arrays,
! MPI_UNWEIGHTED, names), MPI_BOTTOM, MPI_IN_PLACE and most collectives.
! Every rank checks what it got; rank 0 prints one line.
! Built twice: `use mpi` (fortran_calls) and, with -DF08, `use mpi_f08`
! (fortran_calls_f08); the macros below are all that differs.
#ifdef F08
#define USE_MPI use mpi_f08
#define BINDING 'use mpi_f08'
#define T_COMM type(MPI_Comm)
#define T_REQ type(MPI_Request)
#define T_MSG type(MPI_Message)
#define T_DT type(MPI_Datatype)
#define STATUS(x) type(MPI_Status) :: x
#define STATUSES(x, n) type(MPI_Status) :: x(n)
#define SOURCE(s) s%MPI_SOURCE
#define TAG(s) s%MPI_TAG
#define SOURCE_I(s, i) s(i)%MPI_SOURCE
#define TAG_I(s, i) s(i)%MPI_TAG
#define STATUS_I(s, i) s(i)
#define T_DETACHED type(c_ptr)
#define DETACHED_OK(p) c_associated(p, bufaddr)
#else
#define USE_MPI use mpi
#define BINDING 'use mpi'
#define T_COMM integer
#define T_REQ integer
#define T_MSG integer
#define T_DT integer
#define STATUS(x) integer :: x(MPI_STATUS_SIZE)
#define STATUSES(x, n) integer :: x(MPI_STATUS_SIZE, n)
#define SOURCE(s) s(MPI_SOURCE)
#define TAG(s) s(MPI_TAG)
#define SOURCE_I(s, i) s(MPI_SOURCE, i)
#define TAG_I(s, i) s(MPI_TAG, i)
#define STATUS_I(s, i) s(:, i)
#define T_DETACHED integer
#define DETACHED_OK(p) .true.
#endif
program fortran_calls
  USE_MPI
  use, intrinsic :: iso_c_binding, only: c_ptr, c_loc, c_associated
  implicit none
  integer :: ierr, rank, np, left, right, i, n, idx, outcount
  STATUS(st)
  STATUSES(sts, 4)
  T_REQ :: reqs(4)
  T_MSG :: msg
  T_COMM :: dup, idup, split, cart, sub, graph
  T_DT :: t
  T_DT, allocatable :: types(:)
  T_DETACHED :: detached
  type(c_ptr) :: bufaddr
  integer :: indices(4), a(4), b(4), big(64), bufsize
  integer :: dims(1), srcs(1), dsts(1), x, one
  integer(kind=MPI_ADDRESS_KIND) :: addr
  logical :: flag, periods(1), remain(1)
  character(len=MPI_MAX_OBJECT_NAME) :: cname
  integer, allocatable :: vals(:), counts(:), displs(:), gindex(:), gedges(:)
  integer, allocatable :: bdispls(:)
  integer, allocatable, target :: bsendbuf(:)

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, np, ierr)
  right = mod(rank + 1, np)
  left = mod(rank - 1 + np, np)
  allocate(vals(np), counts(np), displs(np))

  ! Sendrecv and Sendrecv_replace around the ring
  call MPI_Sendrecv(rank, 1, MPI_INTEGER, right, 1, n, 1, MPI_INTEGER, &
                    left, 1, MPI_COMM_WORLD, st, ierr)
  call check(n == left .and. SOURCE(st) == left .and. TAG(st) == 1, 'sendrecv')
  n = rank
  call MPI_Sendrecv_replace(n, 1, MPI_INTEGER, right, 2, left, 2, &
                            MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
  call check(n == left, 'sendrecv_replace')

  ! Probe, Iprobe, Mprobe/Mrecv, Improbe/Imrecv
  a = [1, 2, 3, 4] + rank
  call MPI_Send(a, 3, MPI_INTEGER, right, 3, MPI_COMM_WORLD, ierr)
  call MPI_Probe(left, 3, MPI_COMM_WORLD, st, ierr)
  call MPI_Get_count(st, MPI_INTEGER, n, ierr)
  call check(n == 3, 'probe count')
  flag = .false.
  do while (.not. flag)
    call MPI_Iprobe(left, 3, MPI_COMM_WORLD, flag, st, ierr)
  end do
  call MPI_Recv(b, 3, MPI_INTEGER, left, 3, MPI_COMM_WORLD, st, ierr)
  call check(all_eq(b(1:3), [1, 2, 3] + left), 'probe recv')
  call MPI_Send(a, 4, MPI_INTEGER, right, 4, MPI_COMM_WORLD, ierr)
  call MPI_Mprobe(left, 4, MPI_COMM_WORLD, msg, st, ierr)
  call MPI_Mrecv(b, 4, MPI_INTEGER, msg, st, ierr)
  call check(all_eq(b, [1, 2, 3, 4] + left) .and. msg == MPI_MESSAGE_NULL, 'mprobe')
  call MPI_Send(a, 2, MPI_INTEGER, right, 5, MPI_COMM_WORLD, ierr)
  flag = .false.
  do while (.not. flag)
    call MPI_Improbe(left, 5, MPI_COMM_WORLD, flag, msg, st, ierr)
  end do
  call MPI_Imrecv(b, 2, MPI_INTEGER, msg, reqs(1), ierr)
  call MPI_Wait(reqs(1), st, ierr)
  call MPI_Get_count(st, MPI_INTEGER, n, ierr)
  call check(n == 2 .and. all_eq(b(1:2), [1, 2] + left), 'improbe')

  ! Four requests: Waitany (1-based index), Waitsome, Testall
  call MPI_Irecv(b(1), 1, MPI_INTEGER, left, 10, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Irecv(b(2), 1, MPI_INTEGER, left, 11, MPI_COMM_WORLD, reqs(2), ierr)
  call MPI_Isend(rank, 1, MPI_INTEGER, right, 10, MPI_COMM_WORLD, reqs(3), ierr)
  x = rank + 100
  call MPI_Issend(x, 1, MPI_INTEGER, right, 11, MPI_COMM_WORLD, reqs(4), ierr)
  n = 0
  do i = 1, 4
    call MPI_Waitany(4, reqs, idx, st, ierr)
    call check(idx >= 1 .and. idx <= 4 .and. reqs(idx) == MPI_REQUEST_NULL, 'waitany index')
    n = n + idx
  end do
  call MPI_Waitany(4, reqs, idx, st, ierr)
  call check(n == 10 .and. idx == MPI_UNDEFINED, 'waitany')
  call check(b(1) == left .and. b(2) == left + 100, 'waitany data')
  call MPI_Irecv(b(3), 1, MPI_INTEGER, left, 12, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Isend(rank, 1, MPI_INTEGER, right, 12, MPI_COMM_WORLD, reqs(2), ierr)
  n = 0
  do while (n < 2)
    call MPI_Waitsome(2, reqs, outcount, indices, sts, ierr)
    do i = 1, outcount
      call check(indices(i) == 1 .or. indices(i) == 2, 'waitsome index')
      if (indices(i) == 1) call check(SOURCE_I(sts, i) == left, 'waitsome status')
    end do
    n = n + outcount
  end do
  call check(b(3) == left, 'waitsome')
  call MPI_Irecv(b(4), 1, MPI_INTEGER, left, 13, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Isend(rank, 1, MPI_INTEGER, right, 13, MPI_COMM_WORLD, reqs(2), ierr)
  flag = .false.
  do while (.not. flag)
    call MPI_Testall(2, reqs, flag, sts, ierr)
  end do
  call check(b(4) == left .and. TAG_I(sts, 1) == 13, 'testall')

  ! Persistent requests: Recv_init/Send_init, Startall twice, Request_free
  call MPI_Recv_init(b, 4, MPI_INTEGER, left, 20, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Send_init(a, 4, MPI_INTEGER, right, 20, MPI_COMM_WORLD, reqs(2), ierr)
  do i = 1, 2
    a = [4, 3, 2, 1] * i + rank
    call MPI_Startall(2, reqs, ierr)
    call MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE, ierr)
    call check(all_eq(b, [4, 3, 2, 1] * i + left), 'persistent')
  end do
  call MPI_Request_free(reqs(1), ierr)
  call MPI_Request_free(reqs(2), ierr)
  call check(reqs(1) == MPI_REQUEST_NULL, 'request_free')

  ! Buffered send: Buffer_attach, Bsend, Buffer_detach
  bufsize = 16 + MPI_BSEND_OVERHEAD + 4096
  allocate(bsendbuf(bufsize / 4 + 1))
  bufaddr = c_loc(bsendbuf(1))
  call MPI_Buffer_attach(bsendbuf, bufsize, ierr)
  call MPI_Bsend(a, 4, MPI_INTEGER, right, 30, MPI_COMM_WORLD, ierr)
  call MPI_Recv(b, 4, MPI_INTEGER, left, 30, MPI_COMM_WORLD, st, ierr)
  call MPI_Buffer_detach(detached, n, ierr)
  call check(all_eq(b, [4, 3, 2, 1] * 2 + left) .and. n == bufsize .and. &
             DETACHED_OK(detached), 'bsend')

  ! MPI_BOTTOM: a type holding the absolute address of a
  call MPI_Get_address(a, addr, ierr)
  call MPI_Type_create_hindexed(1, [4], [addr], MPI_INTEGER, t, ierr)
  call MPI_Type_commit(t, ierr)
  a = [7, 8, 9, 10] * (rank + 1)
  call MPI_Sendrecv(MPI_BOTTOM, 1, t, right, 40, b, 4, MPI_INTEGER, left, &
                    40, MPI_COMM_WORLD, st, ierr)
  call check(all_eq(b, [7, 8, 9, 10] * (left + 1)), 'bottom')
  call MPI_Type_free(t, ierr)

  ! Communicators: dup with a name, split, cart (LOGICAL periods), sub,
  ! distributed graph with MPI_UNWEIGHTED; traffic on each
  call MPI_Comm_dup(MPI_COMM_WORLD, dup, ierr)
  call MPI_Comm_set_name(dup, 'fortran dup', ierr)
  call MPI_Comm_get_name(dup, cname, n, ierr)
  call check(cname == 'fortran dup' .and. n == 11, 'comm name')
  call ring(dup, 50)
  call MPI_Comm_idup(dup, idup, reqs(1), ierr)
  call MPI_Wait(reqs(1), st, ierr)
  call ring(idup, 55)
  call MPI_Comm_free(idup, ierr)
  call MPI_Comm_split(MPI_COMM_WORLD, mod(rank, 2), rank, split, ierr)
  one = 1
  call MPI_Allreduce(one, n, 1, MPI_INTEGER, MPI_SUM, split, ierr)
  call check(n == (np + 1 - mod(rank, 2)) / 2, 'split')
  dims = np
  periods = .true.
  call MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, .false., cart, ierr)
  call MPI_Cart_shift(cart, 0, 1, i, n, ierr)
  call check(i == left .and. n == right, 'cart periodic')
  call ring(cart, 51)
  remain = .true.
  call MPI_Cart_sub(cart, remain, sub, ierr)
  call ring(sub, 52)
  srcs = left
  dsts = right
  call MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 1, srcs, MPI_UNWEIGHTED, &
       1, dsts, MPI_UNWEIGHTED, MPI_INFO_NULL, .false., graph, ierr)
  call MPI_Dist_graph_neighbors_count(graph, i, n, flag, ierr)
  call check(i == 1 .and. n == 1 .and. .not. flag, 'dist graph')
  call ring(graph, 53)
  call MPI_Comm_free(graph, ierr)
  ! Graph_create: index() is an input array, not an index to shift
  gindex = [(i, i = 1, np)]
  gedges = [(mod(i + 1, np), i = 0, np - 1)]
  call MPI_Graph_create(MPI_COMM_WORLD, np, gindex, gedges, .false., graph, ierr)
  call MPI_Graph_neighbors_count(graph, rank, n, ierr)
  call check(n == 1 .and. all_eq(gindex, [(i, i = 1, np)]), 'graph')
  call ring(graph, 54)
  call MPI_Comm_free(graph, ierr)
  call MPI_Comm_free(sub, ierr)
  call MPI_Comm_free(cart, ierr)
  call MPI_Comm_free(split, ierr)
  call MPI_Comm_free(dup, ierr)
  call check(dup == MPI_COMM_NULL, 'comm_free')

  ! Collectives
  x = rank * 2
  call MPI_Gather(x, 1, MPI_INTEGER, vals, 1, MPI_INTEGER, 0, MPI_COMM_WORLD, ierr)
  if (rank == 0) call check(all_eq(vals, [(2 * i, i = 0, np - 1)]), 'gather')
  vals = [(3 * i, i = 0, np - 1)]
  call MPI_Scatter(vals, 1, MPI_INTEGER, n, 1, MPI_INTEGER, 0, MPI_COMM_WORLD, ierr)
  call check(n == 3 * rank, 'scatter')
  x = rank + 5
  call MPI_Allgather(x, 1, MPI_INTEGER, vals, 1, MPI_INTEGER, MPI_COMM_WORLD, ierr)
  call check(all_eq(vals, [(i + 5, i = 0, np - 1)]), 'allgather')
  counts = 1
  displs = [(i, i = 0, np - 1)]
  call MPI_Allgatherv(rank, 1, MPI_INTEGER, vals, counts, displs, MPI_INTEGER, &
                      MPI_COMM_WORLD, ierr)
  call check(all_eq(vals, [(i, i = 0, np - 1)]), 'allgatherv')
  call MPI_Gatherv(rank, 1, MPI_INTEGER, vals, counts, displs, MPI_INTEGER, 0, &
                   MPI_COMM_WORLD, ierr)
  big(1:np) = [(rank * 10 + i, i = 0, np - 1)]
  call MPI_Alltoall(big, 1, MPI_INTEGER, vals, 1, MPI_INTEGER, MPI_COMM_WORLD, ierr)
  call check(all_eq(vals, [(i * 10 + rank, i = 0, np - 1)]), 'alltoall')
  call MPI_Alltoallv(big, counts, displs, MPI_INTEGER, vals, counts, displs, &
                     MPI_INTEGER, MPI_COMM_WORLD, ierr)
  call check(all_eq(vals, [(i * 10 + rank, i = 0, np - 1)]), 'alltoallv')
  ! Alltoallw: datatype handles per rank, byte displacements
  allocate(types(np), bdispls(np))
  types = MPI_INTEGER
  bdispls = [(4 * i, i = 0, np - 1)]
  vals = -1
  call MPI_Alltoallw(big, counts, bdispls, types, vals, counts, bdispls, types, &
                     MPI_COMM_WORLD, ierr)
  call check(all_eq(vals, [(i * 10 + rank, i = 0, np - 1)]), 'alltoallw')
  ! A nonblocking collective completed by MPI_Wait
  x = rank + 1
  call MPI_Iallreduce(x, n, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Wait(reqs(1), MPI_STATUS_IGNORE, ierr)
  call check(n == np * (np + 1) / 2, 'iallreduce')
  n = rank + 1
  if (rank == 0) then
    call MPI_Reduce(MPI_IN_PLACE, n, 1, MPI_INTEGER, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
    call check(n == np * (np + 1) / 2, 'reduce in place')
  else
    call MPI_Reduce(n, n, 1, MPI_INTEGER, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
  end if
  call MPI_Scan(one, n, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  call check(n == rank + 1, 'scan')
  call MPI_Exscan(one, n, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank > 0) call check(n == rank, 'exscan')
  big(1:np) = 1
  call MPI_Reduce_scatter_block(big, n, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  call check(n == np, 'reduce_scatter_block')
  call MPI_Reduce_scatter(big, n, counts, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  call check(n == np, 'reduce_scatter')
  call MPI_Barrier(MPI_COMM_WORLD, ierr)

  if (rank == 0) print '(3a,i0,a)', 'fortran_calls (', BINDING, '): ', np, ' ranks OK'
  call MPI_Finalize(ierr)

contains

  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    integer :: e
    if (.not. ok) then
      print '(a,i0,2a)', 'fortran_calls: rank ', rank, ' FAILED ', what
      call MPI_Abort(MPI_COMM_WORLD, 1, e)
    end if
  end subroutine check

  logical function all_eq(x, y)
    integer, intent(in) :: x(:), y(:)
    all_eq = all(x == y)
  end function all_eq

  ! One message around the ring of comm (its own ranks), tag tag.
  subroutine ring(comm, tag)
    T_COMM, intent(in) :: comm
    integer, intent(in) :: tag
    integer :: r, s, got, e, x
    call MPI_Comm_rank(comm, r, e)
    call MPI_Comm_size(comm, s, e)
    x = r * 7
    call MPI_Sendrecv(x, 1, MPI_INTEGER, mod(r + 1, s), tag, got, 1, &
                      MPI_INTEGER, mod(r - 1 + s, s), tag, comm, &
                      MPI_STATUS_IGNORE, e)
    call check(got == mod(r - 1 + s, s) * 7, 'ring')
  end subroutine ring
end program fortran_calls
