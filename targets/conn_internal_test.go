package targets

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// countingConn records each Write it is given.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// A small request body made of several parts (a form's head, the file, the
// form's tail) goes to the socket in one write, as the bare uploader's
// request does not: each write is a segment the server wakes for, and on
// a burst of small files those segments cost both sides more than the
// bytes.
func TestRequestBodyGoesOutInWholeBuffers(t *testing.T) {
	head, file, tail := bytes.Repeat([]byte("h"), 1000), bytes.Repeat([]byte("f"), 4096), []byte("\r\n--b--\r\n")
	c := &countingConn{}
	n, err := pooledCopyConn{c}.ReadFrom(io.MultiReader(bytes.NewReader(head), bytes.NewReader(file), bytes.NewReader(tail)))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, head...), file...), tail...)
	if n != int64(len(want)) || len(c.writes) != 1 || !bytes.Equal(c.writes[0], want) {
		t.Fatalf("sent %d bytes in %d writes, want %d bytes in 1", n, len(c.writes), len(want))
	}

	// A large body goes in full buffers, the last one holding the rest.
	c = &countingConn{}
	big := bytes.Repeat([]byte("x"), 2*copyBufSize+100)
	if n, err = (pooledCopyConn{c}).ReadFrom(io.MultiReader(bytes.NewReader(big[:10]), bytes.NewReader(big[10:]))); err != nil || n != int64(len(big)) {
		t.Fatalf("sent %d, %v", n, err)
	}
	if len(c.writes) != 3 || len(c.writes[0]) != copyBufSize || len(c.writes[2]) != 100 || !bytes.Equal(bytes.Join(c.writes, nil), big) {
		t.Fatalf("%d writes", len(c.writes))
	}

	// A failing read ends the copy with its error.
	boom := errors.New("boom")
	c = &countingConn{}
	if _, err := (pooledCopyConn{c}).ReadFrom(io.MultiReader(bytes.NewReader(head), iotestErr{boom})); !errors.Is(err, boom) {
		t.Fatalf("err %v, want %v", err, boom)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
