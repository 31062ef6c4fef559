// Package connections is the dropsync target adapter for type
// "connections-activities": HCL/IBM Connections Activities, where each
// delivered file becomes a file field of an activity node.
//
// # Configuration
//
// The target's url is the Connections server (the adapter appends
// /activities/service/atom2); auth is basic or bearer (an OAuth 2.0 access
// token). The adapter has no keys of its own. A watch's destination names
// the node that receives the fields:
//
//	destination: {activity_id: 5d1c2a3b-7e4f-4a6b-9c8d-0e1f2a3b4c5d}
//
// Only the file's base name is used; files in different sub-folders with the
// same name map to the same field name. deletes: propagate is refused.
//
// # Wire protocol
//
// Before each upload the adapter reads the node's Atom entry
// (GET …/activitynode?activityNodeUuid=<activity_id>) and lists its
// <snx:field type="file"> elements (encoding/xml).
//
// A new file below chunk_threshold is one raw-body request:
// POST …/activity?activityUuid=<activity_id> with Slug and Title set to the
// file name (RFC 5023 percent-encoding for bytes outside printable ASCII),
// Content-Type set to its MIME type (never Atom or multipart, which the
// server would read as an entry), and the file as the body; the answer is
// 201. The new field's id (fid) is taken from the <snx:field> with that name
// in the Atom reply, else from the Location header's activityNodeUuid, else
// by reading the node again.
//
// Anything else uses the 2-phase upload API, to the same POST URL for a new
// field or to PUT …/activitynode?activityNodeUuid=<fid> to replace one:
//
//   - phase 1 sends X-IBM-UPLOAD-METHOD: phases and X-IBM-UPLOAD-SIZE with
//     an empty body (plus Slug, Title and Content-Type, so the server can
//     refuse a name, type or size before any byte is sent) and expects 200
//     with the X-IBM-UPLOAD-TOKEN response header;
//   - phase 2 sends the raw file with the method header, the token, Slug,
//     Title, Content-Type and an exact Content-Length, and expects 2xx with
//     no output (an Atom entry is accepted too). It documents no output, so
//     a created field is found by reading the node.
//
// Large files (at or above chunk_threshold) go through targets.Chunker:
// StartSession is phase 1 and the driver records the token; the plan's chunk
// size is the whole file, so PutChunk is phase 2. After a restart the driver
// sends phase 2 again with the recorded token; a token the server rejects
// (400, 404, 409, 410 or 412 in phase 2) wraps targets.ErrSessionInvalid and
// the driver starts over with phase 1, once. A replacement of a small file
// also uses the two phases (inside Put, not recorded), as the reference SDK
// does, because a plain PUT of a node replaces its whole Atom entry.
//
// An unset chunk_threshold means 30 MiB, where the reference SDK switches to
// two phases (DefaultChunkThreshold); a configured value wins, and the
// 2-phase API documents no minimum size.
//
// # on_conflict
//
// The field that "already holds the file" is the recorded one (state table)
// if the node still has it, else the newest field with the same name.
//
//	version    replace that field's content (2-phase PUT); Activities keeps no
//	           versions, so this is the same as overwrite
//	overwrite  replace that field's content (2-phase PUT)
//	rename     keep it, create a new field named name(N).ext, N the first free
//	skip       leave it alone; the job is done
//
// Without such a field every policy creates a new field under the file's
// name. A crash after the server stored phase 2 but before dropsync recorded
// it is safe for version and overwrite (the retry replaces the field it finds
// by name); with rename it can leave an extra name(N).ext field.
//
// # Errors
//
// 400 bad request, 403 forbidden or content rejected (virus/not permitted),
// 404 activity or file field not found, 413 file exceeds the server's limit
// and 415 file type not supported are permanent, with the server's <message>
// after the meaning; 401 and redirects (to a login page) are auth failures;
// 429 and 503 with Retry-After throttle the target; other 5xx and network
// failures are retried.
//
// A 2xx that is not the API's answer (a web page, e.g. an SSO proxy's login
// form answered 200; for the raw-body POST anything but an Atom entry, a
// Location or 201) never reached the API: it is Unreachable, the target
// goes down and the file waits, with the page's words shortened. A new
// field is never recorded as delivered without its field id: a node that
// cannot be read after the server took the file is an ambiguous outcome
// (the next attempt asks Landed first), and a node without the field
// fails the file.
//
// The package also holds Fake, the faithful fake server used by the tests,
// `dropsync demo` and `dropsync fake-server`.
package connections
