! SPDX-License-Identifier: Apache-2.0
! A `use mpi_f08` program calling a function esmpi cannot protect (RMA):
! refused under the default policy (unprotected: deny).
program fortran_denied_f08
  use mpi_f08
  implicit none
  integer :: ierr, buf(4)
  type(MPI_Win) :: win
  call MPI_Init()
  call MPI_Win_create(buf, 16_MPI_ADDRESS_KIND, 4, MPI_INFO_NULL, &
                      MPI_COMM_WORLD, win, ierr)
  print '(a,i0)', 'window created: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_Win_free(win)
  call MPI_Finalize()
end program fortran_denied_f08
