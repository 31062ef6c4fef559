//go:build !race

// The race detector's sync.Pool drops a quarter of what is put back, so
// allocation counts are only meaningful without it.

package sensenet_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// serveEnv names the environment variable that makes the test binary
// serve a fake instead of running tests (see TestMain).
const serveEnv = "SENSENET_TEST_SERVE_FAKE"

// TestMain serves a fake on loopback when the test binary is started as
// a server process (serveFakeElsewhere), until its standard input closes.
func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "1" {
		os.Exit(m.Run())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	os.Stdout.WriteString("http://" + ln.Addr().String() + "\n")
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadByte() // EOF: the test ended
		os.Exit(0)
	}()
	_ = http.Serve(ln, sensenet.NewFake())
	os.Exit(1)
}

// serveFakeElsewhere serves a fake from another process and returns its
// URL, so that the server's allocations do not count in this one.
func serveFakeElsewhere(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the fake's process did not say where it listens: %v", err)
	}
	return strings.TrimSpace(line)
}

// noSessions records nothing: the driver's own work per chunk is measured,
// not a store's.
type noSessions struct{}

func (noSessions) Load(context.Context) (*targets.Session, error) { return nil, nil }
func (noSessions) Save(context.Context, *targets.Session) error   { return nil }
func (noSessions) Delete(context.Context) error                   { return nil }

// garbage returns the bytes and objects the process allocated while fn ran,
// on one processor and with the collector off, so that pools stay filled
// and an object put back on one processor is found on it again.
func garbage(fn func()) (bytes, objects uint64) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
}

// maxChunkGarbage bounds what one more chunk of a chunked upload
// allocates on the client: the driver, the adapter and the HTTP client
// (net/http's own share is about 4 KiB and 50 objects). It was 12 KiB and
// 146 objects: with 128 chunks per GiB that garbage, beside the daemon's
// start, reached Go's minimum heap goal (4 MiB) and made a 1 GiB delivery
// collect, and peak RSS grow, where a small one does not.
const (
	maxChunkGarbage = 8 << 10
	maxChunkObjects = 100
)

// A chunk costs its request and little else: the form, the URL and the
// token's flags are built once per session, one Body and one buffer of
// hash state serve every chunk, and a request's own bookkeeping (context,
// stall watch, deadline, body wrappers) is one allocation. The server runs
// in another process so that only the client's allocations count.
func TestChunkedUploadGarbagePerChunk(t *testing.T) {
	url := serveFakeElsewhere(t)
	env := targettest.Build(t, "type: sensenet\nurl: "+url+"\nauth: {type: bearer, token: "+sensenet.DemoToken+"}\nchunk_threshold: 64KiB\nchunk_size: 64KiB\n", "destination: {path: "+docs+"}")
	const few, many = 2, 34
	small, _ := env.File(t, "small.bin", few*64<<10)
	large, _ := env.File(t, "large.bin", many*64<<10)
	cfg := env.Config.Targets["t"]
	deliver := func(f *targets.File) {
		res, err := targets.Deliver(context.Background(), env.Target, cfg, f, noSessions{}, nil)
		if err != nil || !res.Chunked {
			t.Fatalf("deliver %s: %+v, %v", f.Rel, res, err)
		}
	}
	deliver(small) // warm up: connections, pools, and both names exist
	deliver(large)
	b1, o1 := garbage(func() { deliver(small) })
	b2, o2 := garbage(func() { deliver(large) })
	bytes, objects := float64(b2-b1)/(many-few), float64(o2-o1)/(many-few)
	t.Logf("per chunk: %.0f bytes, %.1f objects", bytes, objects)
	if bytes > maxChunkGarbage || objects > maxChunkObjects {
		t.Fatalf("a chunk allocates %.0f bytes in %.1f objects, want at most %d bytes and %d objects", bytes, objects, maxChunkGarbage, maxChunkObjects)
	}
}
