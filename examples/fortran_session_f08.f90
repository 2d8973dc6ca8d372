! SPDX-License-Identifier: Apache-2.0
! A `use mpi_f08` program starting MPI with MPI_Session_init, whose f08
! routine in MPICH calls PMPI_Session_init itself: esmpi protects MPI
! started with MPI_Init only, so its f08 entry point refuses it.
program fortran_session_f08
  use mpi_f08
  implicit none
  integer :: ierr
  type(MPI_Session) :: session
  call MPI_Session_init(MPI_INFO_NULL, MPI_ERRORS_RETURN, session, ierr)
  print '(a,i0)', 'session started: ierr=', ierr
  if (ierr /= MPI_SUCCESS) stop 1
  call MPI_Session_finalize(session, ierr)
end program fortran_session_f08
