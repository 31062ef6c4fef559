package queue

import "sync"

// groupOp is one change waiting for a shared commit: apply runs it in the
// transaction of its round, and again alone if the shared one failed.
type groupOp struct {
	apply func(c *conn) error
	err   error
	wake  chan bool // true: lead the next round; false: done
}

// groupCommit lets concurrent callers share transactions. A caller that
// finds no round running leads one: it takes everything queued so far and
// commits it. Callers arriving meanwhile queue up for the next round; when
// a round ends, the leader hands the lead to the oldest queued caller and
// returns, so no caller serves others' rounds for long.
type groupCommit struct {
	mu      sync.Mutex
	queued  []*groupOp
	running bool
}

// run returns once a commit round has run op.
func (g *groupCommit) run(op *groupOp, commit func([]*groupOp)) {
	op.wake = make(chan bool, 1)
	g.mu.Lock()
	g.queued = append(g.queued, op)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead && !<-op.wake {
		return // run by another caller's round
	}
	g.mu.Lock()
	batch := g.queued
	g.queued = nil
	g.mu.Unlock()
	commit(batch)
	for _, b := range batch {
		if b != op {
			b.wake <- false
		}
	}
	g.mu.Lock()
	if len(g.queued) > 0 {
		g.queued[0].wake <- true
	} else {
		g.running = false
	}
	g.mu.Unlock()
}
