// Package web is agentledger's browser UI for incident responders and
// auditors: plain HTML, CSS and JavaScript modules, embedded in the binary,
// with no build step. It talks only to the query API (/v1/...) and verifies
// every entry it shows in the browser: the leaf hash, the RFC 6962
// inclusion proof and the Ed25519 signature of the checkpoint, against a
// verifier key the user pinned.
//
// Serve FS at the site root with index.html as the fallback for any path
// that is not a file (query.Config.UI does this). The UI routes with the
// URL fragment (#/credentials/<id>, #/runs/<trace id>, …), so the fallback
// matters only for a mistyped path.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS holds the UI's files with the site root at index.html.
var FS fs.FS = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic("web: embedded files: " + err.Error()) // a broken go:embed pattern
	}
	return sub
}
