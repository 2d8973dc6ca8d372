! SPDX-License-Identifier: Apache-2.0
! Fortran coarrays (OpenCoarrays, on MPI one-sided): puts and gets to
! neighbours, a strided section, sync all / sync images, atomics, a
! critical section, co_sum/co_max/co_broadcast. Image 1 prints the
! results; the same with and without esmpi.
program coarray_check
  use iso_fortran_env, only: atomic_int_kind
  implicit none
  integer :: a(16)[*], s(4, 4)[*], cnt[*], i, me, np, right, left, v
  integer(atomic_int_kind) :: at[*], old
  real(8) :: x
  character(len=32) :: msg[*]

  me = this_image()
  np = num_images()
  right = merge(1, me + 1, me == np)
  left = merge(np, me - 1, me == 1)
  a = [(me * 100 + i, i = 1, 16)]
  s = me
  cnt = 0
  msg = ''
  if (me == 1) call atomic_define(at, 0)
  sync all
  ! put to the right, get from the left
  a(1:4)[right] = [(me * 10 + i, i = 1, 4)]
  s(2, :)[right] = -me
  sync all
  v = a(8)[left]
  if (me == 1) msg[np] = 'ESMPI-SECRET-MARKER'
  ! atomics and a critical section on image 1
  call atomic_add(at[1], me)
  critical
    cnt[1] = cnt[1] + 1
  end critical
  sync all
  if (me == 1) then
    call atomic_ref(old, at)
    write (*, '(a, i0, a, 4i6)') 'image 1 of ', np, ': a(1:4) = ', a(1:4)
    write (*, '(a, 4i4)') 'image 1: s(2,:) = ', s(2, :)
    write (*, '(a, i0)') 'image 1: a(8) of the left = ', v
    write (*, '(a, i0, a, i0)') 'image 1: atomic sum = ', old, &
      ', critical count = ', cnt
    write (*, '(a, i0, a, a)') 'image 1: msg of image ', np, ' = ', &
      trim(msg[np])
  end if
  sync all
  ! sync images with the neighbours only
  if (np > 1) then
    a(16)[right] = me
    if (left == right) then
      sync images(right)
    else
      sync images([left, right])
    end if
    if (a(16) /= left) write (*, '(a, i0)') 'sync images FAILED on ', me
  end if
  ! collectives
  v = me
  call co_sum(v)
  x = real(me, 8) / 2
  call co_max(x)
  i = merge(42, 0, me == 1)
  call co_broadcast(i, source_image=1)
  if (me == 1) write (*, '(a, i0, a, f6.1, a, i0)') 'co_sum ', v, &
    ', co_max ', x, ', co_broadcast ', i
  sync all
  if (me == 1) write (*, '(a)') 'coarray_check: done'
end program coarray_check
