! SPDX-License-Identifier: Apache-2.0
! MPI-4's large-count forms through `use mpi_f08` (MPICH only; issue 17):
! INTEGER(MPI_COUNT_KIND) counts in Send/Recv/Get_count and the buffer
! size of Buffer_detach, INTEGER(MPI_ADDRESS_KIND) disp_unit in
! Win_allocate. The choice-buffer routines reach libesmpi's C MPI_X_c;
! Win_allocate and Buffer_detach call PMPI themselves in MPICH, so libesmpi
! defines their mpi_x_f08_large_ entry points. 2 ranks.
program fortran_large_f08
  use mpi_f08
  use, intrinsic :: iso_c_binding
  implicit none
  integer, parameter :: n = 100
  integer :: rank, nprocs, other, i, errs, total
  integer(kind=MPI_COUNT_KIND) :: cnt, bsize
  integer(kind=MPI_ADDRESS_KIND) :: wsize, unit
  integer :: sbuf(n), rbuf(n)
  integer, pointer :: win_mem(:)
  character, allocatable, target :: bbuf(:)
  type(c_ptr) :: base, detached
  type(MPI_Status) :: st
  type(MPI_Win) :: win

  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs)
  other = 1 - rank
  errs = 0

  sbuf = [(rank * 1000 + i, i = 1, n)]
  cnt = n
  if (rank == 0) then
    call MPI_Send(sbuf, cnt, MPI_INTEGER, other, 1, MPI_COMM_WORLD)
    call MPI_Recv(rbuf, cnt, MPI_INTEGER, other, 1, MPI_COMM_WORLD, st)
  else
    call MPI_Recv(rbuf, cnt, MPI_INTEGER, other, 1, MPI_COMM_WORLD, st)
    call MPI_Send(sbuf, cnt, MPI_INTEGER, other, 1, MPI_COMM_WORLD)
  end if
  cnt = -1
  call MPI_Get_count(st, MPI_INTEGER, cnt)
  if (cnt /= n .or. rbuf(n) /= other * 1000 + n) then
    print *, 'FAILED recv', cnt, rbuf(n)
    errs = errs + 1
  end if

  ! Buffered send, the detach reporting the size as MPI_COUNT_KIND
  allocate(bbuf(4 * n + 2 * MPI_BSEND_OVERHEAD))
  call MPI_Buffer_attach(bbuf, size(bbuf))
  call MPI_Bsend(sbuf, n, MPI_INTEGER, other, 2, MPI_COMM_WORLD)
  call MPI_Recv(rbuf, n, MPI_INTEGER, other, 2, MPI_COMM_WORLD, st)
  bsize = -1
  call MPI_Buffer_detach(detached, bsize)
  if (bsize /= size(bbuf)) then
    print *, 'FAILED buffer_detach', bsize
    errs = errs + 1
  end if

  ! Window with an MPI_ADDRESS_KIND displacement unit
  wsize = 4 * n
  unit = 4
  call MPI_Win_allocate(wsize, unit, MPI_INFO_NULL, MPI_COMM_WORLD, base, win)
  call c_f_pointer(base, win_mem, [n])
  win_mem = -1
  call MPI_Win_fence(0, win)
  call MPI_Put(sbuf, n, MPI_INTEGER, other, 0_MPI_ADDRESS_KIND, n, &
               MPI_INTEGER, win)
  call MPI_Win_fence(0, win)
  if (win_mem(1) /= other * 1000 + 1 .or. win_mem(n) /= other * 1000 + n) then
    print *, 'FAILED put', win_mem(1), win_mem(n)
    errs = errs + 1
  end if
  call MPI_Win_free(win)

  call MPI_Allreduce(errs, total, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  if (rank == 0 .and. total == 0) print '(a,i0,a)', &
      'fortran_large_f08: ', nprocs, ' ranks OK'
  call MPI_Finalize()
  if (total /= 0) stop 1
end program
