! SPDX-License-Identifier: Apache-2.0
! Open MPI's persistent collective MPIX_Bcast_init from `use mpi`
! (mpix_bcast_init_ in libmpi_mpifh, which libesmpi defines): started
! twice with new data at the root, the request freed while inactive.
! esmpi seals each run (mpi/pcoll.c); the output is the same as plain.
program fortran_pcoll
  use mpi
  implicit none
  integer :: ierr, req, buf(4), rank, it
  external :: MPIX_Bcast_init
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPIX_Bcast_init(buf, 4, MPI_INTEGER, 0, MPI_COMM_WORLD, &
                       MPI_INFO_NULL, req, ierr)
  do it = 1, 2
    buf = -1
    if (rank == 0) buf = [1, 2, 3, 4] * it
    call MPI_Start(req, ierr)
    call MPI_Wait(req, MPI_STATUS_IGNORE, ierr)
    print '(a,i0,a,4(1x,i0))', 'bcast run ', it, ':', buf
  end do
  call MPI_Request_free(req, ierr)
  print '(a,i0)', 'bcast freed: ierr=', ierr
  call MPI_Finalize(ierr)
end program fortran_pcoll
