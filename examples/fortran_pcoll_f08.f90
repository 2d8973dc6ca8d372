! SPDX-License-Identifier: Apache-2.0
! The same from `use mpi_f08`: Open MPI's persistent collective extension
! MPIX_Allreduce_init (mpi_f08_ext), started twice with new data, the
! request freed while inactive. esmpi seals each run (mpi/pcoll.c).
program fortran_pcoll_f08
  use mpi_f08
  use mpi_f08_ext
  implicit none
  integer :: ierr, x(4), y(4), rank, it
  type(MPI_Request) :: req
  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPIX_Allreduce_init(x, y, 4, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, &
                           MPI_INFO_NULL, req, ierr)
  do it = 1, 2
    x = [1, 2, 3, 4] * it + rank
    call MPI_Start(req)
    call MPI_Wait(req, MPI_STATUS_IGNORE)
    print '(a,i0,a,4(1x,i0))', 'allreduce run ', it, ':', y
  end do
  call MPI_Request_free(req, ierr)
  print '(a,i0)', 'allreduce freed: ierr=', ierr
  call MPI_Finalize()
end program fortran_pcoll_f08
