// Package hotbench is dropsync's out-of-process hot-folder benchmark. It
// starts a lean sensenet-compatible sink in its own process on loopback,
// runs a bare uploader (the same number of workers, keep-alive, nothing
// else) against it as the baseline, and runs the real `dropsync run`
// binary watching a folder, delivering to the same sink. It measures, in
// one run:
//
//   - a burst: Files × FileSize files renamed into Folders new sub-folders
//     of the running daemon's watch, timed from the first rename to the
//     last commit, both on the sink's clock, and requests per file counted
//     by the sink;
//   - one large file (chunked), rename to commit minus settle, against the
//     bare uploader sending the same chunks; each round starts a fresh
//     daemon (for its peak RSS) and renames the file in once the daemon has
//     said it is ready, as systemd hears it (sd_notify READY=1), so the
//     window holds the delivery and not the process's start;
//   - peak RSS (VmHWM) of fresh daemons delivering a small vs a large file,
//     one of each per round, the highest of each kind compared;
//   - idle wake-ups (voluntary + involuntary context switches of all
//     threads) and CPU time over an idle window;
//   - the latency of single dropped files (rename to commit), p50.
//
// Every delivered file's SHA-256 is compared with the one the sink
// computed; a missing or different file fails the run. Ratios are always
// against the baseline measured in the same run: the burst and the large
// file run in Rounds rounds, bare uploader and dropsync alternating, each
// dropsync run against the mean of the bare runs just before and after it,
// and the report holds the median of the rounds (single runs on a shared
// two-core machine swing by ±15 %).
package hotbench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Options size the run. Zero values take the scenario.
type Options struct {
	Dropsync string   // the dropsync binary
	SinkCmd  []string // a command serving the sink; its first stdout line ends with the sink's URL
	Dir      string   // working folder (watches, staging, state); on the same file system throughout

	Files    int           // burst: number of files (10,000)
	Folders  int           // burst: new sub-folders they are renamed into (100)
	FileSize int64         // burst: bytes per file (4 KiB)
	Workers  int           // workers of dropsync and of the bare uploader (4)
	Settle   time.Duration // the watch's settle (200ms)
	Large    int64         // the large file (1 GiB)
	Small    int64         // the small file of the RSS comparison (1 MiB)
	Chunk    int64         // chunk_size, and chunk_threshold (8 MiB)
	Idle     time.Duration // idle window (10s)
	Latency  int           // single-file samples (21)
	Rounds   int           // dropsync runs of the burst and of the large file, each between two bare ones (3)

	Log io.Writer // progress lines; nil: none
}

func (o *Options) defaults() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Files <= 0 {
		o.Files = 10_000
	}
	if o.Folders <= 0 {
		o.Folders = 100
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Settle <= 0 {
		o.Settle = 200 * time.Millisecond
	}
	if o.Idle <= 0 {
		o.Idle = 10 * time.Second
	}
	if o.Latency <= 0 {
		o.Latency = 21
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	def(&o.FileSize, 4<<10)
	def(&o.Large, 1<<30)
	def(&o.Small, 1<<20)
	def(&o.Chunk, 8<<20)
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Report holds the figures of one run.
type Report struct {
	Opts Options `json:"-"`

	BareFilesPerSec     float64 `json:"bare_files_per_s"`
	DropsyncFilesPerSec float64 `json:"dropsync_files_per_s"`
	BurstRatio          float64 `json:"burst_ratio"` // the median of BurstRatios
	// BurstRatios has each round's ratio: dropsync's rate against the
	// mean of the bare runs before and after it.
	BurstRatios        []float64 `json:"burst_ratios"`
	BareReqPerFile     float64   `json:"bare_requests_per_file"`
	DropsyncReqPerFile float64   `json:"dropsync_requests_per_file"`
	DropsyncConns      int64     `json:"dropsync_connections"` // opened during the burst
	// DropsyncInFlight is the most of dropsync's burst requests the sink
	// served at once: the upload slots bound it by the workers.
	DropsyncInFlight int64 `json:"dropsync_max_in_flight"`
	// CPU time per file of the burst: the bare uploader's process and
	// dropsync's (all threads); steadier than rates on a shared machine.
	BareCPUPerFile     time.Duration `json:"bare_cpu_per_file"`
	DropsyncCPUPerFile time.Duration `json:"dropsync_cpu_per_file"`

	BareLargeMBps     float64   `json:"bare_large_MBps"`
	DropsyncLargeMBps float64   `json:"dropsync_large_MBps"`
	LargeRatio        float64   `json:"large_ratio"` // the median of LargeRatios
	LargeRatios       []float64 `json:"large_ratios"`

	// Peak RSS of each round's small and large daemon, and the highest
	// of each kind.
	RSSSmalls []int64 `json:"rss_small_bytes_rounds"`
	RSSLarges []int64 `json:"rss_large_bytes_rounds"`
	RSSSmall  int64   `json:"rss_small_bytes"`
	RSSLarge  int64   `json:"rss_large_bytes"`
	RSSGrow   float64 `json:"rss_growth"` // RSSLarge/RSSSmall - 1

	IdleWakeupsPerSec float64       `json:"idle_wakeups_per_s"`
	IdleCPU           time.Duration `json:"idle_cpu_per_window"`

	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyMax time.Duration `json:"latency_max"`

	Verified int `json:"verified_files"`
}

// Print writes the report as the README's table.
func (r *Report) Print(w io.Writer) {
	o := r.Opts
	fmt.Fprintf(w, "| scenario (medians of %d rounds) | dropsync | bare uploader (%d workers, keep-alive; a run before and after each of dropsync's) | ratio (each round's against the mean of the bare runs around it) |\n|---|---|---|---|\n", o.Rounds, o.Workers)
	fmt.Fprintf(w, "| %d × %s files renamed into %d new sub-folders (settle %s), first rename → last commit | %.0f files/s, %.2f requests/file | %.0f files/s, %.2f requests/file | **%.2f×** (%s) |\n",
		o.Files, size(o.FileSize), o.Folders, o.Settle, r.DropsyncFilesPerSec, r.DropsyncReqPerFile, r.BareFilesPerSec, r.BareReqPerFile, r.BurstRatio, ratios(r.BurstRatios))
	fmt.Fprintf(w, "| connections opened during that burst; the most requests the server served at once | %d; %d | | |\n", r.DropsyncConns, r.DropsyncInFlight)
	fmt.Fprintf(w, "| CPU time per file of that burst (all threads of the process) | %s | %s | |\n", r.DropsyncCPUPerFile.Round(time.Microsecond), r.BareCPUPerFile.Round(time.Microsecond))
	fmt.Fprintf(w, "| one %s file, %s chunks, rename → commit, settle excluded | %.0f MB/s | %.0f MB/s | **%.2f×** (%s) |\n",
		size(o.Large), size(o.Chunk), r.DropsyncLargeMBps, r.BareLargeMBps, r.LargeRatio, ratios(r.LargeRatios))
	fmt.Fprintf(w, "| peak RSS (VmHWM), %s vs %s file, the highest of %d fresh daemons each (%s vs %s) | %.1f vs %.1f MiB | | **%+.1f%%** |\n",
		size(o.Large), size(o.Small), len(r.RSSLarges), mibs(r.RSSLarges), mibs(r.RSSSmalls), float64(r.RSSLarge)/(1<<20), float64(r.RSSSmall)/(1<<20), 100*r.RSSGrow)
	fmt.Fprintf(w, "| idle, nothing to do, %s | %.2f wake-ups/s, %.1f ms CPU | | |\n", o.Idle, r.IdleWakeupsPerSec, float64(r.IdleCPU)/1e6)
	fmt.Fprintf(w, "| single file, rename → commit (%d samples) | p50 %s (max %s), settle %s | | |\n",
		o.Latency, r.LatencyP50.Round(time.Millisecond), r.LatencyMax.Round(time.Millisecond), o.Settle)
	fmt.Fprintf(w, "\nverified: %d files, SHA-256 on the server equal to the local files\n", r.Verified)
}

// ratios lists each round's ratio in the order of the rounds.
func ratios(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(s, ", ")
}

// mibs lists byte counts in MiB.
func mibs(ns []int64) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmt.Sprintf("%.1f", float64(n)/(1<<20)))
	}
	return strings.Join(s, ", ")
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// Run runs every scenario and returns the figures.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	r := &Report{Opts: o}
	sink, sinkPID, stopSink, err := startSink(ctx, o.SinkCmd)
	if err != nil {
		return nil, err
	}
	defer stopSink()
	b := &bench{o: o, sink: sink, sinkPID: sinkPID, http: &http.Client{}, expect: map[string]string{}}

	if err := b.burst(ctx, r); err != nil {
		return nil, err
	}
	if err := b.large(ctx, r); err != nil {
		return nil, err
	}
	if r.Verified, err = b.verify(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

type bench struct {
	o       Options
	sink    string
	sinkPID int // the sink's process, whose CPU time is counted per file too
	http    *http.Client
	expect  map[string]string // remote path → SHA-256 of the local file
	// scenarios holds every scenario a remote folder was made for.
	scenarios []string
	seq       int
}

// staged is a file written outside the watch, to be renamed in.
type staged struct {
	src, dir, name string
}

// startSink runs the sink command and returns its URL and process id.
func startSink(ctx context.Context, argv []string) (string, int, func(), error) {
	if len(argv) == 0 {
		return "", 0, nil, errors.New("hotbench: no sink command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("hotbench: start sink: %w", err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("hotbench: sink did not say where it listens: %w", err)
	}
	f := strings.Fields(line)
	if len(f) == 0 || !strings.HasPrefix(f[len(f)-1], "http://") {
		stop()
		return "", 0, nil, fmt.Errorf("hotbench: sink said %q", line)
	}
	return f[len(f)-1], cmd.Process.Pid, stop, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func (b *bench) control(ctx context.Context, method, what, scenario string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, b.sink+"/_bench/"+what+"?scenario="+scenario, nil)
	if err != nil {
		return err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sink %s: %s", what, resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (b *bench) stats(ctx context.Context, scenario string) (Stats, error) {
	var s Stats
	err := b.control(ctx, http.MethodGet, "stats", scenario, &s)
	return s, err
}

// waitFiles polls the sink until scenario holds n committed files; it
// fails early when the daemon d (if any) exits.
func (b *bench) waitFiles(ctx context.Context, scenario string, n int64, d *daemonProc) (Stats, error) {
	deadline := time.Now().Add(15 * time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := b.stats(ctx, scenario)
		if err != nil {
			return s, err
		}
		if s.Files >= n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("hotbench: %s: %d of %d files after 15 minutes", scenario, s.Files, n)
		}
		var exited <-chan struct{}
		if d != nil {
			exited = d.exited
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-exited:
			return s, fmt.Errorf("hotbench: dropsync exited with %d of %d files of %s delivered: %v (log: %s)", s.Files, n, scenario, d.err, d.logPath)
		case <-tick.C:
		}
	}
}

// mkdirRemote creates BenchRoot/name on the sink (a watch's destination).
func (b *bench) mkdirRemote(ctx context.Context, name string) error {
	b.scenarios = append(b.scenarios, name)
	return newBare(b.sink, "bench", 1).mkdir(ctx, BenchRoot, name)
}

// writeFile writes n random bytes to path and remembers their SHA-256
// under remote.
func (b *bench) writeFile(path, remote string, n int64) error {
	sum, err := writeRandom(path, n)
	if err != nil {
		return err
	}
	b.expect[remote] = sum
	return nil
}

// writeRandom writes n random bytes to path and returns their SHA-256.
func writeRandom(path string, n int64) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// stageBurst writes the burst's files below dir, one sub-folder per remote
// folder, expecting them below remote.
func (b *bench) stageBurst(dir, remote string) ([]string, []staged, error) {
	var dirs []string
	var files []staged
	for i := range b.o.Folders {
		dirs = append(dirs, fmt.Sprintf("d%03d", i))
	}
	for i := range b.o.Files {
		d := dirs[i%len(dirs)]
		name := fmt.Sprintf("f%05d.dat", i)
		src := filepath.Join(dir, d, name)
		if err := b.writeFile(src, remote+"/"+d+"/"+name, b.o.FileSize); err != nil {
			return nil, nil, err
		}
		files = append(files, staged{src: src, dir: d, name: name})
	}
	return dirs, files, nil
}

// bareBurst runs the bare uploader on a burst into scenario and returns
// its rate, requests and CPU time per file.
func (b *bench) bareBurst(ctx context.Context, scenario string) (rate, reqs float64, cpu time.Duration, err error) {
	o := b.o
	if err := b.mkdirRemote(ctx, scenario); err != nil {
		return 0, 0, 0, err
	}
	dirs, files, err := b.stageBurst(filepath.Join(o.Dir, "stage", scenario), BenchRoot+"/"+scenario)
	if err != nil {
		return 0, 0, 0, err
	}
	b.logf("bare uploader: %d files, %d workers", len(files), o.Workers)
	if err := b.control(ctx, http.MethodPost, "mark", scenario, nil); err != nil {
		return 0, 0, 0, err
	}
	c0, err := sampleProc(os.Getpid())
	if err != nil {
		return 0, 0, 0, err
	}
	s0, err := sampleProc(b.sinkPID)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := newBare(b.sink, "bench", o.Workers).burst(ctx, o.Workers, BenchRoot+"/"+scenario, dirs, files); err != nil {
		return 0, 0, 0, err
	}
	c1, err := sampleProc(os.Getpid())
	if err != nil {
		return 0, 0, 0, err
	}
	bs, err := b.waitFiles(ctx, scenario, int64(o.Files), nil)
	if err != nil {
		return 0, 0, 0, err
	}
	s1, err := sampleProc(b.sinkPID)
	if err != nil {
		return 0, 0, 0, err
	}
	rate, reqs, cpu = float64(o.Files)/bs.LastCommit.Sub(bs.Mark).Seconds(), float64(bs.Requests)/float64(o.Files), (c1.cpu-c0.cpu)/time.Duration(o.Files)
	b.logf("bare uploader: %.0f files/s, %.2f requests/file, CPU per file %s, the sink's %s", rate, reqs, cpu, (s1.cpu-s0.cpu)/time.Duration(o.Files))
	return rate, reqs, cpu, nil
}

// round names the scenario of round k: base for the first, base2, base3
// and so on after it.
func round(base string, k int) string {
	if k == 0 {
		return base
	}
	return fmt.Sprintf("%s%d", base, k+1)
}

// median is the middle value of xs (the mean of the middle two for an
// even count); xs is sorted in place.
func median[T float64 | time.Duration](xs []T) T {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// burst alternates the bare uploader and dropsync, Rounds times each with
// a bare run at the end: bare, dropsync, bare, …, dropsync, bare. Each
// dropsync round is compared with the mean of the bare runs just before
// and after it, so that a change of the machine's load weighs on both
// sides; the report holds the median of the rounds. Then it measures
// dropsync at idle and the latency of single files.
func (b *bench) burst(ctx context.Context, r *Report) error {
	o := b.o
	bare := make([]float64, o.Rounds+1)
	bareCPU := make([]time.Duration, o.Rounds+1)
	var err error
	if bare[0], r.BareReqPerFile, bareCPU[0], err = b.bareBurst(ctx, round("bare", 0)); err != nil {
		return err
	}

	// dropsync, with a watch per round and one for single files.
	watches := []string{"latency"}
	for k := range o.Rounds {
		watches = append(watches, round("burst", k))
	}
	for _, s := range watches {
		if err := b.mkdirRemote(ctx, s); err != nil {
			return err
		}
	}
	d, err := b.startDaemon(ctx, "a", watches...)
	if err != nil {
		return err
	}
	defer d.stop()
	// One file through the latency watch shows the daemon is up.
	if _, err := b.single(ctx, d, "latency"); err != nil {
		return err
	}
	var rates []float64
	var cpus []time.Duration
	for k := range o.Rounds {
		rate, cpu, err := b.dropsyncBurst(ctx, d, round("burst", k), r)
		if err != nil {
			return err
		}
		if bare[k+1], _, bareCPU[k+1], err = b.bareBurst(ctx, round("bare", k+1)); err != nil {
			return err
		}
		ratio := rate / ((bare[k] + bare[k+1]) / 2)
		r.BurstRatios = append(r.BurstRatios, ratio)
		rates, cpus = append(rates, rate), append(cpus, cpu)
		b.logf("dropsync: %.2f× the bare uploader (mean of %.0f and %.0f files/s)", ratio, bare[k], bare[k+1])
	}
	r.BurstRatio = median(slices.Clone(r.BurstRatios))
	r.DropsyncFilesPerSec, r.DropsyncCPUPerFile = median(rates), median(cpus)
	r.BareFilesPerSec, r.BareCPUPerFile = median(bare), median(bareCPU)

	// Idle: let the burst's last bookkeeping finish, then count.
	if err := pause(ctx, time.Second); err != nil {
		return err
	}
	s0, err := sampleProc(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	if err := pause(ctx, o.Idle); err != nil {
		return err
	}
	s1, err := sampleProc(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	r.IdleWakeupsPerSec = float64(s1.switches-s0.switches) / o.Idle.Seconds()
	r.IdleCPU = s1.cpu - s0.cpu
	b.logf("idle %s: %.2f wake-ups/s, %s CPU", o.Idle, r.IdleWakeupsPerSec, r.IdleCPU)

	// Latency of single files into an idle daemon.
	var lat []time.Duration
	for range o.Latency {
		l, err := b.single(ctx, d, "latency")
		if err != nil {
			return err
		}
		lat = append(lat, l)
	}
	slices.Sort(lat)
	r.LatencyP50, r.LatencyMax = lat[len(lat)/2], lat[len(lat)-1]
	b.logf("latency: p50 %s, max %s", r.LatencyP50, r.LatencyMax)
	return d.stop()
}

// dropsyncBurst stages a burst, renames it into new sub-folders of the
// running daemon d's watch for scenario, and returns the rate and
// dropsync's CPU time per file; requests per file and connections opened
// go to r (the highest of the rounds).
func (b *bench) dropsyncBurst(ctx context.Context, d *daemonProc, scenario string, r *Report) (rate float64, cpu time.Duration, err error) {
	o := b.o
	dirs, files, err := b.stageBurst(filepath.Join(o.Dir, "stage", scenario), BenchRoot+"/"+scenario)
	if err != nil {
		return 0, 0, err
	}
	before, err := b.stats(ctx, scenario)
	if err != nil {
		return 0, 0, err
	}
	b.logf("dropsync: renaming %d files into %d new sub-folders", len(files), len(dirs))
	c0, sink0, err := b.sampleBoth(d.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	if err := b.control(ctx, http.MethodPost, "mark", scenario, nil); err != nil {
		return 0, 0, err
	}
	watch := filepath.Join(o.Dir, "watch-"+scenario)
	for i, dir := range dirs {
		if err := os.Mkdir(filepath.Join(watch, dir), 0o700); err != nil {
			return 0, 0, err
		}
		for j := i; j < len(files); j += len(dirs) {
			f := files[j]
			if err := os.Rename(f.src, filepath.Join(watch, f.dir, f.name)); err != nil {
				return 0, 0, err
			}
		}
	}
	ds, err := b.waitFiles(ctx, scenario, int64(o.Files), d)
	if err != nil {
		return 0, 0, err
	}
	c1, sink1, err := b.sampleBoth(d.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	cpu = (c1.cpu - c0.cpu) / time.Duration(o.Files)
	rate = float64(o.Files) / ds.LastCommit.Sub(ds.Mark).Seconds()
	r.DropsyncReqPerFile = max(r.DropsyncReqPerFile, float64(ds.Requests-before.Requests)/float64(o.Files))
	r.DropsyncConns = max(r.DropsyncConns, ds.Conns-before.Conns)
	r.DropsyncInFlight = max(r.DropsyncInFlight, ds.MaxInFlight)
	b.logf("dropsync: %.0f files/s, %.2f requests/file, CPU per file %s, the sink's %s; first commit after %s",
		rate, float64(ds.Requests-before.Requests)/float64(o.Files), cpu, (sink1.cpu-sink0.cpu)/time.Duration(o.Files), ds.FirstCommit.Sub(ds.Mark).Round(time.Millisecond))
	return rate, cpu, nil
}

// single drops one small file into the latency watch and returns rename →
// commit on the sink's clock.
func (b *bench) single(ctx context.Context, d *daemonProc, scenario string) (time.Duration, error) {
	b.seq++
	name := fmt.Sprintf("s%04d.dat", b.seq)
	src := filepath.Join(b.o.Dir, "stage", scenario, name)
	if err := b.writeFile(src, BenchRoot+"/"+scenario+"/"+name, b.o.FileSize); err != nil {
		return 0, err
	}
	st, err := b.stats(ctx, scenario)
	if err != nil {
		return 0, err
	}
	if err := b.control(ctx, http.MethodPost, "mark", scenario, nil); err != nil {
		return 0, err
	}
	if err := os.Rename(src, filepath.Join(b.o.Dir, "watch-"+scenario, name)); err != nil {
		return 0, err
	}
	s, err := b.waitFiles(ctx, scenario, st.Files+1, d)
	if err != nil {
		return 0, err
	}
	return s.LastCommit.Sub(s.Mark), nil
}

// large compares the bare uploader and dropsync on one large chunked file,
// alternating as the burst does (bare, dropsync, …, bare, each dropsync
// round against the mean of the bare runs around it, the median of the
// rounds reported), and the peak RSS of fresh daemons delivering a small
// and the large file: a small one before each large one, and the highest
// of each kind compared, so that both sides are sampled alike (one small
// daemon against the highest of three large ones counted the spread of
// the binary's file-backed pages, about ±0.5 MiB between daemons, as
// growth). The files are written once and renamed back out of the watch
// after each round.
func (b *bench) large(ctx context.Context, r *Report) error {
	o := b.o
	stage := filepath.Join(o.Dir, "stage")
	src := filepath.Join(stage, "large", "big.dat")
	sum, err := writeRandom(src, o.Large)
	if err != nil {
		return err
	}
	small := filepath.Join(stage, "small", "big.dat")
	smallSum, err := writeRandom(small, o.Small)
	if err != nil {
		return err
	}

	bare := make([]float64, o.Rounds+1)
	var rates []float64
	for k := 0; k <= o.Rounds; k++ {
		scenario := round("large-bare", k)
		if err := b.mkdirRemote(ctx, scenario); err != nil {
			return err
		}
		b.expect[BenchRoot+"/"+scenario+"/big.dat"] = sum
		b.logf("bare uploader: one %s file in %s chunks", size(o.Large), size(o.Chunk))
		if err := b.control(ctx, http.MethodPost, "mark", scenario, nil); err != nil {
			return err
		}
		c0, s0, err := b.sampleBoth(os.Getpid())
		if err != nil {
			return err
		}
		if err := newBare(b.sink, "bench", 1).putChunked(ctx, src, BenchRoot+"/"+scenario, "big.dat", o.Chunk); err != nil {
			return fmt.Errorf("bare: large: %w", err)
		}
		bs, err := b.waitFiles(ctx, scenario, 1, nil)
		if err != nil {
			return err
		}
		c1, s1, err := b.sampleBoth(os.Getpid())
		if err != nil {
			return err
		}
		bare[k] = float64(o.Large) / bs.LastCommit.Sub(bs.Mark).Seconds() / 1e6
		b.logf("bare uploader: %.0f MB/s, %.0f MB/s from its first request; CPU %s, the sink's %s (%d switches)", bare[k], float64(o.Large)/bs.LastCommit.Sub(bs.FirstRequest).Seconds()/1e6, (c1.cpu - c0.cpu).Round(time.Millisecond), (s1.cpu - s0.cpu).Round(time.Millisecond), s1.switches-s0.switches)
		if k > 0 {
			ratio := rates[k-1] / ((bare[k-1] + bare[k]) / 2)
			r.LargeRatios = append(r.LargeRatios, ratio)
			b.logf("dropsync: %.2f× the bare uploader (mean of %.0f and %.0f MB/s)", ratio, bare[k-1], bare[k])
		}
		if k == o.Rounds {
			break
		}
		scenario = round("small", k)
		if err := b.mkdirRemote(ctx, scenario); err != nil {
			return err
		}
		b.expect[BenchRoot+"/"+scenario+"/big.dat"] = smallSum
		var rss int64
		if _, err := b.daemonLarge(ctx, scenario, small, &rss); err != nil {
			return err
		}
		r.RSSSmalls, r.RSSSmall = append(r.RSSSmalls, rss), max(r.RSSSmall, rss)
		b.logf("dropsync: peak RSS delivering %s: %.1f MiB", size(o.Small), float64(rss)/(1<<20))

		scenario = round("large", k)
		if err := b.mkdirRemote(ctx, scenario); err != nil {
			return err
		}
		b.expect[BenchRoot+"/"+scenario+"/big.dat"] = sum
		rate, err := b.daemonLarge(ctx, scenario, src, &rss)
		if err != nil {
			return err
		}
		rates = append(rates, rate)
		r.RSSLarges, r.RSSLarge = append(r.RSSLarges, rss), max(r.RSSLarge, rss)
		b.logf("dropsync: peak RSS delivering %s: %.1f MiB", size(o.Large), float64(rss)/(1<<20))
	}
	r.LargeRatio = median(slices.Clone(r.LargeRatios))
	r.DropsyncLargeMBps, r.BareLargeMBps = median(rates), median(bare)
	r.RSSGrow = float64(r.RSSLarge)/float64(r.RSSSmall) - 1
	os.Remove(src) // a -dir of the user's keeps no GiB behind
	os.Remove(small)
	return nil
}

// daemonLarge starts a fresh daemon watching scenario, renames src into
// its watch once the daemon is ready, waits for the commit, and returns the
// rate in MB/s (rename to commit minus settle) and the daemon's peak RSS in
// *rss. The file goes back to src afterwards.
func (b *bench) daemonLarge(ctx context.Context, scenario, src string, rss *int64) (float64, error) {
	o := b.o
	d, err := b.startDaemonNotify(ctx, scenario, scenario)
	if err != nil {
		return 0, err
	}
	defer d.stop()
	if err := d.waitReady(ctx); err != nil {
		return 0, err
	}
	if err := b.control(ctx, http.MethodPost, "mark", scenario, nil); err != nil {
		return 0, err
	}
	c0, s0, err := b.sampleBoth(d.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	dst := filepath.Join(o.Dir, "watch-"+scenario, filepath.Base(src))
	if err := os.Rename(src, dst); err != nil {
		return 0, err
	}
	s, err := b.waitFiles(ctx, scenario, 1, d)
	if err != nil {
		return 0, err
	}
	c1, s1, err := b.sampleBoth(d.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	if *rss, err = peakRSS(d.cmd.Process.Pid); err != nil {
		return 0, err
	}
	if err := d.stop(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return 0, err
	}
	rate := float64(fi.Size()) / (s.LastCommit.Sub(s.Mark) - o.Settle).Seconds() / 1e6
	b.logf("dropsync: %s: %.0f MB/s (settle excluded), %.0f MB/s from its first request; first request %s after the rename; CPU %s, the sink's %s (%d switches)", scenario, rate,
		float64(fi.Size())/s.LastCommit.Sub(s.FirstRequest).Seconds()/1e6, s.FirstRequest.Sub(s.Mark).Round(time.Millisecond), (c1.cpu - c0.cpu).Round(time.Millisecond), (s1.cpu - s0.cpu).Round(time.Millisecond), s1.switches-s0.switches)
	return rate, os.Rename(dst, src)
}

// sampleBoth samples the process pid and the sink.
func (b *bench) sampleBoth(pid int) (procSample, procSample, error) {
	p, err := sampleProc(pid)
	if err != nil {
		return p, procSample{}, err
	}
	s, err := sampleProc(b.sinkPID)
	return p, s, err
}

// verify compares every file the sink holds with the local SHA-256.
func (b *bench) verify(ctx context.Context) (int, error) {
	got := map[string]File{}
	for _, s := range b.scenarios {
		var fs map[string]File
		if err := b.control(ctx, http.MethodGet, "files", s, &fs); err != nil {
			return 0, err
		}
		for p, f := range fs {
			got[p] = f
		}
	}
	var bad []string
	for p, want := range b.expect {
		if f, ok := got[p]; !ok {
			bad = append(bad, p+": not on the server")
		} else if f.SHA256 != want {
			bad = append(bad, p+": SHA-256 differs")
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return 0, fmt.Errorf("hotbench: %d of %d files not delivered intact, e.g. %s", len(bad), len(b.expect), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	return len(b.expect), nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// daemonProc is a running `dropsync run`.
type daemonProc struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
	ready   chan struct{} // closed at READY=1 on the notify socket (startDaemonNotify)
}

// startDaemon runs dropsync with one watch per scenario (Dir/watch-S
// delivering to BenchRoot/S) and its own state folder.
func (b *bench) startDaemon(ctx context.Context, name string, scenarios ...string) (*daemonProc, error) {
	return b.startDaemonEnv(ctx, name, nil, scenarios...)
}

// startDaemonNotify is startDaemon with a notify socket of the bench's own
// in NOTIFY_SOCKET, as systemd gives a Type=notify service: d.ready closes
// when the daemon sends READY=1 (its queue is open and every watch's
// start-up scan has run). The daemon then refreshes its STATUS every 10 s.
func (b *bench) startDaemonNotify(ctx context.Context, name string, scenarios ...string) (*daemonProc, error) {
	dir, err := os.MkdirTemp("", "dropsync-notify")
	if err != nil {
		return nil, err
	}
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d, err := b.startDaemonEnv(ctx, name, []string{"NOTIFY_SOCKET=" + filepath.Join(dir, "sock")}, scenarios...)
	if err != nil {
		nc.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	d.ready = make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		said := false
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			if !said && slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
				said = true
				close(d.ready)
			}
		}
	}()
	go func() {
		<-d.exited
		nc.Close()
		os.RemoveAll(dir)
	}()
	return d, nil
}

// waitReady waits for d's READY=1, its exit or a minute.
func (d *daemonProc) waitReady(ctx context.Context) error {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-d.ready:
		return nil
	case <-d.exited:
		return fmt.Errorf("hotbench: dropsync exited before it was ready: %v (log: %s)", d.err, d.logPath)
	case <-t.C:
		return fmt.Errorf("hotbench: dropsync did not say READY=1 within a minute (log: %s)", d.logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startDaemonEnv is startDaemon with env added to the bench's environment.
func (b *bench) startDaemonEnv(ctx context.Context, name string, env []string, scenarios ...string) (*daemonProc, error) {
	o := b.o
	var y strings.Builder
	fmt.Fprintf(&y, "state_dir: %s\nworkers: %d\nlog: {level: warn}\ntargets:\n  sink:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token: bench}\n    chunk_threshold: %d\n    chunk_size: %d\nwatches:\n",
		filepath.Join(o.Dir, "state-"+name), o.Workers, b.sink, min(o.Chunk, 10<<20), o.Chunk)
	for _, s := range scenarios {
		w := filepath.Join(o.Dir, "watch-"+s)
		if err := os.MkdirAll(w, 0o700); err != nil {
			return nil, err
		}
		fmt.Fprintf(&y, "  - path: %s\n    target: sink\n    destination: {path: %s/%s}\n    settle: %s\n", w, BenchRoot, s, o.Settle)
	}
	cfg := filepath.Join(o.Dir, "config-"+name+".yaml")
	if err := os.WriteFile(cfg, []byte(y.String()), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.Dir, "dropsync-"+name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Dropsync, "run", "-c", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("hotbench: start dropsync: %w", err)
	}
	d := &daemonProc{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		lf.Close()
		close(d.exited)
	}()
	return d, nil
}

// stop ends the daemon with SIGTERM and waits for it.
func (d *daemonProc) stop() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-d.exited:
		if d.err != nil {
			return fmt.Errorf("hotbench: dropsync: %v (log: %s)", d.err, d.logPath)
		}
		return nil
	case <-t.C:
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("hotbench: dropsync did not stop within a minute (log: %s)", d.logPath)
	}
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
