package oracledocs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Type is the adapter's type name in the configuration.
const Type = "oracle-documents"

// API versions accepted by the api_version target option.
const (
	APIVersion11 = "1.1"
	APIVersion12 = "1.2" // the default
)

func init() {
	targets.Register(Type, New)
	targets.RegisterFake(Type, func() targets.Fake { return NewFake() })
}

var (
	_ targets.Target  = (*Target)(nil)
	_ targets.Deleter = (*Target)(nil)
	_ targets.Checker = (*Target)(nil)
)

// options are the adapter's own keys in a target block.
type options struct {
	// APIVersion is the REST API for Documents version in every path:
	// "1.2" (default, the current documentation) or "1.1" (the seed).
	APIVersion string `yaml:"api_version"`
}

// Target delivers files to one Oracle Content Management (Documents)
// instance. It is safe for concurrent use: Prepare, Put and Delete may run
// for different files at the same time.
type Target struct {
	api     *url.URL // <url>/documents/api/<version>
	client  *targets.Client
	log     *slog.Logger
	folders folderCache
}

// New builds a Target from its configuration: the common keys, auth
// basic, bearer or oauth2 (client credentials with a scope, the client
// id and secret sent as HTTP Basic, as Oracle IDCS wants), and the
// adapter's api_version key.
func New(b *targets.Base) (targets.Target, error) {
	var o options
	if err := b.Config.Extra.Decode(&o); err != nil {
		return nil, err
	}
	switch o.APIVersion {
	case "":
		o.APIVersion = APIVersion12
	case APIVersion11, APIVersion12:
	default:
		return nil, fmt.Errorf("api_version: %q is not supported (use %s or %s)", o.APIVersion, APIVersion12, APIVersion11)
	}
	if strings.Contains(b.URL.Path, "/documents/") || strings.HasSuffix(b.URL.Path, "/documents") {
		return nil, fmt.Errorf("url: give the service root, e.g. https://<instance>.ocp.oraclecloud.com, without %s", b.URL.Path)
	}
	a := b.Config.Auth
	if a.Type == "oauth2" && a.Scope == "" {
		return nil, fmt.Errorf("auth.scope: required for oauth2: Oracle IDCS issues Documents tokens for <primary audience>urn:opc:cec:all")
	}
	auth, err := targets.NewAuth(a, targets.AuthOptions{Allowed: []string{"basic", "bearer", "oauth2"}, HTTP: b.HTTP})
	if err != nil {
		return nil, err
	}
	return &Target{
		api:    b.URL.JoinPath("documents", "api", o.APIVersion),
		client: b.NewClient(auth),
		log:    b.Log,
	}, nil
}

// destination is a watch's destination block, decoded and checked.
type destination struct {
	// FolderID is the GUID of the folder that receives the watched tree,
	// or "self" for the user's home folder.
	FolderID string `yaml:"folder_id"`
	// Metadata is sent as the metadataValues part: "collection" names a
	// metadata collection assigned to a parent folder, the other keys are
	// its fields.
	Metadata map[string]string `yaml:"metadata"`
	// LinkID is a public link (contributor role) sent as the LinkID header.
	LinkID string `yaml:"link_id"`
	// AccessCode protects the public link; it goes in the
	// dAccessCode-<link_id> cookie.
	AccessCode     config.Secret `yaml:"access_code"`
	AccessCodeFile string        `yaml:"access_code_file"`
	// AppLinkID and AccessToken are an applink (contributor role), sent as
	// the AppLinkID and AccessToken headers.
	AppLinkID       string        `yaml:"app_link_id"`
	AccessToken     config.Secret `yaml:"access_token"`
	AccessTokenFile string        `yaml:"access_token_file"`

	metadataJSON []byte // the metadataValues part, encoded once

	// accessCode and accessToken are AccessCode and AccessToken as sent:
	// given as *_file, they follow the file, so a code or token rotated on
	// disk is sent with the next request without a restart (nil: none).
	accessCode, accessToken *targets.Secret
}

// Watch decodes the watch's destination: folder_id (required), metadata,
// link_id with access_code, app_link_id with access_token. Every
// on_conflict value is accepted: overwrite behaves like version because the
// Documents API always keeps the earlier revision (a warning says so).
func (t *Target) Watch(w *config.Watch) (any, error) {
	d := &destination{}
	if err := w.Destination.Decode(d); err != nil {
		return nil, err
	}
	if d.FolderID == "" {
		return nil, fmt.Errorf("destination.folder_id: required: the GUID of the folder that receives the files, or self for the home folder")
	}
	if strings.ContainsAny(d.FolderID, "/?# ") {
		return nil, fmt.Errorf("destination.folder_id: %q is not a folder GUID", d.FolderID)
	}
	if err := readSecret(t.log, &d.AccessCode, d.AccessCodeFile, "access_code"); err != nil {
		return nil, err
	}
	if err := readSecret(t.log, &d.AccessToken, d.AccessTokenFile, "access_token"); err != nil {
		return nil, err
	}
	if d.AccessCode != "" && d.LinkID == "" {
		return nil, fmt.Errorf("destination.access_code: needs destination.link_id, the public link it protects")
	}
	if (d.AppLinkID == "") != (d.AccessToken == "") {
		return nil, fmt.Errorf("destination.app_link_id: an applink needs both app_link_id and access_token")
	}
	if d.AccessCode != "" {
		d.accessCode = targets.NewSecret(d.AccessCode, d.AccessCodeFile)
	}
	if d.AccessToken != "" {
		d.accessToken = targets.NewSecret(d.AccessToken, d.AccessTokenFile)
	}
	if len(d.Metadata) > 0 {
		if d.Metadata["collection"] == "" {
			return nil, fmt.Errorf("destination.metadata: needs a collection key naming the metadata collection (assigned to a parent folder) that the other keys belong to")
		}
		b, err := json.Marshal(d.Metadata)
		if err != nil {
			return nil, fmt.Errorf("destination.metadata: %w", err)
		}
		d.metadataJSON = b
	}
	if w.OnConflict == config.OnConflictOverwrite {
		t.log.Warn("on_conflict overwrite: the Documents API cannot replace content in place; each upload becomes a new version of the file and earlier versions stay",
			"watch", w.Path)
	}
	return d, nil
}

// readSecret fills s from file, the destination's *_file form of key,
// warning when others than the owner can read the file. This first read
// checks the file at start; requests read it again when it changes (see
// destination.accessToken).
func readSecret(log *slog.Logger, s *config.Secret, file, key string) error {
	if file == "" {
		return nil
	}
	if *s != "" {
		return fmt.Errorf("destination.%s_file: give either %s or %s_file, not both", key, key, key)
	}
	v, warn, err := config.ReadSecretFile(file)
	if err != nil {
		return fmt.Errorf("destination.%s_file: %w", key, err)
	}
	if warn != "" {
		log.Warn("destination." + key + "_file: " + warn)
	}
	*s = v
	return nil
}

// setHeaders adds the destination's link credentials to req.
func (d *destination) setHeaders(req *http.Request) {
	// The documentation spells the headers LinkID, AppLinkID and
	// AccessToken; they are set verbatim rather than canonicalised.
	if d.LinkID != "" {
		req.Header["LinkID"] = []string{d.LinkID}
	}
	if d.AppLinkID != "" && d.accessToken != nil {
		req.Header["AppLinkID"] = []string{d.AppLinkID}
		req.Header["AccessToken"] = []string{d.accessToken.Reveal()}
	}
	if d.accessCode != nil {
		req.AddCookie(&http.Cookie{Name: "dAccessCode-" + d.LinkID, Value: d.accessCode.Reveal()})
	}
}

func destOf(f *targets.File) (*destination, error) {
	d, ok := f.Dest.(*destination)
	if !ok || d == nil {
		return nil, fmt.Errorf("%s: %s carries no %s destination", Type, f.Rel, Type)
	}
	return d, nil
}

// Prepare resolves the remote folder (mirroring f's sub-folders below
// folder_id, creating them as needed) and applies on_conflict:
//
//   - version, overwrite: a recorded remote id receives a new version;
//     without one the file is uploaded by name, and Oracle makes a
//     same-named file's next revision of it;
//   - rename: the first free name of name.ext, name(2).ext, name(3).ext…
//     found by looking each up in the folder;
//   - skip: a recorded remote, or a file of that name in the folder, ends
//     the job without sending.
func (t *Target) Prepare(ctx context.Context, f *targets.File) (*targets.Plan, error) {
	d, err := destOf(f)
	if err != nil {
		return nil, err
	}
	parent, err := t.folderFor(ctx, d, f.Dir())
	if err != nil {
		return nil, err
	}
	p := &targets.Plan{Name: f.Name(), Parent: parent}
	recorded := f.Previous != nil && f.Previous.ID != ""
	switch f.OnConflict {
	case config.OnConflictSkip:
		if recorded {
			prev := *f.Previous
			p.Skip, p.Remote = true, &prev
			return p, nil
		}
		it, found, err := t.lookup(ctx, d, parent, p.Name)
		if err != nil {
			return nil, err
		}
		if found && it.Type != "folder" {
			r := remoteOf(it, p.Name)
			p.Skip, p.Remote = true, &r
		}
	case config.OnConflictRename:
		if p.Name, err = t.freeName(ctx, d, parent, p.Name); err != nil {
			return nil, err
		}
	default: // version, overwrite
		if recorded {
			prev := *f.Previous
			p.Existing = &prev
			if prev.Name != "" {
				p.Name = prev.Name // the remote file keeps its name, e.g. an earlier rename's name(2).ext
			}
		}
	}
	return p, nil
}

// Put uploads the file as planned: a new version of p.Existing, or a new
// file (or the next revision of a same-named one) in p.Parent. After a
// 409 or errorCode -17 it looks the name up again and retries once: the
// file found receives a version (version, overwrite), or the next free
// name is taken (rename). A recorded file that is gone (404, -16) is
// uploaded anew, and a mirrored folder that is gone is created again, also
// once.
func (t *Target) Put(ctx context.Context, f *targets.File, p *targets.Plan, body *targets.Body) (targets.Remote, error) {
	d, err := destOf(f)
	if err != nil {
		return targets.Remote{}, err
	}
	r, err := t.send(ctx, d, p, body)
	if err == nil {
		return r, nil
	}
	np, rerr := t.recheck(ctx, f, d, p, err)
	if rerr != nil || np == nil {
		return targets.Remote{}, rerr
	}
	return t.send(ctx, d, np, body)
}

// recheck decides what to do after a failed upload: a new plan to try once
// more, or the error to return.
func (t *Target) recheck(ctx context.Context, f *targets.File, d *destination, p *targets.Plan, failure error) (*targets.Plan, error) {
	np := *p
	switch {
	case isConflict(failure):
		it, found, err := t.lookup(ctx, d, p.Parent, p.Name)
		if err != nil {
			return nil, err
		}
		switch {
		case found && it.Type == "folder":
			return nil, targets.Errorf(targets.Permanent, Type+": upload file",
				"a folder named %q is where %s should go; rename one of them", it.Name, f.Rel)
		case f.OnConflict == config.OnConflictRename:
			if np.Name, err = t.freeName(ctx, d, p.Parent, p.Name); err != nil {
				return nil, err
			}
			np.Existing = nil
		case f.OnConflict == config.OnConflictSkip && found:
			return nil, targets.Errorf(targets.Retryable, Type+": upload file",
				"%q appeared in the folder during the upload; the next attempt leaves it alone (on_conflict skip)", it.Name)
		case found:
			r := remoteOf(it, p.Name)
			np.Existing = &r
		}
		t.log.Info("name conflict: looked the name up again, retrying once", "file", f.Rel, "name", np.Name)
		return &np, nil
	case isNotFound(failure) && (p.Existing != nil || f.Dir() != ""):
		// The recorded file, or a cached mirrored folder, is gone.
		if p.Existing != nil {
			np.Existing, np.Name = nil, f.Name()
		}
		if f.Dir() != "" {
			t.folders.forget(d.FolderID, f.Dir())
			parent, err := t.folderFor(ctx, d, f.Dir())
			if err != nil {
				return nil, err
			}
			np.Parent = parent
		}
		if p.Existing == nil && np.Parent == p.Parent {
			return nil, failure // the folder is there: something else is missing
		}
		t.log.Info("the recorded remote file or folder is gone; uploading anew", "file", f.Rel)
		return &np, nil
	}
	return nil, failure
}

// send makes one upload request for plan p.
func (t *Target) send(ctx context.Context, d *destination, p *targets.Plan, body *targets.Body) (targets.Remote, error) {
	var (
		it  item
		err error
	)
	if p.Existing != nil && p.Existing.ID != "" {
		it, err = t.upload(ctx, Type+": upload file version", t.url("files", p.Existing.ID, "data"), d, nil, p.Name, body)
	} else {
		params, _ := json.Marshal(struct {
			ParentID string `json:"parentID"`
		}{p.Parent})
		it, err = t.upload(ctx, Type+": upload file", t.url("files", "data"), d, params, p.Name, body)
	}
	if err != nil {
		return targets.Remote{}, err
	}
	return remoteOf(it, p.Name), nil
}

// upload sends one multipart upload: the jsonInputParameters part (if
// params is not nil), then primaryFile streaming body, then
// metadataValues (if the destination has metadata).
func (t *Target) upload(ctx context.Context, op, u string, d *destination, params []byte, name string, body *targets.Body) (item, error) {
	fm, err := newForm(params, name, d.metadataJSON)
	if err != nil {
		return item{}, &targets.Error{Kind: targets.Permanent, Op: op, Msg: err.Error(), Err: err}
	}
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		if err := body.Rewind(); err != nil {
			return nil, err
		}
		req, err := t.newRequest(http.MethodPost, u, d, fm.reader(body))
		if err != nil {
			return nil, err
		}
		req.ContentLength = fm.size(body.Len())
		req.Header.Set("Content-Type", fm.contentType)
		return req, nil
	})
	if err != nil {
		return item{}, err
	}
	return decodeItem(op, resp)
}

// Delete moves the remote file to the trash (DELETE …/files/{id}). A file
// that is already gone is not an error.
func (t *Target) Delete(ctx context.Context, f *targets.File, r targets.Remote) error {
	if r.ID == "" {
		return nil
	}
	d, err := destOf(f)
	if err != nil {
		return err
	}
	const op = Type + ": delete file"
	u := t.url("files", r.ID)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		return t.newRequest(http.MethodDelete, u, d, nil)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		body := targets.ReadBody(resp)
		if st := parseStatus(body); st.Code != 0 && st.Code != codeNotFound {
			return classify(op, resp, body)
		}
		return nil
	}
	if err := apiError(op, resp); !isNotFound(err) {
		return err
	}
	return nil
}

// Check asks for the home folder (GET …/folders/self), which needs valid
// credentials and nothing else, for `dropsync validate --online`.
func (t *Target) Check(ctx context.Context) error {
	const op = Type + ": check credentials"
	u := t.url("folders", "self")
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		return t.newRequest(http.MethodGet, u, &destination{}, nil)
	})
	if err != nil {
		return err
	}
	_, err = decodeItem(op, resp)
	return err
}

// url is the API URL of the given path segments.
func (t *Target) url(segs ...string) string { return t.api.JoinPath(segs...).String() }

// newRequest builds a request with the JSON Accept header and the
// destination's link credentials.
func (t *Target) newRequest(method, u string, d *destination, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	d.setHeaders(req)
	return req, nil
}

// remoteOf is the state-table record of a file item.
func remoteOf(it item, name string) targets.Remote {
	if it.Name != "" {
		name = it.Name
	}
	return targets.Remote{ID: it.ID, Version: string(it.Version), Name: name}
}
