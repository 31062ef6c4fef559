//go:build cgo

package queue

// SQLite keeps statistics of its memory use (sqlite3_memory_used and the
// soft heap limit, neither of which dropsync reads) by default: every
// malloc and free of the library takes a process-wide mutex and asks the
// allocator for the block's size. The queue's statements allocate and
// free many small blocks each; the statistics are switched off by a C
// constructor, before SQLite initializes (sqlite3_config is refused after
// that, and then changes nothing).

/*
extern int sqlite3_config(int, ...);

__attribute__((constructor)) static void dropsync_sqlite_memstatus_off(void) {
	sqlite3_config(9, 0); // SQLITE_CONFIG_MEMSTATUS, off
}
*/
import "C"
