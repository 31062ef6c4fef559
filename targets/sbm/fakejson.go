package sbm

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonIn is a small streaming JSON reader for the fake: it walks a request
// body token by token, so that a file's base64 data (hundreds of MiB) is
// decoded and hashed as it arrives instead of being held as one string.
type jsonIn struct {
	r *bufio.Reader
}

// maxSmallString caps every JSON string other than file data.
const maxSmallString = 64 << 10

func (j *jsonIn) peek() (byte, error) {
	for {
		c, err := j.r.ReadByte()
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, j.r.UnreadByte()
	}
}

func (j *jsonIn) expect(want byte) error {
	c, err := j.peek()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("expected %q, found %q", want, c)
	}
	_, _ = j.r.ReadByte()
	return nil
}

// end checks that only white space is left.
func (j *jsonIn) end() error {
	c, err := j.peek()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("unexpected %q after the JSON value", c)
}

// object reads an object, calling fn for each key with the reader placed
// at the value, which fn must consume.
func (j *jsonIn) object(fn func(key string) error) error {
	if err := j.expect('{'); err != nil {
		return err
	}
	c, err := j.peek()
	if err != nil {
		return err
	}
	if c == '}' {
		_, _ = j.r.ReadByte()
		return nil
	}
	for {
		key, err := j.str()
		if err != nil {
			return err
		}
		if err := j.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		c, err := j.peek()
		if err != nil {
			return err
		}
		_, _ = j.r.ReadByte()
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return fmt.Errorf("expected ',' or '}' after %q, found %q", key, c)
		}
	}
}

// array reads an array, calling fn for each element.
func (j *jsonIn) array(fn func() error) error {
	if err := j.expect('['); err != nil {
		return err
	}
	c, err := j.peek()
	if err != nil {
		return err
	}
	if c == ']' {
		_, _ = j.r.ReadByte()
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		c, err := j.peek()
		if err != nil {
			return err
		}
		_, _ = j.r.ReadByte()
		switch c {
		case ',':
		case ']':
			return nil
		default:
			return fmt.Errorf("expected ',' or ']' in an array, found %q", c)
		}
	}
}

// boolean reads true or false.
func (j *jsonIn) boolean() (bool, error) {
	v, kind, err := j.scalar()
	if err != nil {
		return false, err
	}
	if kind != 'b' {
		return false, fmt.Errorf("expected true or false, found %s", v)
	}
	return v == "true", nil
}

// str reads a string of at most maxSmallString bytes.
func (j *jsonIn) str() (string, error) {
	rd, err := j.stringReader()
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxSmallString+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSmallString {
		return "", fmt.Errorf("string longer than %d bytes", maxSmallString)
	}
	if _, err := io.Copy(io.Discard, rd); err != nil { // reach the closing quote
		return "", err
	}
	return string(b), nil
}

// scalar reads a string, number, true, false or null, returning its text
// and kind ('s', 'n', 'b' or '0').
func (j *jsonIn) scalar() (string, byte, error) {
	c, err := j.peek()
	if err != nil {
		return "", 0, err
	}
	if c == '"' {
		s, err := j.str()
		return s, 's', err
	}
	var b strings.Builder
	for {
		c, err := j.r.ReadByte()
		if err != nil {
			break
		}
		if strings.IndexByte("+-.0123456789eEtruefalsn", c) < 0 {
			_ = j.r.UnreadByte()
			break
		}
		b.WriteByte(c)
		if b.Len() > 64 {
			return "", 0, errors.New("literal too long")
		}
	}
	v := b.String()
	switch v {
	case "true", "false":
		return v, 'b', nil
	case "null":
		return v, '0', nil
	}
	if _, err := strconv.ParseFloat(v, 64); err != nil || v == "" {
		return "", 0, fmt.Errorf("invalid JSON value %q", v)
	}
	return v, 'n', nil
}

// stringReader consumes the opening quote of a string and returns a reader
// of its unescaped content, which ends at the closing quote.
func (j *jsonIn) stringReader() (*stringReader, error) {
	if err := j.expect('"'); err != nil {
		return nil, err
	}
	return &stringReader{r: j.r}, nil
}

// stringReader yields the content of a JSON string as it is read.
type stringReader struct {
	r       *bufio.Reader
	done    bool
	pending []byte // UTF-8 of an escape that did not fit
}

func (s *stringReader) Read(p []byte) (int, error) {
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	for n < len(p) && !s.done {
		if _, err := s.r.Peek(1); err != nil {
			return n, unexpectedEOF(err)
		}
		buf, _ := s.r.Peek(min(s.r.Buffered(), len(p)-n))
		i := 0
		for i < len(buf) && buf[i] != '"' && buf[i] != '\\' && buf[i] >= 0x20 {
			i++
		}
		n += copy(p[n:], buf[:i])
		_, _ = s.r.Discard(i)
		if i == len(buf) {
			continue
		}
		c, _ := s.r.ReadByte()
		switch {
		case c == '"':
			s.done = true
		case c < 0x20:
			return n, fmt.Errorf("control character %#x in a string", c)
		default:
			r, err := s.escape()
			if err != nil {
				return n, err
			}
			var u [utf8.UTFMax]byte
			k := utf8.EncodeRune(u[:], r)
			m := copy(p[n:], u[:k])
			n += m
			s.pending = append(s.pending, u[m:k]...)
		}
	}
	if n == 0 && s.done {
		return 0, io.EOF
	}
	return n, nil
}

// escape reads an escape sequence after its backslash.
func (s *stringReader) escape() (rune, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		return 0, unexpectedEOF(err)
	}
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := s.hex4()
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			if b, _ := s.r.Peek(2); string(b) == `\u` {
				_, _ = s.r.Discard(2)
				r2, err := s.hex4()
				if err != nil {
					return 0, err
				}
				return utf16.DecodeRune(r, r2), nil
			}
			return utf8.RuneError, nil
		}
		return r, nil
	}
	return 0, fmt.Errorf("invalid escape \\%c in a string", c)
}

func (s *stringReader) hex4() (rune, error) {
	var b [4]byte
	if _, err := io.ReadFull(s.r, b[:]); err != nil {
		return 0, unexpectedEOF(err)
	}
	v, err := strconv.ParseUint(string(b[:]), 16, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid escape \\u%s", b[:])
	}
	return rune(v), nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fakeUpdate is a parsed UpdateFileField (or GetFileField) body. Nil
// pointers are keys that were absent.
type fakeUpdate struct {
	IncludeFile, DeleteAll, BreakLock, AlwaysTrans *bool
	Filter                                         []string
	Objects                                        []SentObject
	HasList                                        bool
}

// parseUpdate reads an UpdateFileField body (or, with get, a GetFileField
// body), strictly: known keys with the documented types only, file data
// valid base64, which is decoded and hashed on the way.
func parseUpdate(r *bufio.Reader, get bool) (*fakeUpdate, error) {
	j := &jsonIn{r: r}
	u := &fakeUpdate{}
	err := j.object(func(key string) error {
		flag := map[string]**bool{"includeFile": &u.IncludeFile, "deleteAll": &u.DeleteAll, "breakLock": &u.BreakLock, "alwaysTrans": &u.AlwaysTrans}[key]
		if get && key != "includeFile" && key != "fileObjFilter" {
			flag = nil
		}
		switch {
		case flag != nil:
			v, err := j.boolean()
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*flag = &v
			return nil
		case key == "fileObjFilter":
			return j.array(func() error {
				v, kind, err := j.scalar()
				if err != nil || (kind != 's' && kind != 'n') {
					return fmt.Errorf("fileObjFilter: want IDs, UUIDs, file names or names (strings or integers)")
				}
				u.Filter = append(u.Filter, v)
				return nil
			})
		case key == "fileObjList" && !get:
			u.HasList = true
			return j.array(func() error {
				o, err := parseFileObj(j, len(u.Objects))
				if err != nil {
					return err
				}
				u.Objects = append(u.Objects, o)
				return nil
			})
		}
		return fmt.Errorf("unknown key %q", key)
	})
	if err != nil {
		return nil, err
	}
	if err := j.end(); err != nil {
		return nil, err
	}
	if !get && !u.HasList {
		return nil, errors.New("fileObjList is required")
	}
	return u, nil
}

func parseFileObj(j *jsonIn, i int) (SentObject, error) {
	o := SentObject{}
	where := fmt.Sprintf("fileObjList[%d]", i)
	err := j.object(func(key string) error {
		switch key {
		case "action", "uuid", "name", "filename":
			v, kind, err := j.scalar()
			if err != nil || (kind != 's' && kind != '0') {
				return fmt.Errorf("%s.%s: want a string", where, key)
			}
			if kind == '0' {
				return nil
			}
			*map[string]*string{"action": &o.Action, "uuid": &o.UUID, "name": &o.Name, "filename": &o.Filename}[key] = v
			return nil
		case "id":
			v, kind, err := j.scalar()
			if err != nil || (kind != 's' && kind != 'n') {
				return fmt.Errorf("%s.id: want an integer", where)
			}
			id, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil {
				return fmt.Errorf("%s.id: %q is not an integer", where, v)
			}
			o.ID = id
			return nil
		case "contentsbase64":
			return j.object(func(k string) error {
				if k != "data" {
					return fmt.Errorf("%s.contentsbase64: unknown key %q (want data)", where, k)
				}
				rd, err := j.stringReader()
				if err != nil {
					return fmt.Errorf("%s.contentsbase64.data: want a base64 string", where)
				}
				h := sha256.New()
				n, err := io.Copy(h, base64.NewDecoder(base64.StdEncoding, rd))
				if err != nil {
					return fmt.Errorf("%s.contentsbase64.data: invalid base64: %w", where, err)
				}
				o.HasData, o.Size, o.SHA256 = true, n, hex.EncodeToString(h.Sum(nil))
				return nil
			})
		case "contents":
			return fmt.Errorf("%s.contents: contents is for URL fields (UpdateURLField); a File field takes contentsbase64", where)
		}
		return fmt.Errorf("%s: unknown key %q", where, key)
	})
	if err != nil {
		return o, err
	}
	switch o.Action {
	case "":
		o.Action = actionNewUpdate // the documented default
	case actionNewOnly, "UPDATE-ONLY", actionNewUpdate, actionDelete:
	default:
		return o, fmt.Errorf("%s.action: %q is not NEW-ONLY, UPDATE-ONLY, NEW-UPDATE or DELETE", where, o.Action)
	}
	return o, nil
}
