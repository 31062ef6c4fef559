//go:build unix

package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
)

// A secret file that is a named pipe is refused at once: opening it
// waited for a writer, and with it validate, run, status and a reload.
func TestSecretFileThatIsAPipeIsRefusedAtOnce(t *testing.T) {
	dir, y := base(t)
	fifo := filepath.Join(dir, "tok")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	text := strings.Replace(y, "auth: {type: bearer, token: abc}", "auth: {type: bearer, token_file: "+fifo+"}", 1)
	done := make(chan error, 1)
	go func() { _, err := config.Parse(strings.NewReader(text)); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "line 6: targets.docs.auth.token_file: the secret file "+fifo+" is not a regular file (a named pipe)") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		if f, _ := os.OpenFile(fifo, os.O_WRONLY, 0); f != nil {
			f.Close() // let the load go
		}
		t.Fatal("the load still waits for a writer of the named pipe after 10 s")
	}
}
