! SPDX-License-Identifier: Apache-2.0
! Fortran binding 1 of 3: mpif.h (fixed form). Point-to-point (blocking,
! then nonblocking + Wait), a status check (MPI_Get_count) and two
! collectives (Bcast, Allreduce with MPI_IN_PLACE). Ranks pair up 0<->1,
! 2<->3, ...; each message carries the marker ESMPI-FORTRAN-MARKER so the
! wire tests can look for it. Output is deterministic (rank 0 prints).
      program fmpifh
      implicit none
      include 'mpif.h'
      integer ierr, rank, nprocs, peer, n, req, i
      integer st(MPI_STATUS_SIZE)
      character*24 msg, got
      integer vals(4), sums(4)

      call MPI_Init(ierr)
      call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
      call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
      peer = ieor(rank, 1)
      msg = 'ESMPI-FORTRAN-MARKER-f77'
      got = ' '
      n = -1

      if (peer .lt. nprocs) then
         if (mod(rank, 2) .eq. 0) then
            call MPI_Send(msg, 24, MPI_CHARACTER, peer, 7,
     &                    MPI_COMM_WORLD, ierr)
            call MPI_Irecv(got, 24, MPI_CHARACTER, peer, 8,
     &                     MPI_COMM_WORLD, req, ierr)
            call MPI_Wait(req, st, ierr)
         else
            call MPI_Recv(got, 24, MPI_CHARACTER, peer, 7,
     &                    MPI_COMM_WORLD, st, ierr)
            call MPI_Isend(msg, 24, MPI_CHARACTER, peer, 8,
     &                     MPI_COMM_WORLD, req, ierr)
            call MPI_Wait(req, MPI_STATUS_IGNORE, ierr)
         end if
         call MPI_Get_count(st, MPI_CHARACTER, n, ierr)
         if (got .ne. msg .or. n .ne. 24 .or.
     &       st(MPI_SOURCE) .ne. peer) then
            print *, 'rank', rank, 'p2p mismatch: ', got, n
            call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
         end if
      end if

      do i = 1, 4
         vals(i) = 0
      end do
      if (rank .eq. 0) then
         do i = 1, 4
            vals(i) = 10 * i
         end do
      end if
      call MPI_Bcast(vals, 4, MPI_INTEGER, 0, MPI_COMM_WORLD, ierr)
      do i = 1, 4
         sums(i) = vals(i) + rank
      end do
      call MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_INTEGER, MPI_SUM,
     &                   MPI_COMM_WORLD, ierr)
      if (rank .eq. 0) then
         print '(a,i0,a,i0)', 'mpif.h: ranks=', nprocs, ' count=', n
         print '(a,4(1x,i0))', 'mpif.h: allreduce', sums
      end if
      call MPI_Finalize(ierr)
      end
