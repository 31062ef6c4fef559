//go:build linux && cgo

package main

// glibc's malloc serves every thread from one arena, as
// MALLOC_ARENA_MAX=1 would, and keeps what SQLite frees for its next
// transaction instead of handing it back to the kernel each time.
//
// Only SQLite (and cgo's own thread start-up) allocates with malloc here, from whichever threads the Go scheduler runs
// its calls on, and glibc gives each such thread an arena of its own: a
// large chunked upload (a session record per chunk) touched one or two
// more of them than a small delivery, about 0.5 MiB of peak RSS for
// nothing, as the queue's statements run one at a time anyway. The setting
// is made by a C constructor, before the Go runtime starts a thread; C
// libraries without these settings (musl) are left alone.
//
// glibc returns the top of its heap to the kernel (brk, or madvise in an
// arena) once 128 KiB are free there, and SQLite frees about 170 KiB at
// the end of every transaction: the hot-folder burst spent a fifth of the
// queue's CPU in those system calls and the page faults that filled the
// memory again (strace of BenchmarkBurstQueueWork, 10,000 files: 10,608
// brk and 12,480 madvise calls; 21 and 62 with these settings). Up to
// 4 MiB now stay mapped after a free, and blocks below 1 MiB never come
// from mmap (glibc's default moves that bar up and down as blocks are
// freed, and setting the trim threshold fixes it at 128 KiB). Peak
// memory does not change: what stays mapped is what was in use.

/*
#include <malloc.h>

__attribute__((constructor)) static void dropsync_malloc_settings(void) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, 1);
#endif
#if defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}
*/
import "C"
