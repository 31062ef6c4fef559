package sensenet

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
	"testing/iotest"
)

// A chunk's form is built in one buffer of its size: every chunk of a
// large upload builds one, and its garbage used to be three growing
// buffers and a concatenated string per field (about 3 KiB per chunk).
func TestNewFormAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates on its own")
	}
	fields := []field{{"FileName", "scan 0001.pdf"}, {"ContentType", "File"}, {"PropertyName", "Binary"}, {"UseChunk", "True"},
		{"Overwrite", "True"}, {"FileLength", "1073741824"}, {"ChunkToken", "1234*abcdefabcdef*True*True"}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := newForm(fields, "scan 0001.pdf"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("newForm makes %.0f allocations, want at most 3 (the form, its buffer, its content type)", allocs)
	}

	fm, err := newForm(fields, "scan 0001.pdf")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.0f allocations, a buffer of %d bytes for a form of %d", allocs, cap(fm.tail)+len(fm.head), len(fm.head)+len(fm.tail))
	if n := len(fm.head) + len(fm.tail); cap(fm.tail)+len(fm.head) > n+n/4 {
		t.Errorf("a buffer of %d bytes for a form of %d", cap(fm.tail)+len(fm.head), n)
	}
	_, params, err := mime.ParseMediaType(fm.contentType)
	if err != nil {
		t.Fatal(err)
	}
	// A boundary as multipart.Writer makes one: 30 random bytes in hex.
	other, _ := newForm(fields, "scan 0001.pdf")
	if b := params["boundary"]; len(b) != 60 || strings.Trim(b, "0123456789abcdef") != "" || strings.Contains(other.contentType, b) {
		t.Errorf("boundaries %q and %q", fm.contentType, other.contentType)
	}
	body := io.MultiReader(bytes.NewReader(fm.head), bytes.NewReader([]byte("PDF")), bytes.NewReader(fm.tail))
	r := multipart.NewReader(body, params["boundary"])
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			if i != len(fields)+1 {
				t.Fatalf("%d parts, want %d", i, len(fields)+1)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		if i < len(fields) {
			if p.FormName() != fields[i].name || string(v) != fields[i].value {
				t.Errorf("part %d: %s=%q, want %s=%q", i, p.FormName(), v, fields[i].name, fields[i].value)
			}
			continue
		}
		if p.FormName() != "files[]" || p.FileName() != "scan 0001.pdf" || p.Header.Get("Content-Type") != "application/pdf" || string(v) != "PDF" {
			t.Errorf("file part: name %q, file %q, type %q, content %q", p.FormName(), p.FileName(), p.Header.Get("Content-Type"), v)
		}
	}
}

// A form's body yields its head, the file and its tail whatever the size
// of the reads, with and without a file.
func TestFormBodyYieldsTheWholeForm(t *testing.T) {
	fm, err := newForm([]field{{"FileName", "a.txt"}}, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	file := bytes.Repeat([]byte("0123456789"), 1000)
	for _, c := range []struct {
		name string
		file io.Reader
		want []byte
	}{
		{"file", bytes.NewReader(file), append(append(append([]byte(nil), fm.head...), file...), fm.tail...)},
		{"no file", nil, append(append([]byte(nil), fm.head...), fm.tail...)},
	} {
		for _, small := range []bool{false, true} {
			if c.file != nil {
				c.file = bytes.NewReader(file)
			}
			var r io.Reader = &formBody{form: fm, file: c.file}
			if small {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, c.want) {
				t.Errorf("%s (one byte at a time: %v): read %d bytes (%v), want %d", c.name, small, len(got), err, len(c.want))
			}
		}
	}
}
