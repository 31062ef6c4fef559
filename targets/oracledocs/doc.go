// Package oracledocs is the dropsync target adapter for type
// "oracle-documents": Oracle Content Management (formerly Documents Cloud
// / Content and Experience) through its REST API for Documents, version 1.2
// by default or 1.1 (target option api_version).
//
// # Configuration
//
// The target's url is the service root (https://<instance>.ocp.oraclecloud.com,
// without /documents/…). Auth is basic, bearer, or oauth2 client
// credentials against Oracle IDCS (token_url https://<idcs>/oauth2/v1/token,
// scope <primary audience>urn:opc:cec:all; the client id and secret go as
// HTTP Basic, the token is cached and fetched again after a 401, once).
//
// A watch's destination holds folder_id (a folder GUID, or self for the
// home folder) and optionally metadata (collection plus field values, sent
// as metadataValues), link_id with access_code (a contributor public link
// and its passcode), or app_link_id with access_token (a contributor
// applink). access_code and access_token are secrets (also as *_file); they
// travel only in request headers and never appear in logs or errors.
//
// # Wire protocol
//
//   - New file: POST /documents/api/{v}/files/data, multipart/form-data with
//     the part jsonInputParameters ({"parentID": folder}) before primaryFile,
//     then metadataValues (application/json) if configured. 201 Created; a
//     same-named file in the folder gets a new revision instead (the Upload
//     File rule).
//   - New version: POST /documents/api/{v}/files/{id}/data with primaryFile
//     (and metadataValues); 200, version one higher.
//   - Names are looked up with GET /documents/api/{v}/folders/{id}/items?filterName=…
//     (Get Specific Folder Contents; filterName matches the whole name, and
//     names are compared case-insensitively as Oracle does).
//   - Sub-folders of the watch are mirrored below folder_id: each is looked
//     up by name and created with POST /documents/api/{v}/folders/{parent}
//     only when absent (Create Folder would otherwise make "name(2)"); a
//     create answered with 409 or errorCode -17 looks the folder up. Folder
//     ids are cached per target, so each folder is resolved once.
//   - deletes: propagate sends DELETE /documents/api/{v}/files/{id}, which
//     moves the file to the trash.
//   - Check (dropsync validate --online) reads the home folder,
//     GET /documents/api/{v}/folders/self.
//
// The upload is one streamed request: the small parts are encoded up front
// and the file streams between them, so the request has an exact
// Content-Length and memory does not grow with the file. The API has no
// chunked upload, so chunk_threshold and chunk_size do not apply. Numbers in
// replies (size, version, errorCode) arrive as JSON strings and are read as
// either strings or numbers.
//
// # on_conflict
//
//	version   recorded remote id: Upload File Version on it; none: Upload File by
//	          name, so a same-named file on the server gets a new revision
//	overwrite the same as version: the API cannot replace content without
//	          keeping the old revision (Watch logs a warning saying so)
//	rename    upload under the first free name of name.ext, name(2).ext,
//	          name(3).ext…, each looked up in the folder first
//	skip      a recorded remote, or a file of that name in the folder, is left
//	          alone and the job is done; otherwise the file is uploaded
//
// # Errors
//
// Oracle's errorMessage is the error's message. errorCode -16 or HTTP 404
// is "folder or file not found", -20 or 403 "insufficient privileges", -18
// "access code required", -26 "link invalid or expired": all permanent.
// A 409 (or -17) on upload looks the name up again and retries once; a
// recorded file that is gone is uploaded as a new file, and a mirrored
// folder that is gone is created again, once. 401 is an auth failure, 429
// and 503 with Retry-After throttle the target, other 5xx and network
// failures are retried.
package oracledocs
