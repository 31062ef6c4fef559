package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/targets"
)

func init() {
	register("demo", "run every API's fake server in-process and show files arriving (no setup needed)", cmdDemo)
}

// demoLarge is the size of the sample file that goes up chunked or in two
// phases; the demo's thresholds are set below it.
const demoLarge = 24 << 20

func cmdDemo(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("demo", "[--dir DIR]")
	dir := fs.String("dir", "", "folder for the demo's inbox, state and config (default: a new temporary folder)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "dropsync-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	types := targets.FakeTypes()
	if len(types) == 0 {
		return errors.New("demo: no fake servers are built in")
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "state_dir: %s\nlog: {level: warn}\nworkers: 4\nretry: {initial: 500ms, max: 5s}\ntargets:\n", filepath.Join(*dir, "state"))
	var watches []demoWatch
	servers := make([]*http.Server, 0, len(types))
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	fmt.Fprintf(w, "dropsync demo: %d fake servers on loopback, one inbox folder per API.\n\n", len(types))
	for _, typ := range types {
		fake, err := targets.NewFake(typ)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go srv.Serve(ln)
		base := "http://" + ln.Addr().String()
		setup := fake.Setup(base)
		inbox := filepath.Join(*dir, "inbox", typ)
		if err := os.MkdirAll(inbox, 0o700); err != nil {
			return err
		}
		fmt.Fprintf(&cfg, "  %s:\n%s\n    chunk_threshold: 8MiB\n    chunk_size: 4MiB\n", typ, indentLines(setup.Target, "    "))
		onConflict := "version"
		if setup.OnConflict != "" {
			onConflict = setup.OnConflict
		}
		watches = append(watches, demoWatch{inbox: inbox, typ: typ, dest: setup.Destination, onConflict: onConflict})
		fmt.Fprintf(w, "  %-24s %s   ← %s\n", typ, base, inbox)
	}
	// Targets without folders get a flat watch, so the demo's own
	// configuration draws no warning about shared remote names.
	flat, err := flatTargets(cfg.String() + demoWatches(watches, nil))
	if err != nil {
		return err
	}
	cfg.WriteString(demoWatches(watches, flat))
	cfgPath := filepath.Join(*dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	c, err := config.Parse(strings.NewReader(cfg.String()))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	fmt.Fprintf(w, "\n  inbox:   %s   (drop your own files into its sub-folders)\n", filepath.Join(*dir, "inbox"))
	fmt.Fprintf(w, "  config:  %s\n", cfgPath)
	fmt.Fprintf(w, "  status:  dropsync status -c %s   (in another terminal)\n\n", cfgPath)

	if _, err := os.Stat(filepath.Join(*dir, "state")); err == nil {
		fmt.Fprintln(w, "  (this folder was used before: samples already delivered are not sent again)")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var once sync.Once
	stillWatching := func() {
		once.Do(func() {
			fmt.Fprintf(w, "\nStill watching. Drop files into %s and watch them arrive; Ctrl-C stops.\n", filepath.Join(*dir, "inbox", "<api>")+string(filepath.Separator))
		})
	}
	obs := &demoObserver{w: w, start: time.Now(), bars: map[string]int{}, samples: sampleCount(types), allIn: stillWatching, types: map[string]string{}}
	for n, t := range c.Targets {
		obs.types[n] = t.Type
	}
	d, err := daemon.New(ctx, c, daemon.Options{Log: log, Observer: obs, ProgressInterval: 150 * time.Millisecond})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	fmt.Fprintln(w, "Dropping sample files…")
	if err := dropSamples(filepath.Join(*dir, "inbox"), types, flat); err != nil {
		return err
	}
	go func() { // also when the samples were delivered by an earlier run
		select {
		case <-time.After(10 * time.Second):
			stillWatching()
		case <-ctx.Done():
		}
	}()
	err = <-done
	fmt.Fprintf(w, "\nStopped. The demo folder stays at %s (delete it when done).\n", *dir)
	return err
}

// sampleCount is how many files dropSamples writes.
func sampleCount(types []string) int {
	n := 0
	for _, typ := range types {
		n += 2
		if largeSample(typ) {
			n++
		}
	}
	return n
}

// largeMode names how an API sends a file at or above chunk_threshold.
func largeMode(typ string) string {
	if typ == "connections-activities" {
		return "two-phase"
	}
	return "chunked"
}

// demoWatch is one watch of the demo's configuration.
type demoWatch struct{ inbox, typ, dest, onConflict string }

// demoWatches is the watches section; flat targets get recursive: false.
func demoWatches(ws []demoWatch, flat map[string]bool) string {
	var b strings.Builder
	b.WriteString("watches:\n")
	for _, dw := range ws {
		fmt.Fprintf(&b, "  - path: %s\n    target: %s\n    destination: %s\n    settle: 500ms\n    on_conflict: %s\n", dw.inbox, dw.typ, dw.dest, dw.onConflict)
		if flat[dw.typ] {
			b.WriteString("    recursive: false\n")
		}
	}
	return b.String()
}

// flatTargets names the targets of a configuration that have no folders.
func flatTargets(y string) (map[string]bool, error) {
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	set, err := targets.Build(c, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	defer set.Close()
	flat := map[string]bool{}
	for n, t := range set.Targets {
		if f, ok := t.(targets.Flattener); ok && f.FlatNames() {
			flat[n] = true
		}
	}
	return flat, nil
}

// largeSample reports whether an API gets the large sample (a chunked or
// two-phase protocol).
func largeSample(typ string) bool { return typ == "sensenet" || typ == "connections-activities" }

// dropSamples writes a few files per API, and one large file for the
// adapters with a chunked or two-phase protocol.
func dropSamples(inbox string, types []string, flat map[string]bool) error {
	for _, typ := range types {
		invoice := "invoices/2026-11-001.txt"
		if flat[typ] {
			invoice = "invoice-2026-11-001.txt" // a flat watch: no sub-folders
		}
		files := map[string][]byte{
			invoice:    []byte("Invoice 2026-11-001\nTotal: 1,234.00 EUR\n"),
			"notes.md": []byte("# Drop folder\nFiles dropped here arrive on the server.\n"),
		}
		for rel, data := range files {
			p := filepath.Join(inbox, typ, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				return err
			}
		}
		if largeSample(typ) {
			f, err := os.Create(filepath.Join(inbox, typ, "scan-large.bin"))
			if err != nil {
				return err
			}
			_, err = io.CopyN(f, rand.Reader, demoLarge)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// demoObserver prints each arrival and progress bars for large uploads.
type demoObserver struct {
	mu        sync.Mutex
	w         io.Writer
	start     time.Time
	bars      map[string]int // target/rel → last percentage printed
	delivered int
	samples   int               // after this many deliveries, allIn runs
	allIn     func()            // says the demo keeps watching
	types     map[string]string // target name → type
}

func (o *demoObserver) Delivered(d daemon.Delivery) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := d.Target + "/" + d.Rel
	if _, ok := o.bars[key]; ok {
		fmt.Fprintf(o.w, "  ⇡ %-24s %-28s %s  %s\n", d.Target, shown(d.Rel), progressBar(d.Bytes, d.Bytes, 30), config.FormatBytes(d.Bytes))
		delete(o.bars, key)
	}
	what := "arrived"
	switch {
	case d.Skipped:
		what = "skipped (already there)"
	case d.Deleted:
		what = "deleted remotely"
	}
	ver := ""
	if d.Remote.Version != "" {
		ver = " version " + d.Remote.Version
	}
	mode := ""
	if d.Chunked {
		mode = ", " + largeMode(o.types[d.Target])
	}
	fmt.Fprintf(o.w, "  ✓ %-24s %-28s %10s  %s: id %s%s (%s%s)\n", d.Target, shown(d.Rel), config.FormatBytes(d.Bytes), what, d.Remote.ID, ver,
		d.Duration.Round(time.Millisecond), mode)
	if o.delivered++; o.delivered == o.samples {
		go o.allIn() // not under o.mu: it writes too
	}
}

func (o *demoObserver) Failed(f daemon.Failure) {
	o.mu.Lock()
	defer o.mu.Unlock()
	state := "will retry"
	if f.Final {
		state = "FAILED"
	}
	fmt.Fprintf(o.w, "  ✗ %-24s %-28s %s: %s\n", f.Target, shown(f.Rel), state, oneLine(f.Msg))
}

func (o *demoObserver) Progress(target, rel string, sent, total int64) {
	if total < 4<<20 || sent >= total {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	key := target + "/" + rel
	pct := int(sent * 100 / total)
	if last, ok := o.bars[key]; ok && pct-last < 10 {
		return
	}
	o.bars[key] = pct
	fmt.Fprintf(o.w, "  ⇡ %-24s %-28s %s  %s / %s\n", target, shown(rel), progressBar(sent, total, 30), config.FormatBytes(sent), config.FormatBytes(total))
}

func (o *demoObserver) WatchEvent() {}
func (o *demoObserver) Overflow()   {}
