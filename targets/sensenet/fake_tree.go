package sensenet

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Versioning is a folder's versioning mode, as sensenet's VersioningType.
type Versioning int

// Versioning modes. A folder with VersioningInherited takes its parent's
// mode; the fake's root is VersioningMajorOnly.
const (
	VersioningInherited     Versioning = iota // the parent's mode
	VersioningNone                            // an upload replaces the binary in place
	VersioningMajorOnly                       // an upload adds the next major version, V1.0 → V2.0
	VersioningMajorAndMinor                   // an upload adds the next minor version, V0.1 → V0.2
)

// Version is one stored version of a file.
type Version struct {
	Version      string // as sensenet shows it, e.g. V2.0.A
	Major, Minor int
	SHA256       string // hex SHA-256 of the binary
	Size         int64
	FileName     string // the binary's file name (Content-Disposition or file part)
}

// Content is a snapshot of one content of the fake repository.
type Content struct {
	ID       int64
	Name     string
	Path     string
	Type     string
	Version  string // the Version field: the last version, or the next one with .L while checked out
	Locked   bool   // in a multistep save (a chunked upload not yet finalized)
	Versions []Version
}

// Current returns the content's last version (zero for a folder or a file
// whose upload has not committed).
func (c Content) Current() Version {
	if len(c.Versions) == 0 {
		return Version{}
	}
	return c.Versions[len(c.Versions)-1]
}

type node struct {
	id         int64
	name       string
	typ        string
	parent     *node
	children   map[string]*node // by lower-cased name; nil for files
	versioning Versioning
	versions   []Version
	locked     bool     // in a multistep save, checked out by the API user
	pending    *Version // binary committed but not finalized
}

var folderTypes = map[string]bool{"portalroot": true, "folder": true, "documentlibrary": true, "systemfolder": true, "workspace": true, "library": true}

func (n *node) isFolder() bool { return n.children != nil }

func (n *node) path() string {
	if n.parent == nil {
		return "/" + n.name
	}
	return n.parent.path() + "/" + n.name
}

func (n *node) child(name string) *node { return n.children[strings.ToLower(name)] }

// mode is the effective versioning mode for the files in folder n.
func (n *node) mode() Versioning {
	for c := n; c != nil; c = c.parent {
		if c.versioning != VersioningInherited {
			return c.versioning
		}
	}
	return VersioningMajorOnly
}

// versionString is what the Version field shows.
func (n *node) versionString() string {
	if len(n.versions) == 0 && !n.locked {
		return "V1.0.A"
	}
	if n.locked {
		next := n.nextVersion()
		return fmt.Sprintf("V%d.%d.L", next.Major, next.Minor)
	}
	return n.versions[len(n.versions)-1].Version
}

// nextVersion numbers the version an upload adds under the parent's mode.
func (n *node) nextVersion() Version {
	mode := VersioningMajorOnly
	if n.parent != nil {
		mode = n.parent.mode()
	}
	var last Version
	if len(n.versions) > 0 {
		last = n.versions[len(n.versions)-1]
	}
	v := Version{Major: 1}
	switch {
	case mode == VersioningMajorAndMinor && len(n.versions) == 0:
		v = Version{Major: 0, Minor: 1}
	case mode == VersioningMajorAndMinor:
		v = Version{Major: last.Major, Minor: last.Minor + 1}
	case mode == VersioningNone && len(n.versions) > 0:
		v = Version{Major: last.Major, Minor: last.Minor}
	case len(n.versions) > 0:
		v = Version{Major: last.Major + 1}
	}
	status := "A"
	if v.Minor != 0 {
		status = "D"
	}
	v.Version = fmt.Sprintf("V%d.%d.%s", v.Major, v.Minor, status)
	return v
}

// store saves binary b as the next version, or in place under
// VersioningNone.
func (n *node) store(b Version) {
	v := n.nextVersion()
	v.SHA256, v.Size, v.FileName = b.SHA256, b.Size, b.FileName
	if len(n.versions) > 0 && n.parent != nil && n.parent.mode() == VersioningNone {
		n.versions[len(n.versions)-1] = v
		return
	}
	n.versions = append(n.versions, v)
}

// fields is the OData entity of n, limited to sel (lower-cased names) when
// not nil.
func (n *node) fields(sel map[string]bool) map[string]any {
	all := map[string]any{
		"Id":       n.id,
		"Name":     n.name,
		"Path":     n.path(),
		"Type":     n.typ,
		"Version":  n.versionString(),
		"IsFolder": n.isFolder(),
		"Locked":   n.locked,
	}
	if !n.isFolder() && len(n.versions) > 0 {
		all["Size"] = n.versions[len(n.versions)-1].Size
	}
	if sel == nil {
		return all
	}
	out := map[string]any{}
	for k, v := range all {
		if sel[strings.ToLower(k)] {
			out[k] = v
		}
	}
	return out
}

func (n *node) snapshot() Content {
	return Content{ID: n.id, Name: n.name, Path: n.path(), Type: n.typ, Version: n.versionString(),
		Locked: n.locked, Versions: append([]Version(nil), n.versions...)}
}

// freeName is name, or the next name(N).ext sensenet's incremental naming
// picks when name is taken: one more than the highest existing suffix.
func (n *node) freeName(name string) string {
	if n.child(name) == nil {
		return name
	}
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if base == "" {
		base, ext = name, ""
	}
	high := 0
	for _, c := range n.children {
		if k, ok := suffixNumber(c.name, base, ext); ok && k > high {
			high = k
		}
	}
	return fmt.Sprintf("%s(%d)%s", base, high+1, ext)
}

// suffixNumber returns N when name is base(N)ext, case-insensitively.
func suffixNumber(name, base, ext string) (int, bool) {
	l, b, e := strings.ToLower(name), strings.ToLower(base)+"(", ")"+strings.ToLower(ext)
	if !strings.HasPrefix(l, b) || !strings.HasSuffix(l, e) || len(l) < len(b)+len(e)+1 {
		return 0, false
	}
	k, err := strconv.Atoi(l[len(b) : len(l)-len(e)])
	return k, err == nil && k > 0
}

// addNode creates a content under parent (the caller holds f.mu and has
// made sure the name is free).
func (f *Fake) addNode(parent *node, name, typ string) *node {
	f.nextID++
	n := &node{id: f.nextID, name: name, typ: typ, parent: parent}
	if folderTypes[strings.ToLower(typ)] {
		n.children = map[string]*node{}
	}
	parent.children[strings.ToLower(name)] = n
	f.byID[n.id] = n
	return n
}

// remove takes n and everything below it out of the tree.
func (f *Fake) remove(n *node) {
	var walk func(*node)
	walk = func(c *node) {
		delete(f.byID, c.id)
		delete(f.chunks, c.id)
		for _, k := range c.children {
			walk(k)
		}
	}
	walk(n)
	if n.parent != nil {
		delete(n.parent.children, strings.ToLower(n.name))
	}
}

// resolve finds the content at the path elements p (from Root),
// case-insensitively.
func (f *Fake) resolve(p []string) *node {
	if len(p) == 0 || !strings.EqualFold(p[0], f.root.name) {
		return nil
	}
	n := f.root
	for _, s := range p[1:] {
		if !n.isFolder() {
			return nil
		}
		if n = n.child(s); n == nil {
			return nil
		}
	}
	return n
}

// find resolves a slash-separated content path.
func (f *Fake) find(p string) *node {
	return f.resolve(strings.Split(strings.Trim(p, "/"), "/"))
}

// finalize ends a multistep save: the pending binary becomes the next
// version and the content is checked in.
func (f *Fake) finalize(n *node) {
	if n.pending != nil {
		n.store(*n.pending)
		n.pending = nil
	}
	n.locked = false
}

// Content returns a snapshot of the content at path (case-insensitive).
func (f *Fake) Content(path string) (Content, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.find(path)
	if n == nil {
		return Content{}, false
	}
	return n.snapshot(), true
}

// Files returns every file below path, sorted by path.
func (f *Fake) Files(path string) []Content {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Content
	var walk func(*node)
	walk = func(n *node) {
		if !n.isFolder() {
			out = append(out, n.snapshot())
			return
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	if n := f.find(path); n != nil {
		walk(n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// AddFolder creates the folders of path that are missing (like mkdir -p)
// and returns the id of the last one.
func (f *Fake) AddFolder(path string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if !strings.EqualFold(segs[0], "Root") {
		return 0, fmt.Errorf("sensenet fake: %s is not below /Root", path)
	}
	n := f.root
	for _, s := range segs[1:] {
		c := n.child(s)
		if c == nil {
			c = f.addNode(n, s, "Folder")
		}
		if !c.isFolder() {
			return 0, fmt.Errorf("sensenet fake: %s is a %s, not a folder", c.path(), c.typ)
		}
		n = c
	}
	return n.id, nil
}

// SetVersioning sets the versioning mode of the folder at path.
func (f *Fake) SetVersioning(path string, v Versioning) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.find(path)
	if n == nil || !n.isFolder() {
		return fmt.Errorf("sensenet fake: no folder %s", path)
	}
	n.versioning = v
	return nil
}
