! SPDX-License-Identifier: Apache-2.0
! A Fortran program calling a function esmpi does not protect: `use mpi`'s
! MPI_Win_allocate with a TYPE(C_PTR) base, which reaches Open MPI's
! mpi_win_allocate_cptr_ (no conversion in esmpi yet), refused under the
! default policy (unprotected: deny).
program fortran_denied
  use mpi
  use, intrinsic :: iso_c_binding, only: c_ptr
  implicit none
  integer :: ierr, win
  type(c_ptr) :: base
  call MPI_Init(ierr)
  ! Both ranks reach the refusal together (each prints it before the abort).
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Win_allocate(16_MPI_ADDRESS_KIND, 4, MPI_INFO_NULL, &
                        MPI_COMM_WORLD, base, win, ierr)
  print '(a,i0)', 'window allocated: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_Win_free(win, ierr)
  call MPI_Finalize(ierr)
end program fortran_denied
