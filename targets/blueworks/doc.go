// Package blueworks is the dropsync target adapter for type "blueworks":
// IBM Blueworks Live's FileUpload API, which attaches a file to a process
// activity, a process application, a decision, a work item (instance), a
// policy or a post.
//
// # Wire protocol
//
// One request per file:
//
//	POST {url}/scr/api/FileUpload
//	Authorization: Bearer <token>
//	X-IBM-API-Version: 20160630
//	X-On-Behalf-Of: <user>                  (when destination.on_behalf_of is set)
//	Content-Type: multipart/form-data; boundary=…
//	Content-Length: <exact>
//
//	locationField   = destination.location
//	ancestorIdField = destination.ancestor_id  (sent empty where the location needs none)
//	parentIdField   = destination.parent_id    (sent empty where the location needs none)
//	fileData        = the file, with its name and a content type guessed from
//	                  the extension (application/octet-stream when unknown)
//
// The form's part headers are computed up front, so the request has an exact
// Content-Length and the file streams from disk between them: memory does
// not grow with the file.
//
// The answer is JSON with a "status": SUCCESS records "id" (the id
// FileDownload takes) as Remote.ID, with "fileItemId" and "type" in
// Remote.Extra. SIZE (over 50 MB), SPACE (the account is full) and
// FAILED_DELETED (virus or not-permitted content) are permanent: the file
// goes to the failed list, and `dropsync queue retry` re-sends it once the
// operator has acted. FAILED is retried, at most three attempts in all.
// HTTP 429 pauses the target for Retry-After; 5xx is retried; 401 and 403
// are auth failures carrying the server's text.
//
// # Destination
//
// Which ids a location needs (the documented meaning, checked at
// configuration time):
//
//	location  ancestor_id                  parent_id
//	activity  the process blueprint ID     the process ID
//	app       the process application ID   the application ID
//	decision  the decision diagram ID      the decision ID
//	instance  the work ID                  the work ID (the same)
//	policy    —                            the policy ID
//	post      —                            —
//
// An id the location does not take is refused rather than sent.
//
// # Authentication
//
// OAuth 2 client credentials only (a User Service ID with the Artifact
// Authoring category, or an account Service ID together with
// destination.on_behalf_of): POST {url}/oauth/token (or auth.token_url) with
// grant_type, client_id and client_secret in the form body. The token is
// cached, fetched again shortly before it expires (expires_in) and, once,
// after a 401.
//
// # Account server
//
// Blueworks answers a request to the general host
// (https://www.blueworkslive.com) with 301 and a Location on the account's
// own server. The adapter follows such a host move for the token and the
// upload call, re-sending the streamed file, and remembers the new server
// for the life of the target. It follows only a 301 or 308 that keeps the
// path, does not drop from https to http, and stays on the same host name or
// within the configured host's domain (www.blueworkslive.com may move to
// us001.blueworkslive.com, never elsewhere), so credentials never leave the
// account's servers.
//
// # on_conflict
//
// Every upload adds a new attachment; the API can neither replace nor
// version one, and there is no lookup by name.
//
//	version    refused by validate: Blueworks cannot add a version to an attachment
//	overwrite  refused by validate: Blueworks cannot replace an attachment
//	rename     a new file is uploaded under its own name; a changed file, or
//	           another path with the same name, as name(N).ext with N the
//	           first number the daemon's name book (the queue's
//	           remote_names table) has not recorded for the location, since
//	           the API cannot list attachments: f03.bin, f03(1).bin,
//	           f03(2).bin…; Blueworks keeps the earlier ones beside it
//	skip       a path already delivered (per the state table) is left alone;
//	           only files never delivered are uploaded
//
// Because version is the configuration's default, a blueworks watch must set
// on_conflict to rename or skip. deletes: propagate is refused too: the API
// has no delete.
//
// # Limit
//
// The documented limit, "larger than 50 MB", is taken as 50,000,000 bytes,
// MB being the decimal unit as everywhere in dropsync's configuration. A
// larger file fails before any byte is sent; max_file_size overrides the
// limit for an account known to accept more.
package blueworks
