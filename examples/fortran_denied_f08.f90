! SPDX-License-Identifier: Apache-2.0
! The same from `use mpi_f08`: Open MPI's persistent collective extension
! MPIX_Allreduce_init (mpi_f08_ext), which esmpi does not protect yet,
! refused under the default policy before anything is sent.
program fortran_denied_f08
  use mpi_f08
  use mpi_f08_ext
  implicit none
  integer :: ierr, x(4), y(4)
  type(MPI_Request) :: req
  call MPI_Init()
  call MPI_Barrier(MPI_COMM_WORLD)
  x = 1
  call MPIX_Allreduce_init(x, y, 4, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, &
                           MPI_INFO_NULL, req, ierr)
  print '(a,i0)', 'persistent allreduce: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_Request_free(req)
  call MPI_Finalize()
end program fortran_denied_f08
