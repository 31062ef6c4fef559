package queue_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// A damaged database file: the error names the file and says to move it
// aside and what follows.
func TestCorruptDatabaseErrorNamesFileAndNextStep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(dir, 0o700)
	db := filepath.Join(dir, queue.FileName)
	if err := os.WriteFile(db, []byte(strings.Repeat("not a database, a scanner's PDF. ", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := queue.Open(context.Background(), dir)
	if err == nil {
		t.Fatal("opened a damaged file")
	}
	for _, want := range []string{db, "file is not a database", "stop dropsync, move " + db + " aside", "every file in the watches as new", "on_conflict"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// The holder helper: with DROPSYNC_HOLD_DB set, this test binary opens the
// database, takes its write lock, says "held" and keeps it until stdin
// closes.
func TestHelperHoldDatabase(t *testing.T) {
	path := os.Getenv("DROPSYNC_HOLD_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	bufio.NewReader(os.Stdin).ReadString('\n')
	db.Exec(`ROLLBACK`)
}

// A database held by another program is reported within a second (not
// after a silent 10 s), with the file and the holder.
func TestLockedDatabaseIsReportedWithinASecondWithItsHolder(t *testing.T) {
	q, dir := open(t)
	db := filepath.Join(dir, queue.FileName)
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldDatabase$")
	holder.Env = append(os.Environ(), "DROPSYNC_HOLD_DB="+db)
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer stdin.Close()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "held\n" {
		t.Fatalf("helper: %q", line)
	}
	start := time.Now()
	_, err := q.Enqueue(context.Background(), []queue.Item{item("a.txt", 1)})
	took := time.Since(start)
	if err == nil {
		t.Fatal("enqueue succeeded under another program's lock")
	}
	// The busy timeout is one second; the bound leaves room for a loaded
	// machine and still tells it from the old silent 10 s.
	if took > 3*time.Second {
		t.Errorf("the lock was reported after %s", took)
	}
	for _, want := range []string{"database is locked", db, fmt.Sprintf("queue.test (pid %d)", holder.Process.Pid), "stop it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	// The daemon's lock file names the holder as the dropsync daemon.
	os.WriteFile(filepath.Join(dir, queue.LockFileName), []byte(fmt.Sprintf("%d\n", holder.Process.Pid)), 0o600)
	_, err = q.Enqueue(context.Background(), []queue.Item{item("a.txt", 1)})
	if want := fmt.Sprintf("held by the dropsync daemon (pid %d)", holder.Process.Pid); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v\nlacks %q", err, want)
	}
}
