! SPDX-License-Identifier: Apache-2.0
! A Fortran program calling a function esmpi cannot protect (a port for
! dynamic processes): refused under the default policy (unprotected: deny).
program fortran_denied
  use mpi
  implicit none
  integer :: ierr
  character(len=MPI_MAX_PORT_NAME) :: port
  call MPI_Init(ierr)
  ! Both ranks reach the refusal together (each prints it before the abort).
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Open_port(MPI_INFO_NULL, port, ierr)
  print '(a,i0)', 'port opened: ierr=', ierr
  if (ierr == MPI_SUCCESS) call MPI_Close_port(port, ierr)
  call MPI_Finalize(ierr)
end program fortran_denied
