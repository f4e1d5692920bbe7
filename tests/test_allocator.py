"""digest.allocator: giving the C allocator's free pages back, where the C library can."""

from __future__ import annotations

import gc
import platform
import weakref

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



class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_what_lives_at_the_start_is_left_out_of_collections_until_the_block_ends():
    kept = _Node()
    ref = weakref.ref(kept)
    with allocator.long_lived_frozen():
        assert gc.get_freeze_count() > 0
        del kept
        gc.collect()
        assert ref() is not None  # frozen: not even a full collection looks at it
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None  # back with the collector once the block is over


def test_garbage_from_before_the_block_is_collected_not_frozen():
    garbage = _Node()
    ref = weakref.ref(garbage)
    del garbage
    with allocator.long_lived_frozen():
        assert ref() is None


def test_a_nested_block_leaves_the_freezing_to_the_outer_one():
    with allocator.long_lived_frozen():
        frozen = gc.get_freeze_count()
        with allocator.long_lived_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0
