// Package sensenet is the dropsync target adapter for type "sensenet": it
// delivers files into a sensenet content repository through the OData
// action Upload, whole or in resumable chunks, and holds Fake, a faithful
// sensenet server for tests, the demo and `dropsync fake-server`: like the
// server it reads a whole Upload form before deciding what a request is,
// and names contents by the server's rules.
//
// # Configuration
//
// Besides the common keys the target takes invalid_name_chars and
// name_replacement (see Names); auth is bearer (a JWT from the sensenet
// identity server) or apikey (sent in the apikey header). A watch's
// destination has path, the parent content path (it must exist and start
// with /Root), and content_type (default File). Sub-folders of the watch
// are mirrored below path; missing remote folders are created as Folder
// contents and remembered per target. A content in the way that is not a
// folder fails permanently: "…/x.dat exists on the server as a File, not a
// folder".
//
// # Names
//
// sensenet derives every content and folder name through its
// ContentNamingProvider (FACTS.md §5.6): each match of
// InvalidNameCharsPattern becomes ReplacementChar ("-"), runs of it
// collapse, trailing dots and replacement characters are trimmed, and
// names compare case-insensitively. The adapter predicts that name
// (naming.go; the operator repeats a changed pattern or character as
// invalid_name_chars and name_replacement) for every look-up and path it
// builds: skip, the folders, deletes. FileName carries the local name and
// the server derives its own; the Remote recorded is the name and path the
// server answered, and a later version (version, overwrite) sends the
// recorded name, so it reaches the same content. NameKey gives the daemon
// the lower-cased server path, so that two local names meeting at one
// content (Report.txt and report.txt, a#b.txt and a?b.txt) are caught. The
// fake's naming (fake_naming.go) is written apart from the prediction so
// that one cannot hide the other's mistake.
//
// # on_conflict
//
//	version    Overwrite=true: the content of the same name is reused and
//	           sensenet stores the upload as it does for any save, by the
//	           folder's versioning mode: MajorOnly adds the next major
//	           version (V1.0 → V2.0), MajorAndMinor the next minor version,
//	           None replaces the binary in place.
//	overwrite  the same request as version: sensenet, not the client,
//	           decides between a new version and an in-place replacement,
//	           by the folder's versioning mode. Set the folder to None for
//	           true in-place overwrites.
//	rename     Overwrite=false: the server keeps the existing content and
//	           names the new one name(1).ext, then name(2).ext…; the name
//	           the server chose is recorded.
//	skip       the content is looked up first under the server's name
//	           (GET, 404 = absent); if it
//	           exists the job ends without sending. Otherwise it is
//	           uploaded with Overwrite=false, so that a content created
//	           meanwhile is never replaced.
//
// ContentId is never sent: the name decides, so a recorded id that no
// longer means the same content (a restored repository) cannot redirect an
// upload.
//
// # Wire protocol
//
// Every request carries User-Agent dropsync/VERSION and the credential.
// Paths use OData entity syntax with every name percent-encoded and quotes
// doubled inside the string literal: /Root/Content/Documents becomes
// /OData.svc/Root/Content('Documents').
//
// Whole file (below chunk_threshold): one multipart/form-data POST to
// /OData.svc/{parent}/Upload with the fields FileName, ContentType,
// PropertyName=Binary, UseChunk=False, Overwrite, FileLength and
// ChunkToken=0**True*True (the server requires a well-formed four-part
// token and issues this one for non-chunked uploads; its flags make the
// server finalize a content left in a multistep save), then the file part
// files[] with filename and filename* (UTF-8). The parameter parts and the
// closing boundary are built in advance, so the file streams between them
// with an exact Content-Length. Parameters are never sent URL-encoded:
// sensenet does not decode form-style bodies.
//
// Chunked (at or above chunk_threshold, chunk_size bytes per request,
// below 2 GiB): the initial request carries create=1 and UseChunk=True with
// the same fields and no file; the plain-text answer is the ChunkToken
// {contentId}*{blobToken}*{mustFinalize}*{mustCheckIn}. Each data request
// carries the same fields plus ChunkToken and the file part, with headers
// Content-Range: bytes {start}-{end}/{total} (end inclusive) and
// Content-Disposition: attachment; filename="{url-encoded name}". The
// request whose range ends the file commits it; an empty trailing chunk is
// never sent (sensenet would reset the content to empty). When the token
// says the content was already in a multistep save (both flags False, an
// earlier abandoned upload), the action FinalizeContent follows the commit
// so the content does not stay checked out. The driver records the token
// and every confirmed chunk, so a restart resumes at the next chunk.
//
// Every data request answers {Url, Name, Length, Type, Id}; the Remote
// recorded is Id, Name, the Version read back with one
// GET {parent}('{name}')?$select=Id,Name,Version,Path, and the path in
// Extra["path"].
//
// Folders are checked with GET and created with POST
// /OData.svc/{parent path} and the body models=[{"__ContentType":"Folder",
// "Name":"…"}], as sensenet's clients do; ContentAlreadyExists counts as
// success. With deletes: propagate, Delete checks that the recorded path
// still holds the recorded id and sends DELETE {parent}('{name}'), which
// moves the content to the trash; a missing content is success.
//
// # Errors
//
// OData error bodies {"error":{"code","message":{"value"}}} become the
// message "value [code]". The status decides the kind (targets.StatusError):
// 401/403 auth, 404 and other 4xx permanent, 429 and 503 with Retry-After
// throttled, other 5xx retryable. ContentAlreadyExists (403) is permanent,
// not auth. An Upload answering 404 with an empty body reports "parent
// folder not found: {path}"; for a sub-folder dropsync created, the folder
// cache forgets it and the failure is retryable (up to 3 attempts) so the
// next attempt creates it again. A 500 whose message says the chunk token is invalid or
// mismatched wraps targets.ErrSessionInvalid, so the driver starts a new
// session; other 500s (such as a content locked by another user) are
// retried.
package sensenet
