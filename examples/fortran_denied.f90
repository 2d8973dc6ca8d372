! SPDX-License-Identifier: Apache-2.0
! A Fortran program calling a function esmpi cannot protect (an RMA
! window): refused under the default policy (unprotected: deny).
program fortran_denied
  use mpi
  implicit none
  integer :: ierr, win
  integer(kind=MPI_ADDRESS_KIND) :: base
  call MPI_Init(ierr)
  ! Both ranks reach the refusal together (each prints it before the abort).
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Win_allocate(16_MPI_ADDRESS_KIND, 4, MPI_INFO_NULL, &
                        MPI_COMM_WORLD, base, win, ierr)
  print '(a,i0)', 'window allocated: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_Win_free(win, ierr)
  call MPI_Finalize(ierr)
end program fortran_denied
