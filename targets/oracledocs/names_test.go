package oracledocs_test

import (
	"strings"
	"testing"
)

// TestE2ENameClashCaseInsensitive: Oracle names are case-insensitive, so
// Report.txt and report.txt in one folder would become revisions of one
// file. The second path fails naming both; the first keeps its content.
func TestE2ENameClashCaseInsensitive(t *testing.T) {
	h, fake := e2e(t, "", "")
	sum := h.WriteRandom(t, "sub/Report.txt", 100)
	h.WaitDelivered(t, "sub/Report.txt", sum)
	h.WriteRandom(t, "SUB/report.txt", 200)
	job := h.WaitFailed(t, "SUB/report.txt")
	if !strings.Contains(job.LastError, "sub/Report.txt") || !strings.Contains(job.LastError, "SUB/report.txt") {
		t.Fatalf("error %q does not name both paths", job.LastError)
	}
	if got := findRemote(t, fake, "sub/Report.txt"); len(got.Versions) != 1 || got.Latest().SHA256 != sum {
		t.Fatalf("server %+v, want only the first file's content", got)
	}
}
