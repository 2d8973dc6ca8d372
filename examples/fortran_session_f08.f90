! SPDX-License-Identifier: Apache-2.0
! A `use mpi_f08` program of the sessions model: MPI_Session_init, a
! group from mpi://WORLD, a communicator from it, one allreduce. MPICH's
! f08 routines of the session calls call PMPI_* themselves: libesmpi's
! own f08 entry points take them to its C functions, so esmpi starts
! and keys the communicator as from C.
program fortran_session_f08
  use mpi_f08
  implicit none
  integer :: ierr, rank, mine, total
  type(MPI_Session) :: session
  type(MPI_Group) :: world
  type(MPI_Comm) :: comm
  call MPI_Session_init(MPI_INFO_NULL, MPI_ERRORS_RETURN, session, ierr)
  print '(a,i0)', 'session started: ierr=', ierr
  if (ierr /= MPI_SUCCESS) stop 1
  call MPI_Group_from_session_pset(session, 'mpi://WORLD', world, ierr)
  call MPI_Comm_create_from_group(world, 'esmpi.f08', MPI_INFO_NULL, &
       MPI_ERRORS_RETURN, comm, ierr)
  if (ierr /= MPI_SUCCESS) stop 2
  call MPI_Comm_rank(comm, rank, ierr)
  mine = rank + 1
  call MPI_Allreduce(mine, total, 1, MPI_INTEGER, MPI_SUM, comm, ierr)
  print '(a,i0,a,i0)', 'allreduce: ierr=', ierr, ' total=', total
  call MPI_Comm_free(comm, ierr)
  call MPI_Group_free(world, ierr)
  call MPI_Session_finalize(session, ierr)
end program fortran_session_f08
