! SPDX-License-Identifier: Apache-2.0
! Fortran binding 3 of 3: `use mpi_f08` (ierror omitted, as f08 allows).
! Point-to-point (blocking, then nonblocking + Wait), a status check
! (MPI_Get_count) and two collectives (Bcast, Allreduce with MPI_IN_PLACE).
! Ranks pair up 0<->1, 2<->3, ...; messages carry ESMPI-FORTRAN-MARKER.
program fortran_mpi_f08
  use mpi_f08
  implicit none
  integer :: rank, nprocs, peer, n, i
  type(MPI_Request) :: req
  type(MPI_Status) :: st
  character(len=24) :: msg, got
  integer :: vals(4), sums(4)

  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs)
  peer = ieor(rank, 1)
  msg = 'ESMPI-FORTRAN-MARKER-f08'
  n = -1

  if (peer < nprocs) then
    if (mod(rank, 2) == 0) then
      call MPI_Send(msg, 24, MPI_CHARACTER, peer, 7, MPI_COMM_WORLD)
      call MPI_Irecv(got, 24, MPI_CHARACTER, peer, 8, MPI_COMM_WORLD, req)
      call MPI_Wait(req, st)
    else
      call MPI_Recv(got, 24, MPI_CHARACTER, peer, 7, MPI_COMM_WORLD, st)
      call MPI_Isend(msg, 24, MPI_CHARACTER, peer, 8, MPI_COMM_WORLD, req)
      call MPI_Wait(req, MPI_STATUS_IGNORE)
    end if
    call MPI_Get_count(st, MPI_CHARACTER, n)
    if (got /= msg .or. n /= 24 .or. st%MPI_SOURCE /= peer .or. &
        req /= MPI_REQUEST_NULL) then
      print *, 'rank', rank, 'p2p mismatch: ', got, n
      call MPI_Abort(MPI_COMM_WORLD, 1)
    end if
  end if

  vals = 0
  if (rank == 0) vals = [(10 * i, i = 1, 4)]
  call MPI_Bcast(vals, 4, MPI_INTEGER, 0, MPI_COMM_WORLD)
  sums = vals + rank
  call MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_INTEGER, MPI_SUM, &
                     MPI_COMM_WORLD)
  if (rank == 0) then
    print '(a,i0,a,i0)', 'use mpi_f08: ranks=', nprocs, ' count=', n
    print '(a,4(1x,i0))', 'use mpi_f08: allreduce', sums
  end if
  call MPI_Finalize()
end program fortran_mpi_f08
