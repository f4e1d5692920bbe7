"""digest.allocator: giving the C allocator's free pages back, where the C library can."""

from __future__ import annotations

import platform

import pytest

from digest import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_after_freeing_a_large_heap_gives_pages_back():
    garbage = [bytearray(2000) for _ in range(20_000)]  # 40 MB in malloc'd chunks below the mmap threshold
    garbage.append(bytearray(100))  # keeps the heap's top in use, so only trimming the middle frees it
    del garbage[:-1]
    assert allocator.release_free_memory() is True


def test_a_c_library_without_the_call_is_a_no_op():
    assert allocator._call("malloc_trim_not_in_this_libc", 0) is False

