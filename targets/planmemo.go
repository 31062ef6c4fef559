package targets

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// PlanMemo keeps the plan of an upload the server refused with an answer
// (a 5xx, a 429), so that the next attempt of the same, unchanged file
// reuses it instead of looking the destination up again: a refusal with
// an answer changed nothing on the server. A plan is forgotten after a
// success, after an attempt whose outcome is unknown (no answer), after
// any other failure, and after maxAge. Adapters whose Prepare costs
// requests (SBM, Connections) use it, so that retries cost one request
// each and not two.
type PlanMemo struct {
	mu    sync.Mutex
	plans map[string]memoPlan
}

type memoPlan struct {
	plan Plan
	at   time.Time
}

// planMaxAge bounds how long a refused attempt's plan is trusted.
const planMaxAge = time.Minute

func memoKey(f *File) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%d", f.Watch, f.Rel, f.Size, f.ModTime.UnixNano())
}

// Get returns the kept plan of f, if any.
func (m *PlanMemo) Get(f *File) (*Plan, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp, ok := m.plans[memoKey(f)]
	if !ok || time.Since(mp.at) > planMaxAge {
		delete(m.plans, memoKey(f))
		return nil, false
	}
	p := mp.plan
	return &p, true
}

// Settle records how Put of f with plan p ended: the plan is kept only
// when the server refused with an answer that leaves it valid.
func (m *PlanMemo) Settle(f *File, p *Plan, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var te *Error
	keep := err != nil && errors.As(err, &te) && !te.Ambiguous && (te.Kind == Throttled || (te.Kind == Retryable && te.Status >= 500))
	if !keep {
		delete(m.plans, memoKey(f))
		return
	}
	if m.plans == nil {
		m.plans = map[string]memoPlan{}
	}
	for k, v := range m.plans { // keep the map small
		if time.Since(v.at) > planMaxAge {
			delete(m.plans, k)
		}
	}
	m.plans[memoKey(f)] = memoPlan{plan: *p, at: time.Now()}
}
