package sbm

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

func tempFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh, data
}

// TestEncodedBodyResend: a body closed half-way (a 401 after part of the
// upload) is stopped, the file rewound, and the next body yields exactly
// prefix + base64 + suffix with the length the request declares.
func TestEncodedBodyResend(t *testing.T) {
	fh, data := tempFile(t, 300_001)
	body := targets.NewBodyForTest(fh, int64(len(data)))
	want := `{"a":"` + base64.StdEncoding.EncodeToString(data) + `"}`

	first := newEncodedBody(`{"a":"`, body, `"}`)
	if _, err := io.CopyN(io.Discard, first, 100_000); err != nil {
		t.Fatal(err)
	}
	first.Close()
	first.Close() // idempotent
	if _, err := first.Read(make([]byte, 10)); err == nil {
		t.Fatal("read after Close succeeded")
	}
	if err := body.Rewind(); err != nil {
		t.Fatal(err)
	}
	second := newEncodedBody(`{"a":"`, body, `"}`)
	got, err := io.ReadAll(second)
	second.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Fatalf("resent body differs (%d bytes, want %d)", len(got), len(want))
	}
	if n := int64(len(`{"a":"`)) + base64EncodedLen(int64(len(data))) + 2; n != int64(len(got)) {
		t.Fatalf("declared length %d, body %d", n, len(got))
	}
	if int64(base64.StdEncoding.EncodedLen(len(data))) != base64EncodedLen(int64(len(data))) {
		t.Fatal("base64EncodedLen disagrees with the standard library")
	}
}

// TestEncodedBodyClosedUnread: a body the transport never read (the server
// answered before the upload) closes without starting its encoder.
func TestEncodedBodyClosedUnread(t *testing.T) {
	fh, data := tempFile(t, 10)
	body := targets.NewBodyForTest(fh, int64(len(data)))
	e := newEncodedBody("[", body, "]")
	e.Close()
	if b, err := io.ReadAll(e); err == nil || string(b) != "[" {
		t.Fatalf("read %q, %v; want the prefix then an error", b, err)
	}
}

func TestFreeName(t *testing.T) {
	objs := []fileObjReply{{Name: "a.txt"}, {Filename: "A(2).txt"}, {Name: ".env"}, {Name: "noext"}}
	for in, want := range map[string]string{"a.txt": "a(3).txt", "b.txt": "b.txt", ".env": ".env(2)", "noext": "noext(2)"} {
		if got := freeName(objs, in); got != want {
			t.Errorf("freeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLockWordingIsNotAFileName(t *testing.T) {
	for msg, want := range map[string]bool{
		"Item 1000:140 is locked by user jsmith; the file field was not changed.": true,
		"The record lock is held by another user.":                                true,
		"File lock.txt exceeds the maximum size.":                                 false,
		"Invalid file name: unlocks.bin":                                          false,
	} {
		if got := lockMsg.MatchString(msg); got != want {
			t.Errorf("lockMsg(%q) = %v, want %v", msg, got, want)
		}
	}
}
