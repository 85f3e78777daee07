// SPDX-License-Identifier: MIT
/*
 * gc_dirty_test - gc_concurrent_test with plain stores, collected without
 * a barrier (GCHEAP_BARRIER=dirty): the module's dirty bits, the
 * concurrent rescans and pause 2's rescan of the last dirty set and of
 * every stack must keep each item a mutator moves alive (gc/dirtyscan.c).
 * The program is gc_concurrent_test.c's, built with GC_TEST_DIRTY.
 *
 * Proof that the test bites: a build of the library whose pause 2 skips
 * the last dirty set (-DGC_DIRTY_TEST_NO_FINAL_RESCAN, gc_dirty_proof_test
 * in the VM) must lose items.
 */
#define GC_TEST_DIRTY 1
#include "gc_concurrent_test.c"
