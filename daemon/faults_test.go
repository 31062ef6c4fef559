package daemon_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
	_ "github.com/dropsync/dropsync/targets/all" // every adapter and its fake
	"github.com/dropsync/dropsync/targets/blueworks"
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/oracledocs"
	"github.com/dropsync/dropsync/targets/sbm"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// remoteCopies returns, for each file name, the SHA-256 of every object or
// version the fake holds under that name.
func remoteCopies(fake targets.Fake) map[string][]string {
	out := map[string][]string{}
	switch f := fake.(type) {
	case *sensenet.Fake:
		for _, c := range f.Files(sensenet.DocumentsPath) {
			for _, v := range c.Versions {
				out[c.Name] = append(out[c.Name], v.SHA256)
			}
		}
	case *oracledocs.Fake:
		for _, fl := range f.Files() {
			for _, v := range fl.Versions {
				out[fl.Name] = append(out[fl.Name], v.SHA256)
			}
		}
	case *sbm.Fake:
		for _, o := range f.Files("1000", "140", "FILEFIELD") {
			out[o.Filename] = append(out[o.Filename], o.SHA256)
		}
	case *connections.Fake:
		for _, fl := range f.Fields(connections.FakeActivityID) {
			out[fl.Name] = append(out[fl.Name], fl.SHA256)
		}
	case *blueworks.Fake:
		for _, a := range f.Attachments() {
			out[a.Name] = append(out[a.Name], a.SHA256)
		}
	}
	return out
}

// faultRun is one delivery of n small files to one API's fake.
type faultRun struct {
	took       time.Duration
	requests   int64
	throttles  int64 // 429 answers, each a Retry-After: 1 wait
	duplicates int   // objects or versions beyond one per file
}

// deliverThroughFaults delivers n files of 1 KiB to a fresh fake of type
// typ; with faults, 20% of requests get a 5xx, 10% a 429 with Retry-After: 1
// and 5% a connection reset (half of them after the request took effect).
// Every file must arrive intact.
func deliverThroughFaults(t testing.TB, typ string, n int, faulty bool) faultRun {
	t.Helper()
	fake, err := targets.NewFake(typ)
	if err != nil {
		t.Fatal(err)
	}
	faults := fakehttp.Wrap(fake)
	var throttles atomicCounter
	if faulty {
		decide := fakehttp.Random(42, 0.20, 0.10, 0.05, "1")
		faults.Set(func(r *http.Request) fakehttp.Action {
			a := decide(r)
			if a.Status == http.StatusTooManyRequests {
				throttles.add()
			}
			return a
		})
	}
	srv := httptest.NewServer(faults)
	defer srv.Close()
	if c, ok := fake.(interface{ Close() }); ok {
		defer c.Close()
	}
	setup := fake.Setup(srv.URL)
	watch := "destination: " + setup.Destination + "\nsettle: 50ms"
	if setup.OnConflict != "" {
		watch += "\non_conflict: " + setup.OnConflict
	}
	target := setup.Target + "timeout: 5s\n"
	if typ == blueworks.Type {
		// Every reset is an answer lost after the whole file was sent, and
		// Blueworks cannot be asked: allow re-sends for this many resets.
		target += "ambiguous_resends: 5\n"
	}
	y := "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 200ms, max: 5s}\n" +
		"targets:\n  t:\n" + indentYAML(target, "    ") + "watches:\n  - path: {{inbox}}\n    target: t\n" + indentYAML(watch, "    ")
	h := daemontest.StartYAML(t, y)
	defer h.Stop()
	// Each Wait below allows daemontest.Timeout from its own start; the
	// first file waited for may be among the last delivered of a long run.
	defer func(d time.Duration) { daemontest.Timeout = d }(daemontest.Timeout)
	daemontest.Timeout = max(daemontest.Timeout, time.Duration(n)*time.Second)
	start := time.Now()
	before := faults.Requests()
	shas := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("f%03d.bin", i)
		shas[name] = h.WriteRandom(t, name, 1024)
	}
	for name, sha := range shas {
		h.WaitDelivered(t, name, sha)
	}
	run := faultRun{took: time.Since(start), requests: faults.Requests() - before, throttles: throttles.load()}
	copies := remoteCopies(fake)
	for name, sha := range shas {
		got := copies[name]
		if len(got) == 0 || got[len(got)-1] != sha {
			t.Fatalf("%s: %s is not intact on the server (%d copies)", typ, name, len(got))
		}
		run.duplicates += len(got) - 1
	}
	return run
}

func indentYAML(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.Trim(s, "\n"), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add()        { c.n.Add(1) }
func (c *atomicCounter) load() int64 { return c.n.Load() }

// faultFiles is how many files each API gets: 300 with
// DROPSYNC_FAULT_FILES=300 (the README's figure), fewer by default.
func faultFiles(t testing.TB) int {
	if v := os.Getenv("DROPSYNC_FAULT_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("DROPSYNC_FAULT_FILES=%q", v)
		}
		return n
	}
	return 60
}

// Under 20% 5xx, 10% 429 (Retry-After: 1) and 5% resets, every API gets
// every file intact, within the Retry-After waits plus 30 s, with a bounded
// number of requests compared with a fault-free run in the same test.
func TestEveryAPIDeliversThroughFaults(t *testing.T) {
	n := faultFiles(t)
	for _, typ := range []string{sensenet.Type, oracledocs.Type, sbm.Type, blueworks.Type, connections.Type} {
		t.Run(typ, func(t *testing.T) {
			clean := deliverThroughFaults(t, typ, n, false)
			faulty := deliverThroughFaults(t, typ, n, true)
			ratio := float64(faulty.requests) / float64(clean.requests)
			budget := time.Duration(faulty.throttles)*time.Second + 30*time.Second
			t.Logf("%s, %d files: fault-free %s in %d requests; with faults %s in %d requests (%.2fx), %d throttled (budget %s), %d duplicates",
				typ, n, clean.took.Round(time.Millisecond), clean.requests, faulty.took.Round(time.Millisecond), faulty.requests, ratio,
				faulty.throttles, budget, faulty.duplicates)
			// The goal is 1.6; sensenet and Blueworks meet it, the
			// APIs asked after a lost answer land at about 1.65 (README,
			// "Target health"). This bound catches a return of per-file
			// backoffs and unbounded re-sends.
			if ratio > 2.5 {
				t.Errorf("%.2f times the requests of the fault-free run, want at most 2.5", ratio)
			}
			if faulty.took > budget {
				t.Errorf("took %s, want within the Retry-After waits plus 30s (%s)", faulty.took, budget)
			}
		})
	}
}

// A server that stores the upload and answers after the timeout: every API
// that can be asked is asked before sending again, and the file is there
// once. (Blueworks, which cannot be asked: TestBlueworksLateAnswerIsResentAtMostOnce.)
func TestLateAnswerMakesNoDuplicate(t *testing.T) {
	committing := map[string]func(*http.Request) bool{
		sensenet.Type:   func(r *http.Request) bool { return strings.Contains(r.URL.Path, "Upload") },
		oracledocs.Type: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/data") },
		sbm.Type:        func(r *http.Request) bool { return strings.Contains(r.URL.Path, "UpdateFileField") },
		connections.Type: func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/activity")
		},
	}
	cases := []struct{ typ, onConflict string }{
		{sensenet.Type, "version"}, {oracledocs.Type, "version"}, {sbm.Type, "version"}, {connections.Type, "version"},
		{sbm.Type, "rename"}, {connections.Type, "rename"}, // a re-send would add once(2).bin / once(1).bin
	}
	for _, c := range cases {
		typ, commits := c.typ, committing[c.typ]
		t.Run(typ+"/"+c.onConflict, func(t *testing.T) {
			fake, err := targets.NewFake(typ)
			if err != nil {
				t.Fatal(err)
			}
			faults := fakehttp.Wrap(fake)
			var late atomic.Bool
			faults.Set(func(r *http.Request) fakehttp.Action {
				if commits(r) && late.CompareAndSwap(false, true) {
					return fakehttp.Action{AfterProcessing: true, Delay: 3 * time.Second}
				}
				return fakehttp.Action{}
			})
			srv := httptest.NewServer(faults)
			defer srv.Close()
			setup := fake.Setup(srv.URL)
			h := daemontest.Start(t, setup.Target+"timeout: 500ms\n", "destination: "+setup.Destination+"\non_conflict: "+c.onConflict)
			sha := h.WriteRandom(t, "once.bin", 4000)
			h.WaitDelivered(t, "once.bin", sha)
			if !late.Load() {
				t.Fatal("no upload was answered late: the test missed the committing request")
			}
			var got []string
			for name, shas := range remoteCopies(fake) {
				if targets.RenameOf("once.bin", name) {
					got = append(got, shas...)
				}
			}
			if len(got) != 1 || got[0] != sha {
				t.Fatalf("%d copies on the server, want exactly one", len(got))
			}
		})
	}
}
