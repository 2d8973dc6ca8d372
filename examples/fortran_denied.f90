! SPDX-License-Identifier: Apache-2.0
! A Fortran program calling a function esmpi does not protect: Open MPI's
! persistent collective MPIX_Bcast_init (mpix_bcast_init_ in libmpi_mpifh;
! its payload would travel unsealed), refused under the default policy
! (unprotected: deny).
program fortran_denied
  use mpi
  implicit none
  integer :: ierr, req, buf(4)
  external :: MPIX_Bcast_init
  call MPI_Init(ierr)
  buf = 0
  ! Both ranks reach the refusal together (each prints it before the abort).
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPIX_Bcast_init(buf, 4, MPI_INTEGER, 0, MPI_COMM_WORLD, &
                       MPI_INFO_NULL, req, ierr)
  print '(a,i0)', 'bcast initialised: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_Request_free(req, ierr)
  call MPI_Finalize(ierr)
end program fortran_denied
