package hotbench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procSample is what /proc says about a process at one moment, summed over
// all its threads.
type procSample struct {
	switches int64         // voluntary + involuntary context switches
	cpu      time.Duration // time on a CPU (schedstat)
}

// sampleProc reads /proc/PID/task/*/status and schedstat.
func sampleProc(pid int) (procSample, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		return procSample{}, fmt.Errorf("read threads of %d: %v", pid, err)
	}
	var s procSample
	for _, t := range tasks {
		st, err := os.ReadFile(filepath.Join(t, "status"))
		if err != nil {
			continue // the thread exited meanwhile
		}
		s.switches += statusField(st, "voluntary_ctxt_switches:") + statusField(st, "nonvoluntary_ctxt_switches:")
		if ss, err := os.ReadFile(filepath.Join(t, "schedstat")); err == nil {
			if f := strings.Fields(string(ss)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				s.cpu += time.Duration(ns)
			}
		}
	}
	return s, nil
}

// peakRSS is VmHWM of pid, in bytes.
func peakRSS(pid int) (int64, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	kb := statusField(st, "VmHWM:")
	if kb == 0 {
		return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
	}
	return kb << 10, nil
}

// statusField is the first number after key in a /proc status file.
func statusField(st []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
