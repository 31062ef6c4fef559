package sensenet

import (
	"encoding/json"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

// resultSeeds are Upload answers as the server, the fake and the bench
// sink give them (the first eight: scanResult reads them), and shapes it
// must leave to json.Unmarshal.
var resultSeeds = []string{
	`{"Url":"/Root/Content/Documents/a.pdf","Thumbnail_url":"/Root/Content/Documents/a.pdf/Thumbnail","Name":"a.pdf","Length":4096,"Type":"File","Id":1234}`,
	`{"Id":7,"Length":0,"Name":"x","Type":"File","Url":"/Root/Bench/d000/x"}`,
	` { "Url" : "/Root/ü ✓" , "Name":"ü ✓.txt",` + "\n\t" + `"Length":-0, "Id":-12 } `,
	`{}`, `{"Name":null,"Id":null,"Length":null,"Url":null,"Type":null}`,
	`{"Name":"a","Name":"b","Id":1,"Id":2}`, `{"Name":"a","Name":null}`,
	`{"Extra":true,"Other":false,"More":null,"N":1.5e3,"M":-0.25,"Name":"n","Id":3}`,
	`{"Name":"with \"escape\"","Id":1}`, `{"Name":"a\u00e9","Id":1}`, `{"name":"lower","Id":1}`, `{"ID":2}`,
	`{"Id":"12"}`, `{"Id":1.5}`, `{"Id":1e3}`, `{"Length":"4096"}`, `{"Length":4096.0}`, `{"Length":99999999999999999999}`,
	`{"Name":1}`, `{"Name":true}`, `{"X":{"a":1}}`, `{"X":[1,2]}`, `{"Kelvin\u212a":1}`, "{\"\xe2\x84\xaa\":1}",
	`{"Name":"a",}`, `{"Name":"a"`, `{"Name" "a"}`, `{"Id":01}`, `{"Id":-}`, `{"Id":1.}`, `{"Id":1e}`, `{"Id":+1}`,
	`{"Id":true}`, `{"Length":false}`, `{"Id":-}`, `{"X":tru}`, `{"X":truex}`, `{"X":nul}`, `"token"`, `[]`, ``, `{"Name":"a"} x`, "{\"Name\":\"a\x01\"}", "{\"Name\":\"\xff\"}",
}

// scanResult reads an answer only as json.Unmarshal does: every answer it
// accepts decodes the same with json.Unmarshal.
func FuzzScanResult(f *testing.F) {
	for _, s := range resultSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := scanResult(raw)
		if !ok {
			return
		}
		var want uploadResult
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("scanResult accepted %q, which json.Unmarshal refuses: %v", raw, err)
		}
		if got != want {
			t.Fatalf("scanResult(%q) = %+v, json.Unmarshal gives %+v", raw, got, want)
		}
	})
}

// The answers of the server, the fake and the bench sink are read by
// scanResult, in one allocation.
func TestScanResultReadsTheUsualAnswers(t *testing.T) {
	for _, s := range resultSeeds[:8] {
		if _, ok := scanResult([]byte(s)); !ok {
			t.Errorf("scanResult does not read %s", s)
		}
	}
	if raceDetector {
		return // the race detector allocates on its own
	}
	raw := []byte(resultSeeds[0])
	if n := testing.AllocsPerRun(100, func() { scanResult(raw) }); n > 1 {
		t.Errorf("%.0f allocations, want 1", n)
	}
}

// An upload's fields, form and parsed answer: the form's three
// allocations, the size as text, and the answer's string.
func TestUploadRequestPartsAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates on its own")
	}
	f := &targets.File{Rel: "d001/f000123.dat", Size: 4096, Dest: &Destination{Path: "/Root/Bench", ContentType: "File"}, OnConflict: "version"}
	p := &targets.Plan{Name: "f000123.dat", Parent: "/Root/Bench/d001"}
	raw := []byte(resultSeeds[0])
	n := testing.AllocsPerRun(100, func() {
		var fb [7]field
		fields, err := uploadFields(&fb, f, p, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newForm(append(fields, field{"ChunkToken", wholeToken}), p.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := parseResult("op", raw, 4096); err != nil {
			t.Fatal(err)
		}
	})
	if n > 5 {
		t.Fatalf("%.0f allocations, want 5", n)
	}
}
