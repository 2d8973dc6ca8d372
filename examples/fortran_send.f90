! SPDX-License-Identifier: Apache-2.0
! Fortran (use mpi) point-to-point: esmpi refuses it unless the policy
! allows unprotected calls (Open MPI's Fortran bindings bypass C wrappers).
program hello
  use mpi
  integer :: ierr, rank, buf(4)
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  if (rank == 0) then
    buf = (/1,2,3,4/)
    call MPI_Send(buf, 4, MPI_INTEGER, 1, 0, MPI_COMM_WORLD, ierr)
  else if (rank == 1) then
    call MPI_Recv(buf, 4, MPI_INTEGER, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    print *, 'fortran got', buf
  end if
  call MPI_Finalize(ierr)
end program
