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
//     bare uploader sending the same chunks;
//   - peak RSS (VmHWM) of a fresh daemon delivering a small vs a large file;
//   - idle wake-ups (voluntary + involuntary context switches of all
//     threads) and CPU time over an idle window;
//   - the latency of single dropped files (rename to commit), p50.
//
// Every delivered file's SHA-256 is compared with the one the sink
// computed; a missing or different file fails the run. Ratios are always
// against the baseline measured in the same run.
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
	BurstRatio          float64 `json:"burst_ratio"`
	BareReqPerFile      float64 `json:"bare_requests_per_file"`
	DropsyncReqPerFile  float64 `json:"dropsync_requests_per_file"`
	DropsyncConns       int64   `json:"dropsync_connections"` // opened during the burst
	// CPU time per file of the burst: the bare uploader's process and
	// dropsync's (all threads); steadier than rates on a shared machine.
	BareCPUPerFile     time.Duration `json:"bare_cpu_per_file"`
	DropsyncCPUPerFile time.Duration `json:"dropsync_cpu_per_file"`

	BareLargeMBps     float64 `json:"bare_large_MBps"`
	DropsyncLargeMBps float64 `json:"dropsync_large_MBps"`
	LargeRatio        float64 `json:"large_ratio"`

	RSSSmall int64   `json:"rss_small_bytes"`
	RSSLarge int64   `json:"rss_large_bytes"`
	RSSGrow  float64 `json:"rss_growth"` // RSSLarge/RSSSmall - 1

	IdleWakeupsPerSec float64       `json:"idle_wakeups_per_s"`
	IdleCPU           time.Duration `json:"idle_cpu_per_window"`

	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyMax time.Duration `json:"latency_max"`

	Verified int `json:"verified_files"`
}

// Print writes the report as the README's table.
func (r *Report) Print(w io.Writer) {
	o := r.Opts
	fmt.Fprintf(w, "| scenario | dropsync | bare uploader (%d workers, keep-alive; burst: mean of a run before and after dropsync's) | ratio |\n|---|---|---|---|\n", o.Workers)
	fmt.Fprintf(w, "| %d × %s files renamed into %d new sub-folders (settle %s), first rename → last commit | %.0f files/s, %.2f requests/file | %.0f files/s, %.2f requests/file | **%.2f×** |\n",
		o.Files, size(o.FileSize), o.Folders, o.Settle, r.DropsyncFilesPerSec, r.DropsyncReqPerFile, r.BareFilesPerSec, r.BareReqPerFile, r.BurstRatio)
	fmt.Fprintf(w, "| connections opened during that burst | %d | | |\n", r.DropsyncConns)
	fmt.Fprintf(w, "| CPU time per file of that burst (all threads of the process) | %s | %s | |\n", r.DropsyncCPUPerFile.Round(time.Microsecond), r.BareCPUPerFile.Round(time.Microsecond))
	fmt.Fprintf(w, "| one %s file, %s chunks, rename → commit, settle excluded | %.0f MB/s | %.0f MB/s | **%.2f×** |\n",
		size(o.Large), size(o.Chunk), r.DropsyncLargeMBps, r.BareLargeMBps, r.LargeRatio)
	fmt.Fprintf(w, "| peak RSS (VmHWM), %s vs %s file | %.1f vs %.1f MiB | | **%+.1f%%** |\n",
		size(o.Large), size(o.Small), float64(r.RSSLarge)/(1<<20), float64(r.RSSSmall)/(1<<20), 100*r.RSSGrow)
	fmt.Fprintf(w, "| idle, nothing to do, %s | %.2f wake-ups/s, %.1f ms CPU | | |\n", o.Idle, r.IdleWakeupsPerSec, float64(r.IdleCPU)/1e6)
	fmt.Fprintf(w, "| single file, rename → commit (%d samples) | p50 %s (max %s), settle %s | | |\n",
		o.Latency, r.LatencyP50.Round(time.Millisecond), r.LatencyMax.Round(time.Millisecond), o.Settle)
	fmt.Fprintf(w, "\nverified: %d files, SHA-256 on the server equal to the local files\n", r.Verified)
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
	seq     int
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
	return newBare(b.sink, "bench", 1).mkdir(ctx, BenchRoot, name)
}

// writeFile writes n random bytes to path and remembers their SHA-256
// under remote.
func (b *bench) writeFile(path, remote string, n int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	b.expect[remote] = hex.EncodeToString(h.Sum(nil))
	return nil
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

// burst runs the bare uploader, then dropsync, then the bare uploader
// again (the baseline is the mean of the two, so that a change of the
// machine's load during the run weighs on both sides), then measures
// dropsync at idle and the latency of single files.
func (b *bench) burst(ctx context.Context, r *Report) error {
	o := b.o
	stage := filepath.Join(o.Dir, "stage")
	rate1, reqs, cpu1, err := b.bareBurst(ctx, "bare")
	if err != nil {
		return err
	}
	r.BareReqPerFile = reqs

	// dropsync, with a watch for the burst and one for single files.
	for _, s := range []string{"burst", "latency"} {
		if err := b.mkdirRemote(ctx, s); err != nil {
			return err
		}
	}
	d, err := b.startDaemon(ctx, "a", "burst", "latency")
	if err != nil {
		return err
	}
	defer d.stop()
	// One file through the latency watch shows the daemon is up.
	if _, err := b.single(ctx, d, "latency"); err != nil {
		return err
	}
	dirs, files, err := b.stageBurst(filepath.Join(stage, "burst"), BenchRoot+"/burst")
	if err != nil {
		return err
	}
	before, err := b.stats(ctx, "burst")
	if err != nil {
		return err
	}
	b.logf("dropsync: renaming %d files into %d new sub-folders", len(files), len(dirs))
	c0, err := sampleProc(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	sink0, err := sampleProc(b.sinkPID)
	if err != nil {
		return err
	}
	if err := b.control(ctx, http.MethodPost, "mark", "burst", nil); err != nil {
		return err
	}
	watch := filepath.Join(o.Dir, "watch-burst")
	for i, dir := range dirs {
		if err := os.Mkdir(filepath.Join(watch, dir), 0o700); err != nil {
			return err
		}
		for j := i; j < len(files); j += len(dirs) {
			f := files[j]
			if err := os.Rename(f.src, filepath.Join(watch, f.dir, f.name)); err != nil {
				return err
			}
		}
	}
	ds, err := b.waitFiles(ctx, "burst", int64(o.Files), d)
	if err != nil {
		return err
	}
	c1, err := sampleProc(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	sink1, err := sampleProc(b.sinkPID)
	if err != nil {
		return err
	}
	r.DropsyncCPUPerFile = (c1.cpu - c0.cpu) / time.Duration(o.Files)
	sinkCPU := (sink1.cpu - sink0.cpu) / time.Duration(o.Files)
	r.DropsyncFilesPerSec = float64(o.Files) / ds.LastCommit.Sub(ds.Mark).Seconds()
	r.DropsyncReqPerFile = float64(ds.Requests-before.Requests) / float64(o.Files)
	r.DropsyncConns = ds.Conns - before.Conns
	b.logf("dropsync: %.0f files/s, %.2f requests/file, CPU per file %s, the sink's %s; first commit after %s",
		r.DropsyncFilesPerSec, r.DropsyncReqPerFile, r.DropsyncCPUPerFile, sinkCPU, ds.FirstCommit.Sub(ds.Mark).Round(time.Millisecond))
	rate2, _, cpu2, err := b.bareBurst(ctx, "bare2")
	if err != nil {
		return err
	}
	r.BareFilesPerSec, r.BareCPUPerFile = (rate1+rate2)/2, (cpu1+cpu2)/2
	r.BurstRatio = r.DropsyncFilesPerSec / r.BareFilesPerSec
	b.logf("dropsync: %.2f× the bare uploader (mean of %.0f and %.0f files/s)", r.BurstRatio, rate1, rate2)

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
// and the peak RSS of fresh daemons delivering a small and the large file.
func (b *bench) large(ctx context.Context, r *Report) error {
	o := b.o
	for _, s := range []string{"large-bare", "small", "large"} {
		if err := b.mkdirRemote(ctx, s); err != nil {
			return err
		}
	}
	stage := filepath.Join(o.Dir, "stage")
	src := filepath.Join(stage, "large-bare", "big.dat")
	if err := b.writeFile(src, BenchRoot+"/large-bare/big.dat", o.Large); err != nil {
		return err
	}
	b.logf("bare uploader: one %s file in %s chunks", size(o.Large), size(o.Chunk))
	if err := b.control(ctx, http.MethodPost, "mark", "large-bare", nil); err != nil {
		return err
	}
	if err := newBare(b.sink, "bench", 1).putChunked(ctx, src, BenchRoot+"/large-bare", "big.dat", o.Chunk); err != nil {
		return fmt.Errorf("bare: large: %w", err)
	}
	bs, err := b.waitFiles(ctx, "large-bare", 1, nil)
	if err != nil {
		return err
	}
	r.BareLargeMBps = float64(o.Large) / bs.LastCommit.Sub(bs.Mark).Seconds() / 1e6
	os.Remove(src)
	b.logf("bare uploader: %.0f MB/s", r.BareLargeMBps)

	for _, c := range []struct {
		scenario string
		n        int64
		rss      *int64
	}{{"small", o.Small, &r.RSSSmall}, {"large", o.Large, &r.RSSLarge}} {
		src := filepath.Join(stage, c.scenario, "big.dat")
		if err := b.writeFile(src, BenchRoot+"/"+c.scenario+"/big.dat", c.n); err != nil {
			return err
		}
		d, err := b.startDaemon(ctx, c.scenario, c.scenario)
		if err != nil {
			return err
		}
		if err := b.control(ctx, http.MethodPost, "mark", c.scenario, nil); err != nil {
			d.stop()
			return err
		}
		if err := os.Rename(src, filepath.Join(o.Dir, "watch-"+c.scenario, "big.dat")); err != nil {
			d.stop()
			return err
		}
		s, err := b.waitFiles(ctx, c.scenario, 1, d)
		if err != nil {
			d.stop()
			return err
		}
		if *c.rss, err = peakRSS(d.cmd.Process.Pid); err != nil {
			d.stop()
			return err
		}
		if c.scenario == "large" {
			r.DropsyncLargeMBps = float64(o.Large) / (s.LastCommit.Sub(s.Mark) - o.Settle).Seconds() / 1e6
			r.LargeRatio = r.DropsyncLargeMBps / r.BareLargeMBps
			b.logf("dropsync: %.0f MB/s (settle excluded): %.2f× the bare uploader", r.DropsyncLargeMBps, r.LargeRatio)
		}
		b.logf("dropsync: peak RSS delivering %s: %.1f MiB", size(c.n), float64(*c.rss)/(1<<20))
		if err := d.stop(); err != nil {
			return err
		}
		os.Remove(filepath.Join(o.Dir, "watch-"+c.scenario, "big.dat"))
	}
	r.RSSGrow = float64(r.RSSLarge)/float64(r.RSSSmall) - 1
	return nil
}

// verify compares every file the sink holds with the local SHA-256.
func (b *bench) verify(ctx context.Context) (int, error) {
	got := map[string]File{}
	for _, s := range []string{"bare", "bare2", "burst", "latency", "large-bare", "small", "large"} {
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
}

// startDaemon runs dropsync with one watch per scenario (Dir/watch-S
// delivering to BenchRoot/S) and its own state folder.
func (b *bench) startDaemon(ctx context.Context, name string, scenarios ...string) (*daemonProc, error) {
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
