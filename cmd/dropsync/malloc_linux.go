//go:build linux && cgo

package main

// glibc's malloc serves every thread from one arena, as
// MALLOC_ARENA_MAX=1 would. Only SQLite (and cgo's own thread start-up)
// allocates with malloc here, from whichever threads the Go scheduler runs
// its calls on, and glibc gives each such thread an arena of its own: a
// large chunked upload (a session record per chunk) touched one or two
// more of them than a small delivery, about 0.5 MiB of peak RSS for
// nothing, as the queue's statements run one at a time anyway. The setting
// is made by a C constructor, before the Go runtime starts a thread; C
// libraries without M_ARENA_MAX (musl) are left alone.

/*
#include <malloc.h>

__attribute__((constructor)) static void dropsync_one_malloc_arena(void) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, 1);
#endif
}
*/
import "C"
