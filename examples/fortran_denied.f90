! SPDX-License-Identifier: Apache-2.0
! A Fortran program calling a function esmpi cannot protect (MPI-IO):
! refused under the default policy (unprotected: deny).
program fortran_denied
  use mpi
  implicit none
  integer :: ierr, fh
  call MPI_Init(ierr)
  call MPI_File_open(MPI_COMM_WORLD, 'esmpi-fortran-denied.tmp', &
                     MPI_MODE_CREATE + MPI_MODE_WRONLY, MPI_INFO_NULL, fh, ierr)
  print '(a,i0)', 'file opened: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_File_close(fh, ierr)
  call MPI_Finalize(ierr)
end program fortran_denied
