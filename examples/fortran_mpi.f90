! SPDX-License-Identifier: Apache-2.0
! Fortran binding 2 of 3: `use mpi`. Point-to-point (blocking, then
! nonblocking + Waitall), a status check (MPI_Get_count) and two
! collectives (Bcast, Allreduce with MPI_IN_PLACE). Ranks pair up 0<->1,
! 2<->3, ...; each message carries the marker ESMPI-FORTRAN-MARKER.
program fortran_mpi
  use mpi
  implicit none
  integer :: ierr, rank, nprocs, peer, n, i
  integer :: reqs(2), sts(MPI_STATUS_SIZE, 2), st(MPI_STATUS_SIZE)
  character(len=24) :: msg, got, got2
  integer :: vals(4), sums(4)

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
  peer = ieor(rank, 1)
  msg = 'ESMPI-FORTRAN-MARKER-mpi'
  n = -1

  if (peer < nprocs) then
    ! blocking both ways (even ranks first), then both at once
    if (mod(rank, 2) == 0) then
      call MPI_Send(msg, 24, MPI_CHARACTER, peer, 7, MPI_COMM_WORLD, ierr)
      call MPI_Recv(got, 24, MPI_CHARACTER, peer, 7, MPI_COMM_WORLD, st, ierr)
    else
      call MPI_Recv(got, 24, MPI_CHARACTER, peer, 7, MPI_COMM_WORLD, st, ierr)
      call MPI_Send(msg, 24, MPI_CHARACTER, peer, 7, MPI_COMM_WORLD, ierr)
    end if
    call MPI_Irecv(got2, 24, MPI_CHARACTER, peer, 8, MPI_COMM_WORLD, reqs(1), ierr)
    call MPI_Isend(msg, 24, MPI_CHARACTER, peer, 8, MPI_COMM_WORLD, reqs(2), ierr)
    call MPI_Waitall(2, reqs, sts, ierr)
    call MPI_Get_count(sts(:, 1), MPI_CHARACTER, n, ierr)
    if (got /= msg .or. got2 /= msg .or. n /= 24 .or. &
        st(MPI_SOURCE) /= peer .or. reqs(1) /= MPI_REQUEST_NULL) then
      print *, 'rank', rank, 'p2p mismatch: ', got, got2, n
      call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
    end if
  end if

  vals = 0
  if (rank == 0) vals = [(10 * i, i = 1, 4)]
  call MPI_Bcast(vals, 4, MPI_INTEGER, 0, MPI_COMM_WORLD, ierr)
  sums = vals + rank
  call MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_INTEGER, MPI_SUM, &
                     MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    print '(a,i0,a,i0)', 'use mpi: ranks=', nprocs, ' count=', n
    print '(a,4(1x,i0))', 'use mpi: allreduce', sums
  end if
  call MPI_Finalize(ierr)
end program fortran_mpi
