// Package lookup runs file-system calls that may never return (a stat on
// a hard network mount whose server is gone blocks in the kernel, where
// nothing interrupts it) on goroutines of their own, so that their callers
// can stop waiting, and shares a call still running between callers.
//
// Invariants:
//   - A call still running is shared by the callers that ask for the same
//     key, so a path that hangs holds few goroutines (each with the OS
//     thread blocked in the kernel) however often it is asked for: a call
//     is shared while younger than the caller's base doubled once per
//     call of that key still running (at most Max). Once older, the next caller starts a
//     fresh one, so a path that answers again (the dead mount detached
//     with umount -l, another mounted there) is seen within that time,
//     and the calls of a key that hangs for ever grow with the logarithm
//     of the time it hangs.
//   - A call that ended is forgotten: the next caller calls again.
package lookup

import (
	"sync"
	"time"
)

// Calls are the calls running, by key.
type Calls struct {
	Max time.Duration // the longest a call is shared

	mu      sync.Mutex
	newest  map[string]*Call
	running map[string]int
}

// Call is one call: Value and Err are set when Done is closed.
type Call struct {
	done  chan struct{}
	began time.Time
	Value any
	Err   error
}

// Done is closed when the call has returned.
func (c *Call) Done() <-chan struct{} { return c.done }

// Answered reports whether the call has returned.
func (c *Call) Answered() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Start returns the call of key still running, if it may be shared, or
// starts f as a new one; base is how long the first call of a key is
// shared (the caller's own wait, typically).
func (cs *Calls) Start(key string, base time.Duration, f func() (any, error)) *Call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.newest == nil {
		cs.newest, cs.running = map[string]*Call{}, map[string]int{}
	}
	if c := cs.newest[key]; c != nil && time.Since(c.began) < cs.shareFor(base, cs.running[key]) {
		return c
	}
	c := &Call{done: make(chan struct{}), began: time.Now()}
	cs.newest[key] = c
	cs.running[key]++
	go func() {
		v, err := f()
		cs.mu.Lock()
		c.Value, c.Err = v, err
		if cs.newest[key] == c {
			delete(cs.newest, key)
		}
		if cs.running[key]--; cs.running[key] == 0 {
			delete(cs.running, key)
		}
		cs.mu.Unlock()
		close(c.done)
	}()
	return c
}

// shareFor is how long the newest of n running calls is shared.
func (cs *Calls) shareFor(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < cs.Max; i++ {
		d *= 2
	}
	return min(d, cs.Max)
}
