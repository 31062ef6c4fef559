// Drives the official sensenet JavaScript client (@sensenet/client-core,
// pinned in package.json) against a sensenet server, for
// ../../officialclient_test.go.
//
//   node upload.mjs PLAN.json
//
// PLAN.json: {"url", "token", "chunkSize", "uploads": [{"id", "path",
// "name", "parent", "overwrite"}]}. The uploads run one after another, in
// order; one JSON line per upload is printed: {"id", "ok", "result"} or
// {"id", "ok": false, "status", "error"}.
import { File as BufferFile } from 'node:buffer'
import { readFile } from 'node:fs/promises'
import { Repository } from '@sensenet/client-core'

// File is global from Node 20; Debian 12's Node 18 has it in node:buffer.
const File = globalThis.File ?? BufferFile

const plan = JSON.parse(await readFile(process.argv[2], 'utf8'))
const repo = new Repository(
  { repositoryUrl: plan.url, token: plan.token, chunkSize: plan.chunkSize },
  (request) => fetch(request),
)
for (const u of plan.uploads) {
  const file = new File([await readFile(u.path)], u.name)
  try {
    const result = await repo.upload.file({
      parentPath: u.parent,
      file,
      overwrite: u.overwrite,
      binaryPropertyName: 'Binary',
      contentTypeName: 'File',
    })
    console.log(JSON.stringify({ id: u.id, ok: true, result }))
  } catch (e) {
    console.log(JSON.stringify({ id: u.id, ok: false, status: e.response?.status ?? 0, error: String(e.message ?? e) }))
  }
}
