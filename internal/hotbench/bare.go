package hotbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// bare is the baseline: a plain uploader with keep-alive connections that
// sends each file with the Upload action and does nothing else (no queue,
// no state, no hashing, no version read-back).
type bare struct {
	base   string // the sink's URL
	token  string
	client *http.Client
}

func newBare(base, token string, workers int) *bare {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	return &bare{base: base, token: token, client: &http.Client{Transport: tr}}
}

// odataPath is the OData entity address of content path p.
func odataPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	return "/OData.svc" + p[:i] + "('" + p[i+1:] + "')"
}

func (b *bare) do(ctx context.Context, method, u, ctype string, body io.Reader, n int64, hdr map[string]string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.base+u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = n
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, raw)
	}
	return raw, nil
}

// mkdir creates folder name below parent.
func (b *bare) mkdir(ctx context.Context, parent, name string) error {
	model, _ := json.Marshal([]map[string]string{{"__ContentType": "Folder", "Name": name}})
	body := append([]byte("models="), model...)
	_, err := b.do(ctx, http.MethodPost, "/OData.svc"+parent+"?metadata=no", "application/json", bytes.NewReader(body), int64(len(body)), nil)
	return err
}

// form returns the multipart head and tail around a file part.
func form(fields [][2]string, fileName string) (head, tail []byte, ctype string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	if fileName != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="files[]"; filename="`+fileName+`"`)
		h.Set("Content-Type", "application/octet-stream")
		w.CreatePart(h)
	}
	n := buf.Len()
	w.Close()
	all := buf.Bytes()
	return all[:n:n], all[n:], w.FormDataContentType()
}

func fields(name string, size int64, chunked bool) [][2]string {
	use := "False"
	if chunked {
		use = "True"
	}
	return [][2]string{{"FileName", name}, {"ContentType", "File"}, {"PropertyName", "Binary"}, {"UseChunk", use},
		{"Overwrite", "True"}, {"FileLength", strconv.FormatInt(size, 10)}}
}

// put uploads the local file src as parent/name in one request.
func (b *bare) put(ctx context.Context, src, parent, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	head, tail, ctype := form(append(fields(name, fi.Size(), false), [2]string{"ChunkToken", "0**True*True"}), name)
	body := io.MultiReader(bytes.NewReader(head), f, bytes.NewReader(tail))
	_, err = b.do(ctx, http.MethodPost, odataPath(parent)+"/Upload", ctype, body, int64(len(head))+fi.Size()+int64(len(tail)), nil)
	return err
}

// putChunked uploads src as parent/name with the chunked protocol, one
// chunk after the other.
func (b *bare) putChunked(ctx context.Context, src, parent, name string, chunk int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	u := odataPath(parent) + "/Upload"
	head, tail, ctype := form(append([][2]string{{"create", "1"}}, fields(name, size, true)...), "")
	raw, err := b.do(ctx, http.MethodPost, u, ctype, io.MultiReader(bytes.NewReader(head), bytes.NewReader(tail)), int64(len(head)+len(tail)), nil)
	if err != nil {
		return err
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil {
		return fmt.Errorf("chunk token: %w", err)
	}
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		head, tail, ctype := form(append(fields(name, size, true), [2]string{"ChunkToken", token}), name)
		body := io.MultiReader(bytes.NewReader(head), io.NewSectionReader(f, off, n), bytes.NewReader(tail))
		hdr := map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size), "Content-Disposition": `attachment; filename="` + name + `"`}
		if _, err := b.do(ctx, http.MethodPost, u, ctype, body, int64(len(head))+n+int64(len(tail)), hdr); err != nil {
			return err
		}
	}
	return nil
}

// burst uploads files (local path → remote folder, name) with workers
// goroutines, after creating the remote folders dirs below root.
func (b *bare) burst(ctx context.Context, workers int, root string, dirs []string, files []staged) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, d := range dirs {
		g.Go(func() error { return b.mkdir(gctx, root, d) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("bare: create folders: %w", err)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, f := range files {
		g.Go(func() error { return b.put(gctx, f.src, root+"/"+f.dir, f.name) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("bare: upload: %w", err)
	}
	return nil
}
