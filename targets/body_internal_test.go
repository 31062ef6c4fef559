package targets

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A Body keeps its hash's start state and sum in its own memory: over a
// small file, read in part, rewound and read whole, it costs two
// allocations (itself and the hex sum), and its sum is the content's.
func TestBodyRewindAndSumAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates on its own")
	}
	data := make([]byte, 4096)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := sha256.Sum256(data)
	h := sha256.New()
	buf := make([]byte, 1000)
	var sum string
	n := testing.AllocsPerRun(20, func() {
		h.Reset()
		b, err := newBody(f, 0, int64(len(data)), h, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Read(buf); err != nil {
			t.Fatal(err)
		}
		if err := b.Rewind(); err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = b.Read(buf)
		}
		if err != io.EOF || !b.complete() {
			t.Fatalf("read %d of %d bytes: %v", b.read, b.n, err)
		}
		sum = b.sumHex()
	})
	if sum != hex.EncodeToString(want[:]) {
		t.Fatalf("sum %s, want %x", sum, want)
	}
	if n > 2 {
		t.Fatalf("%.0f allocations, want 2 (the Body and its hex sum)", n)
	}
}
