package queue

// migrations are applied in order; PRAGMA user_version records how many
// have run. Never edit a released migration: append a new one.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE jobs (
	id          INTEGER PRIMARY KEY,
	watch       TEXT    NOT NULL,            -- the watch's root folder
	rel         TEXT    NOT NULL,            -- slash-separated path below it
	target      TEXT    NOT NULL,            -- target name, for throttle pauses
	state       TEXT    NOT NULL CHECK (state IN ('pending', 'leased', 'done', 'failed')),
	gone        INTEGER NOT NULL DEFAULT 0,  -- the event said the file was deleted
	size        INTEGER NOT NULL DEFAULT 0,  -- fingerprint when enqueued
	mtime       INTEGER NOT NULL DEFAULT 0,
	inode       INTEGER NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0,
	not_before  INTEGER NOT NULL DEFAULT 0,  -- unix ms; retry time
	dirty       INTEGER NOT NULL DEFAULT 0,  -- an event arrived while leased
	last_error  TEXT    NOT NULL DEFAULT '',
	bytes_done  INTEGER NOT NULL DEFAULT 0,  -- progress of the upload in flight
	started_at  INTEGER NOT NULL DEFAULT 0,  -- unix ms the current attempt began
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;
-- One active job per path: events coalesce, and a path is never in flight twice.
CREATE UNIQUE INDEX jobs_active ON jobs (watch, rel) WHERE state IN ('pending', 'leased');
CREATE INDEX jobs_ready ON jobs (state, not_before, id);
CREATE INDEX jobs_path ON jobs (watch, rel);

CREATE TABLE file_state (
	watch          TEXT    NOT NULL,
	rel            TEXT    NOT NULL,
	target         TEXT    NOT NULL,
	size           INTEGER NOT NULL,
	mtime          INTEGER NOT NULL,
	inode          INTEGER NOT NULL,
	sha256         TEXT    NOT NULL,
	remote_id      TEXT    NOT NULL DEFAULT '',
	remote_version TEXT    NOT NULL DEFAULT '',
	remote_name    TEXT    NOT NULL DEFAULT '',
	remote_extra   TEXT    NOT NULL DEFAULT '',  -- JSON object
	delivered_at   INTEGER NOT NULL,
	PRIMARY KEY (watch, rel)
) STRICT;

CREATE TABLE upload_sessions (
	watch      TEXT    NOT NULL,
	rel        TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	token      TEXT    NOT NULL,
	plan       TEXT    NOT NULL,  -- JSON targets.Plan
	offset     INTEGER NOT NULL,
	chunk_size INTEGER NOT NULL,
	hash_state BLOB    NOT NULL,
	size       INTEGER NOT NULL,
	mtime      INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (watch, rel)
) STRICT;

CREATE TABLE target_pauses (
	target TEXT    PRIMARY KEY,
	until  INTEGER NOT NULL,  -- unix ms
	reason TEXT    NOT NULL
) STRICT;
`,
	// 2: file_state remembers when dropsync itself moved the local file
	// away (after_upload, failed_to), so a later folder deletion never
	// counts it as the user's deletion.
	`ALTER TABLE file_state ADD COLUMN moved_away INTEGER NOT NULL DEFAULT 0;`,
	// 3: retention and the delete path. gone_since is when the file was
	// first found missing from its watch (0: present); the retention pass
	// forgets the record once it has been gone long enough. The remote-id
	// index serves the check whether another path shares a remote object.
	`
ALTER TABLE file_state ADD COLUMN gone_since INTEGER NOT NULL DEFAULT 0;
CREATE INDEX file_state_remote ON file_state (target, remote_id);
CREATE INDEX file_state_gone ON file_state (gone_since) WHERE gone_since != 0;
`,
	// 4: the claim order of a watch's backlog (order: oldest | name | none),
	// as a key that sorts: "t" + zero-padded unix ms (mtime or arrival), or
	// "n" + the relative path. The claim walks this index in order; it
	// covers the claim's conditions, so no job row is read to skip one.
	`ALTER TABLE jobs ADD COLUMN ord TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_claim ON jobs (ord, id, not_before, target) WHERE state = 'pending';`,
	// 5: the remote names dropsync delivered to, per target, keyed by the
	// adapter's name key (targets.NameKeyer), with the local path that
	// owns each: two local paths meeting at one remote name are a clash,
	// and adapters that pick free names without listing the server
	// (Blueworks) know which names are taken.
	`CREATE TABLE remote_names (
	target TEXT    NOT NULL,
	key    TEXT    NOT NULL,
	watch  TEXT    NOT NULL,
	rel    TEXT    NOT NULL,
	at     INTEGER NOT NULL,  -- unix ms of the last claim
	PRIMARY KEY (target, key)
) STRICT;`,
	// 6: fingerprints gain the device and the change time (ctime), upload
	// sessions record the whole fingerprint, and file_state records the
	// after_upload action (move, delete) decided with the delivery, in the
	// same transaction, until it is done.
	`
ALTER TABLE jobs ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0;
ALTER TABLE file_state ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE file_state ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0;
ALTER TABLE file_state ADD COLUMN after_upload TEXT NOT NULL DEFAULT '';
ALTER TABLE upload_sessions ADD COLUMN inode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0;
`,
	// 7: after_upload actions (delete, move) that failed, for status and
	// metrics; a later success removes the row.
	`CREATE TABLE after_upload_failures (
	watch  TEXT    NOT NULL,
	rel    TEXT    NOT NULL,
	action TEXT    NOT NULL,             -- delete | move
	error  TEXT    NOT NULL,
	at     INTEGER NOT NULL,             -- unix ms
	PRIMARY KEY (watch, rel)
) STRICT;`,
	// 8: per-target health (issue 11): the state the daemon's health
	// component last decided, a request from the CLI (target retry/resume),
	// and attempts counted per kind of failure, so that an adapter's cap
	// counts only its own kind.
	`
CREATE TABLE target_health (
	target     TEXT    PRIMARY KEY,
	state      TEXT    NOT NULL CHECK (state IN ('up', 'throttled', 'down', 'credentials rejected')),
	since      INTEGER NOT NULL,            -- unix ms of the last change of state
	reason     TEXT    NOT NULL DEFAULT '', -- the last error, in the server's words
	next_probe INTEGER NOT NULL DEFAULT 0,  -- unix ms
	request    TEXT    NOT NULL DEFAULT ''  -- retry | resume, from dropsync target
) STRICT;
CREATE TABLE job_attempts (
	job_id INTEGER NOT NULL,
	class  TEXT    NOT NULL,  -- the kind of failure, e.g. "blueworks: FAILED"
	size   INTEGER NOT NULL,  -- the content the attempts were counted for
	mtime  INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (job_id, class)
) STRICT;
`,
}

// checksAsComparisons writes the CHECK on jobs.state as comparisons. SQLite
// codes an IN list of more than two constants as a temporary table that
// every statement writing the column (each enqueue, lease and finish)
// builds again, about a tenth of the queue's CPU in a burst. The condition
// is the same, so no row needs checking again, and the table's text is
// changed in place, as SQLite's documentation of ALTER TABLE describes for
// changes that leave the stored rows valid; RESET makes this connection
// read the schema again, the daemon's other connections open later, and a
// connection of another process that read the old text checks the same
// condition. It is not a migration: user_version stays, so a previous
// dropsync still opens the database (its own statements do not care how
// the CHECK is written). It runs at every daemon start, in a transaction
// of its own, and changes nothing once done; an SQLite that refuses it
// costs only speed.
const checksAsComparisons = `
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN (''pending'', ''leased'', ''done'', ''failed''))',
	'CHECK (state = ''pending'' OR state = ''leased'' OR state = ''done'' OR state = ''failed'')')
	WHERE type = 'table' AND name = 'jobs' AND instr(sql, 'CHECK (state IN (') > 0;
PRAGMA writable_schema = RESET;
`

// claimIndex is jobs_claim as this dropsync makes it: the one index of
// jobs by state. It walks the pending jobs in claim order and covers the
// claim's conditions, as the partial index of migration 4 did, and serves
// every look-up by state (counts, listings, retention, Open's recovery of
// leases), which jobs_ready of migration 1 did. A job's entry moves within
// it as the state changes: from the head of the pending jobs to the leased
// ones just before them, then to the done jobs just before those (past
// the failed ones, usually few), so a commit that finishes and leases
// jobs writes about one page of it where the two indexes wrote two
// (BenchmarkBurstPages). A done job's ord is cleared (qFinish: done is
// final, never claimed again), so done jobs sort by id and their new
// entries go together whatever the watch's claim order.
const claimIndex = `CREATE INDEX jobs_claim ON jobs (state, ord, id, not_before, target)`

// pathIndex is jobs_path as this dropsync makes it: the failed jobs by
// path, which Enqueue looks up (qLookup, qDropFailed). A path's active job
// is found by jobs_active, and nothing looks up a path's done jobs; the
// index of every job by path of migration 1 took an entry for every job
// enqueued (0.15 frames per file of BenchmarkBurstPages).
const pathIndex = `CREATE INDEX jobs_path ON jobs (watch, rel) WHERE state = 'failed'`

// jobIndexes are the indexes of jobs that reshapeIndexes makes as they
// are given here; dropIndexes are those it drops (jobs_ready: its look-ups
// are jobs_claim's).
//
// This is not a migration: user_version stays, so a previous dropsync
// still opens the database and works with it. Its claim names jobs_claim
// in INDEXED BY, which claimIndex serves in the same order without a sort;
// no dropsync has named jobs_ready or jobs_path in INDEXED BY, and its
// other look-ups find what they need first in these indexes, as they did
// in the old ones. reshapeIndexes runs at every daemon start, in a
// transaction of its own, and changes nothing once done (a previous
// dropsync never changes them back); the first start after an upgrade
// builds them (1.6 s for a million jobs here), holding the write lock. If
// it fails, the indexes it would replace still serve every query.
var (
	jobIndexes  = map[string]string{"jobs_claim": claimIndex, "jobs_path": pathIndex}
	dropIndexes = []string{"jobs_ready"}
)
