package oracledocs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/targets"
)

// maxRenameTries bounds the search for a free name(N).ext.
const maxRenameTries = 1000

// folderCache remembers the ids of mirrored folders, per destination root
// and relative path (case-insensitive, as Oracle's names are), so that each
// folder is looked up or created once per target. It is safe for
// concurrent use; callers resolving the same folder at once wait for one
// another instead of creating it twice.
type folderCache struct {
	mu    sync.Mutex
	ids   map[string]string        // key → folder id
	locks map[string]chan struct{} // key → one-slot lock, held while resolving
}

func cacheKey(root, rel string) string { return root + "\x00" + foldKey(rel) }

// resolve returns the cached id for key, or runs find (one caller per key
// at a time) and caches its answer.
func (c *folderCache) resolve(ctx context.Context, key string, find func() (string, error)) (string, error) {
	c.mu.Lock()
	if id, ok := c.ids[key]; ok {
		c.mu.Unlock()
		return id, nil
	}
	if c.locks == nil {
		c.ids, c.locks = map[string]string{}, map[string]chan struct{}{}
	}
	l := c.locks[key]
	if l == nil {
		l = make(chan struct{}, 1)
		c.locks[key] = l
	}
	c.mu.Unlock()

	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-l }()
	c.mu.Lock()
	id, ok := c.ids[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := find()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.ids[key] = id
	c.mu.Unlock()
	return id, nil
}

// forget drops the cached ids of the top-level folder of rel below root and
// of everything under it, after one of them turned out to be gone.
func (c *folderCache) forget(root, rel string) {
	top, _, _ := strings.Cut(rel, "/")
	k := cacheKey(root, top)
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.ids {
		if key == k || strings.HasPrefix(key, k+"/") {
			delete(c.ids, key)
		}
	}
}

// folderFor returns the id of the remote folder that mirrors dir (slash
// separated, "" for the watch root) below the destination's folder_id,
// creating the missing folders.
func (t *Target) folderFor(ctx context.Context, d *destination, dir string) (string, error) {
	id := d.FolderID
	if dir == "" {
		return id, nil
	}
	rel := ""
	for _, name := range strings.Split(dir, "/") {
		rel = path.Join(rel, name)
		parent := id
		var err error
		id, err = t.folders.resolve(ctx, cacheKey(d.FolderID, rel), func() (string, error) {
			return t.ensureFolder(ctx, d, parent, name)
		})
		if err != nil {
			return "", err
		}
	}
	return id, nil
}

// ensureFolder returns the id of the folder name in parent, creating it if
// it does not exist. Names are looked up first because Create Folder gives a
// same-named folder a numeric increment instead of failing; a create that
// still meets a folder made meanwhile (409 or errorCode -17) looks it up.
func (t *Target) ensureFolder(ctx context.Context, d *destination, parent, name string) (string, error) {
	const op = Type + ": create folder"
	it, found, err := t.lookup(ctx, d, parent, name)
	if err != nil {
		return "", err
	}
	if found {
		if it.Type != "folder" {
			return "", targets.Errorf(targets.Permanent, op, "%q is a file where dropsync needs a folder", it.Name)
		}
		return it.ID, nil
	}
	body, _ := json.Marshal(struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}{name, "Created by dropsync"})
	u := t.url("folders", parent)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := t.newRequest(http.MethodPost, u, d, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	})
	if err != nil {
		return "", err
	}
	created, err := decodeItem(op, resp)
	if err == nil {
		t.log.Debug("created folder", "name", name, "id", created.ID)
		return created.ID, nil
	}
	if !isConflict(err) {
		return "", err
	}
	it, found, lerr := t.lookup(ctx, d, parent, name)
	if lerr != nil {
		return "", lerr
	}
	if !found || it.Type != "folder" {
		return "", err
	}
	return it.ID, nil
}

// lookup finds the item called name (case-insensitively) in folder parent
// with Get Specific Folder Contents and filterName, which matches names
// exactly; found is false when there is none.
func (t *Target) lookup(ctx context.Context, d *destination, parent, name string) (it item, found bool, err error) {
	const op = Type + ": look up name"
	q := url.Values{"filterName": {name}, "limit": {"50"}}
	u := t.url("folders", parent, "items") + "?" + q.Encode()
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		return t.newRequest(http.MethodGet, u, d, nil)
	})
	if err != nil {
		return item{}, false, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return item{}, false, apiError(op, resp)
	}
	raw := targets.ReadBody(resp)
	var list folderItems
	if err := json.Unmarshal(raw, &list); err != nil {
		if targets.NotJSON(resp.Header, raw) {
			return item{}, false, targets.NotTheAPI(op, resp.StatusCode, raw, "the Documents API's JSON")
		}
		return item{}, false, &targets.Error{Kind: targets.Retryable, Op: op, Status: resp.StatusCode,
			Msg: "unreadable reply: " + err.Error(), Err: err}
	}
	if code, ok := list.ErrorCode.Int(); ok && code != 0 {
		return item{}, false, classify(op, resp, raw)
	}
	for _, c := range list.Items {
		if strings.EqualFold(c.Name, name) {
			return c, true, nil
		}
	}
	return item{}, false, nil
}

// freeName returns name if no item in parent has it, else the first free
// name(N).ext for N = 2, 3, …
func (t *Target) freeName(ctx context.Context, d *destination, parent, name string) (string, error) {
	for n := 1; n <= maxRenameTries; n++ {
		cand := numbered(name, n)
		_, found, err := t.lookup(ctx, d, parent, cand)
		if err != nil {
			return "", err
		}
		if !found {
			return cand, nil
		}
	}
	return "", targets.Errorf(targets.Permanent, Type+": rename",
		"%s(2…%d) are all taken in the folder; clean it up or use on_conflict version", name, maxRenameTries)
}

// numbered returns name for n ≤ 1, else name with "(n)" before its
// extension: report.pdf → report(2).pdf; .env → .env(2).
func numbered(name string, n int) string {
	if n <= 1 {
		return name
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	return stem + "(" + strconv.Itoa(n) + ")" + ext
}
