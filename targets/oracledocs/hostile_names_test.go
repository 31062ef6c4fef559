package oracledocs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// TestE2ENameClashUnderCaseFoldingNotOnlyLowerCase: the server compares
// names without case by case folding (the fake: strings.EqualFold), under
// which "ſ" (U+017F LATIN SMALL LETTER LONG S) and "s", or "ς" (final
// sigma) and "σ", are one letter, while strings.ToLower leaves "ſ" and "ς"
// as they are. NameKey lower-cases with strings.ToLower, so the daemon
// does not see that "ſcan.txt" meets "scan.txt": the second file's
// Upload File lands on the first's remote file as its next revision and
// takes over its content, where the README promises that the second path
// fails naming both and the first keeps its content
// (TestE2ENameClashCaseInsensitive for Report.txt / report.txt).
func TestE2ENameClashUnderCaseFoldingNotOnlyLowerCase(t *testing.T) {
	for _, pair := range [][2]string{{"scan.txt", "ſcan.txt"}, {"σ.txt", "ς.txt"}} {
		first, second := pair[0], pair[1]
		t.Run(first, func(t *testing.T) {
			h, fake := e2e(t, "", "")
			sum := h.WriteRandom(t, first, 100)
			h.WaitDelivered(t, first, sum)
			h.WriteRandom(t, second, 200)
			daemontest.Eventually(t, "the second file done or failed", func() bool {
				js, err := h.Queue().Jobs(context.Background(), "", second, 1)
				if err != nil {
					t.Fatal(err)
				}
				return len(js) > 0 && (js[0].State == queue.Done || js[0].State == queue.Failed)
			})
			if got := findRemote(t, fake, first); len(got.Versions) != 1 || got.Latest().SHA256 != sum {
				t.Errorf("server file %q holds %d versions, latest %s; want only %q's content %s: %q became its next revision without a clash being reported",
					got.Name, len(got.Versions), got.Latest().SHA256, first, sum, second)
			}
			js, err := h.Queue().Jobs(context.Background(), "", second, 1)
			if err != nil {
				t.Fatal(err)
			}
			if js[0].State != queue.Failed || !strings.Contains(js[0].LastError, first) {
				t.Errorf("%q is %s (%q), want failed naming %q", second, js[0].State, js[0].LastError, first)
			}
		})
	}
}
