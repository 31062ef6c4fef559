package queue

import "sync"

// completion is one Complete call waiting for its commit.
type completion struct {
	job *Job
	out Outcome

	requeued bool
	err      error
	wake     chan bool // true: lead the next round; false: recorded
}

// groupCommit lets concurrent callers share transactions. A caller that
// finds no round running leads one: it takes everything queued so far and
// commits it. Callers arriving meanwhile queue up for the next round; when
// a round ends, the leader hands the lead to the oldest queued caller and
// returns, so no caller serves others' rounds for long.
type groupCommit struct {
	mu      sync.Mutex
	queued  []*completion
	running bool
}

// run returns once a commit round has recorded c.
func (g *groupCommit) run(c *completion, commit func([]*completion)) {
	c.wake = make(chan bool, 1)
	g.mu.Lock()
	g.queued = append(g.queued, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead && !<-c.wake {
		return // recorded by another caller's round
	}
	g.mu.Lock()
	batch := g.queued
	g.queued = nil
	g.mu.Unlock()
	commit(batch)
	for _, b := range batch {
		if b != c {
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
