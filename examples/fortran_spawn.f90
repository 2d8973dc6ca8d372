! SPDX-License-Identifier: Apache-2.0
! Dynamic processes from Fortran. The parent job (2 ranks) spawns this
! program three times: `use mpi`'s MPI_Comm_spawn with an argv list (2
! children), `use mpi_f08`'s MPI_Comm_spawn_multiple with two commands
! whose argv lists differ in length and MPI_ERRCODES_IGNORE (1 + 1
! children), and `use mpi_f08`'s MPI_Comm_spawn with MPI_ARGV_NULL (1
! child). On each intercommunicator the parents' rank 0 sends a marker
! (read from the file $FSPAWN_MARKER_FILE) to the children's rank 0, then
! both groups Allreduce over it, then disconnect. Children print their
! arguments, the marker and the sum; parents the sums. With an argument
! (`spawn_multiple` or `argv_null`) the parents make that call alone:
! under MPICH 4.0.2, whose spawn fails, each of the mpi_f08 calls shows
! its arguments in MPICH's error message.
module spawn_f77
  use mpi
  implicit none
contains
  subroutine spawn_one(prog, inter)
    character(len=*), intent(in) :: prog
    integer, intent(out) :: inter
    character(len=16) :: argv(3)
    integer :: errs(2), ierr
    argv(1) = 'one'
    argv(2) = '  two words'        ! blanks around cut
    argv(3) = ' '
    call MPI_Comm_spawn(prog, argv, 2, MPI_INFO_NULL, 0, MPI_COMM_WORLD, &
                        inter, errs, ierr)
    if (ierr /= MPI_SUCCESS .or. any(errs /= MPI_SUCCESS)) then
      print '(a,i0)', 'spawn failed: ', ierr
      call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
    end if
  end subroutine spawn_one

  ! Both sides of one intercommunicator: the marker, an Allreduce.
  subroutine exchange(inter, parent, tag)
    integer, intent(inout) :: inter
    logical, intent(in) :: parent
    character(len=*), intent(in) :: tag
    character(len=64) :: marker
    integer :: rank, nlocal, nremote, val, total, ierr, u, n
    integer :: st(MPI_STATUS_SIZE)
    character(len=256) :: path
    call MPI_Comm_rank(inter, rank, ierr)
    call MPI_Comm_size(inter, nlocal, ierr)
    call MPI_Comm_remote_size(inter, nremote, ierr)
    marker = ' '
    n = 0
    if (parent .and. rank == 0) then
      call get_environment_variable('FSPAWN_MARKER_FILE', path)
      open(newunit=u, file=trim(path), action='read')
      read(u, '(a)') marker
      close(u)
      call MPI_Send(marker, len_trim(marker), MPI_CHARACTER, 0, 7, inter, &
                    ierr)
    else if (.not. parent .and. rank == 0) then
      call MPI_Recv(marker, len(marker), MPI_CHARACTER, 0, 7, inter, st, &
                    ierr)
      call MPI_Get_count(st, MPI_CHARACTER, n, ierr)
    end if
    val = rank + 1
    if (.not. parent) val = 100 * (rank + 1)
    call MPI_Allreduce(val, total, 1, MPI_INTEGER, MPI_SUM, inter, ierr)
    if (parent) then
      print '(a,a,a,i0,a,i0,a,i0)', 'parent ', tag, ' rank ', rank, &
            ' children ', nremote, ' allreduce ', total
    else if (rank == 0) then
      print '(a,a,a,i0,a,i0,a,a,a,i0)', 'child ', tag, ' rank ', rank, &
            ' of ', nlocal, ' got: ', marker(1:n), ' allreduce ', total
    else
      print '(a,a,a,i0,a,i0,a,i0)', 'child ', tag, ' rank ', rank, &
            ' of ', nlocal, ' allreduce ', total
    end if
    call MPI_Comm_disconnect(inter, ierr)
  end subroutine exchange
end module spawn_f77

module spawn_f08
  use mpi_f08
  implicit none
contains
  subroutine spawn_multi(prog, inter_val)
    character(len=*), intent(in) :: prog
    integer, intent(out) :: inter_val
    type(MPI_Comm) :: inter
    type(MPI_Info) :: infos(2)
    character(len=len(prog)) :: cmds(2)
    character(len=8) :: argvs(2, 4)
    integer :: np(2), ierr
    cmds = prog
    argvs = ' '
    argvs(1, 1:2) = [character(len=8) :: 'multi', 'a']
    argvs(2, 1:3) = [character(len=8) :: 'multi', 'b', 'extra']
    infos = MPI_INFO_NULL
    np = [1, 1]
    call MPI_Comm_spawn_multiple(2, cmds, argvs, np, infos, 0, &
                                 MPI_COMM_WORLD, inter, &
                                 MPI_ERRCODES_IGNORE, ierr)
    if (ierr /= MPI_SUCCESS) then
      print '(a,i0)', 'spawn_multiple failed: ', ierr
      call MPI_Abort(MPI_COMM_WORLD, 1)
    end if
    inter_val = inter%MPI_VAL
  end subroutine spawn_multi

  subroutine spawn_noargs(prog, inter_val)
    character(len=*), intent(in) :: prog
    integer, intent(out) :: inter_val
    type(MPI_Comm) :: inter
    integer :: errs(1)
    call MPI_Comm_spawn(prog, MPI_ARGV_NULL, 1, MPI_INFO_NULL, 0, &
                        MPI_COMM_WORLD, inter, errs)
    inter_val = inter%MPI_VAL
  end subroutine spawn_noargs
end module spawn_f08

program fortran_spawn
  use spawn_f77
  use spawn_f08, only: spawn_multi, spawn_noargs
  implicit none
  integer :: ierr, parent, inter, i
  character(len=256) :: prog
  character(len=64) :: tag, arg
  call MPI_Init(ierr)
  call MPI_Comm_get_parent(parent, ierr)
  if (parent /= MPI_COMM_NULL) then
    tag = '['
    do i = 1, command_argument_count()
      call get_command_argument(i, arg)
      tag = trim(tag) // '<' // trim(arg) // '>'
    end do
    tag = trim(tag) // ']'
    call exchange(parent, .false., trim(tag))
  else
    call get_command_argument(0, prog)
    call get_command_argument(1, arg)
    if (arg == ' ') then
      call spawn_one(trim(prog), inter)
      call exchange(inter, .true., 'spawn')
    end if
    if (arg == ' ' .or. arg == 'spawn_multiple') then
      call spawn_multi(trim(prog), inter)
      call exchange(inter, .true., 'spawn_multiple')
    end if
    if (arg == ' ' .or. arg == 'argv_null') then
      call spawn_noargs(trim(prog), inter)
      call exchange(inter, .true., 'argv_null')
    end if
  end if
  call MPI_Finalize(ierr)
end program fortran_spawn
