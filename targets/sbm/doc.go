// Package sbm is the dropsync target adapter for type "sbm": it delivers
// files into a File field of an item in Micro Focus / OpenText SBM through
// the JSON API's UpdateFileField, with a faithful fake server (Fake).
//
// # Wire protocol
//
// One file is one request:
//
//	POST {url}/jsonapi/UpdateFileField/{table}/{item}/{field}/{transition}
//	Content-Type: application/json
//	Content-Length: exact (JSON prefix + base64 length of the file + suffix)
//	Expect: 100-continue
//
//	{"includeFile":false,"breakLock":false,"alwaysTrans":false,
//	 "fileObjFilter":["report.pdf"],
//	 "fileObjList":[{"action":"NEW-UPDATE","id":26,"uuid":"…","name":"report.pdf",
//	                 "filename":"report.pdf","contentsbase64":{"data":"<base64>"}}]}
//
// The base64 is encoded on the fly from the file through a pipe, so memory
// does not grow with the file (a 500 MB file travels as about 667 MB of
// JSON). Expect: 100-continue lets the server refuse credentials or a wrong
// path before any byte of the file is sent. The reply's
// fieldFileObj.fileObjList gives the file object's id and uuid, recorded as
// Remote{ID, Name, Extra{"uuid"}}. result.type other than OK is a failure
// carrying result.msg. Existing objects are listed with
// POST {url}/jsonapi/GetFileField/{table}/{item}/{field} and
// {"includeFile":false}.
//
// breakLock is false unless the target's or the destination's break_lock
// says otherwise (the API's own default is true): dropsync does not steal a
// record lock from a user with the item's form open. A lock failure is
// retryable and its message is the server's, which names the holder.
//
// # on_conflict
//
//	version    NEW-UPDATE with the recorded file object's id and uuid, else the
//	           object of the same name found with GetFileField, else a new one
//	overwrite  the same as version: a file field keeps one object per name
//	           and NEW-UPDATE replaces its content
//	rename     NEW-ONLY under the next free name(N).ext (N from 2) among the
//	           field's objects
//	skip       nothing is sent when the recorded object or one of that name
//	           exists; otherwise NEW-ONLY, and a NEW-ONLY refused because the
//	           object appeared meanwhile counts as done
//
// deletes: propagate sends a DELETE action with the recorded id and uuid; an
// object already gone is not an error.
//
// # Limits and errors
//
// Files over SBM's default Maximum File Size of 500 MB (524288000 bytes)
// fail before anything is sent; max_file_size replaces the limit when an
// administrator changed it. HTTP 5xx and connection failures are
// retryable, 401 and 403 auth failures, 404 permanent with a message naming
// which of table, item, field or transition the server did not find.
//
// # Auth
//
// basic (HTTP Basic), or sso: POST {"credentials":{"username","password"}}
// to auth.token_service_url, send the token as the ALFSSOAuthNToken header,
// fetch a new one after a 401 (once per request).
package sbm
