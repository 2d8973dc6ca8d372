! SPDX-License-Identifier: Apache-2.0
! `use mpi` windows with a TYPE(C_PTR) base (Open MPI's
! mpi_win_allocate_cptr_, mpi_win_allocate_shared_cptr_ and
! mpi_win_shared_query_cptr_), reached through c_f_pointer. Each rank Puts
! four values into its right neighbour's window and Gets four from its
! left neighbour's, in fence epochs; then each rank writes its slot of a
! shared window through rank 0's segment (MPI_Win_shared_query). Rank 0
! prints what every rank saw: the same with and without esmpi.
program fortran_win
  use mpi
  use, intrinsic :: iso_c_binding, only: c_ptr, c_f_pointer
  implicit none
  integer, parameter :: n = 4
  integer :: ierr, rank, np, right, left, win, swin, i, unit
  integer :: vals(n), got(n), mine(2 * n)
  integer, allocatable :: all(:)
  integer, pointer :: a(:), s(:)
  integer(kind=MPI_ADDRESS_KIND) :: sz
  type(c_ptr) :: base, sbase

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, np, ierr)
  right = mod(rank + 1, np)
  left = mod(rank + np - 1, np)

  sz = 4 * n
  call MPI_Win_allocate(sz, 4, MPI_INFO_NULL, MPI_COMM_WORLD, base, win, &
                        ierr)
  call c_f_pointer(base, a, [n])
  a = -1
  vals = [(100 * rank + i, i = 1, n)]
  call MPI_Win_fence(0, win, ierr)
  call MPI_Put(vals, n, MPI_INTEGER, right, 0_MPI_ADDRESS_KIND, n, &
               MPI_INTEGER, win, ierr)
  call MPI_Win_fence(0, win, ierr)
  call MPI_Get(got, n, MPI_INTEGER, left, 0_MPI_ADDRESS_KIND, n, &
               MPI_INTEGER, win, ierr)
  call MPI_Win_fence(0, win, ierr)
  mine(1:n) = a
  mine(n + 1:) = got
  call MPI_Win_free(win, ierr)

  ! Shared window: rank 0 holds np integers, every rank writes its own.
  sz = 0
  if (rank == 0) sz = 4 * np
  call MPI_Win_allocate_shared(sz, 4, MPI_INFO_NULL, MPI_COMM_WORLD, &
                               sbase, swin, ierr)
  call MPI_Win_shared_query(swin, 0, sz, unit, sbase, ierr)
  call c_f_pointer(sbase, s, [np])
  call MPI_Win_fence(0, swin, ierr)
  s(rank + 1) = 7 * rank + 1
  call MPI_Win_fence(0, swin, ierr)

  allocate(all(2 * n * np))
  call MPI_Gather(mine, 2 * n, MPI_INTEGER, all, 2 * n, MPI_INTEGER, 0, &
                  MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    do i = 0, np - 1
      print '(a,i0,a,4(1x,i0),a,4(1x,i0))', 'rank ', i, ': window', &
            all(2 * n * i + 1:2 * n * i + n), '; got', &
            all(2 * n * i + n + 1:2 * n * (i + 1))
    end do
    print '(a,i0,a,i0,*(1x,i0))', 'shared: size ', sz, ' unit ', unit, s
  end if
  call MPI_Win_free(swin, ierr)
  call MPI_Finalize(ierr)
end program fortran_win
