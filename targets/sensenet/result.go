package sensenet

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// scanResult reads the Upload action's answer, a flat JSON object such as
// {"Url":"/Root/…/a.pdf","Name":"a.pdf","Length":4096,"Type":"File","Id":1234},
// without reflection, in one allocation (the answer as a string, which the
// fields share). It handles only what it can read exactly as json.Unmarshal
// would into uploadResult: members whose values are strings without
// escapes, numbers, true, false or null, keys in ASCII. For anything else
// (an escape, a nested value, a key that matches a field only by case, a
// value of another type than its field's) ok is false and the caller
// takes json.Unmarshal.
func scanResult(raw []byte) (res uploadResult, ok bool) {
	type span struct{ from, to int } // of a string's contents or a number
	var url, name, typ, id span
	var length int64
	var set [5]bool // url, name, typ, id, length were given a value
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return uploadResult{}, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			key, next, ok := scanString(raw, i)
			if !ok {
				return uploadResult{}, false
			}
			i = skipSpace(raw, next)
			if i == len(raw) || raw[i] != ':' {
				return uploadResult{}, false
			}
			i = skipSpace(raw, i+1)
			if i == len(raw) {
				return uploadResult{}, false
			}
			// The value: a string, a number or a literal.
			var v span
			isString, isNull := false, false
			switch c := raw[i]; {
			case c == '"':
				s, next, ok := scanString(raw, i)
				if !ok {
					return uploadResult{}, false
				}
				v, isString, i = span{s.from, s.to}, true, next
			case c == '-' || '0' <= c && c <= '9':
				end := numberEnd(raw, i)
				if end < 0 {
					return uploadResult{}, false
				}
				v, i = span{i, end}, end
			default:
				lit := ""
				for _, l := range [...]string{"true", "false", "null"} {
					if len(raw)-i >= len(l) && string(raw[i:i+len(l)]) == l {
						lit = l
					}
				}
				if lit == "" {
					return uploadResult{}, false
				}
				isNull = lit == "null"
				v, i = span{i, i + len(lit)}, i+len(lit)
			}
			k := string(raw[key.from:key.to])
			switch k {
			case "Url", "Name", "Type":
				if isNull {
					break // a null leaves the field as it is
				}
				if !isString {
					return uploadResult{}, false
				}
				switch k {
				case "Url":
					url, set[0] = v, true
				case "Name":
					name, set[1] = v, true
				default:
					typ, set[2] = v, true
				}
			case "Id":
				if isNull {
					break
				}
				if isString || !isInteger(raw[v.from:v.to]) {
					return uploadResult{}, false
				}
				id, set[3] = v, true
			case "Length":
				if isNull {
					break
				}
				if isString || !isInteger(raw[v.from:v.to]) {
					return uploadResult{}, false
				}
				n, err := strconv.ParseInt(string(raw[v.from:v.to]), 10, 64)
				if err != nil {
					return uploadResult{}, false
				}
				length, set[4] = n, true
			default:
				for _, f := range [...]string{"Url", "Name", "Type", "Id", "Length"} {
					if strings.EqualFold(k, f) {
						return uploadResult{}, false // json.Unmarshal takes it for f
					}
				}
				for _, c := range raw[key.from:key.to] {
					if c >= utf8.RuneSelf {
						return uploadResult{}, false // json.Unmarshal folds Unicode
					}
				}
			}
			i = skipSpace(raw, i)
			if i == len(raw) {
				return uploadResult{}, false
			}
			if raw[i] == '}' {
				i++
				break
			}
			if raw[i] != ',' {
				return uploadResult{}, false
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return uploadResult{}, false
	}
	s := string(raw)
	if set[0] {
		res.URL = s[url.from:url.to]
	}
	if set[1] {
		res.Name = s[name.from:name.to]
	}
	if set[2] {
		res.Type = s[typ.from:typ.to]
	}
	if set[3] {
		res.ID = json.Number(s[id.from:id.to])
	}
	if set[4] {
		res.Length = length
	}
	return res, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the string starting at b[i] ('"'): the span of its
// contents and the index after its closing quote; ok is false for a string
// with an escape, a control character or invalid UTF-8.
func scanString(b []byte, i int) (s struct{ from, to int }, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return s, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !utf8.Valid(b[i+1 : j]) {
				return s, 0, false
			}
			s.from, s.to = i+1, j
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return s, 0, false
		}
	}
	return s, 0, false
}

// numberEnd returns the end of the JSON number starting at b[i], or -1 if
// none starts there (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
func numberEnd(b []byte, i int) int {
	digits := func(j int) int {
		k := j
		for k < len(b) && '0' <= b[k] && b[k] <= '9' {
			k++
		}
		return k
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// isInteger reports whether a JSON value is an integer: an optional minus
// and digits, no fraction, no exponent, and not a literal (true, false).
func isInteger(n []byte) bool {
	if len(n) > 0 && n[0] == '-' {
		n = n[1:]
	}
	if len(n) == 0 {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
