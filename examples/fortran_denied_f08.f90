! SPDX-License-Identifier: Apache-2.0
! The same from `use mpi_f08`: MPI_Comm_spawn, whose Fortran arguments
! (arrays of strings) esmpi does not convert yet, refused under the
! default policy before anything is started.
program fortran_denied_f08
  use mpi_f08
  implicit none
  integer :: ierr, errs(1)
  type(MPI_Comm) :: inter
  call MPI_Init()
  call MPI_Barrier(MPI_COMM_WORLD)
  call MPI_Comm_spawn('true', MPI_ARGV_NULL, 1, MPI_INFO_NULL, 0, &
                      MPI_COMM_WORLD, inter, errs, ierr)
  print '(a,i0)', 'spawned: ierr=', ierr
  call MPI_Finalize()
end program fortran_denied_f08
