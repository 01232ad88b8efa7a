// Package web holds the console's templates and static files, embedded in
// the binary (see README.md and internal/console/doc.go).
package web

import "embed"

// FS holds templates/ (layout.html, the pages, partials/) and static/
// (served under /static/).
//
//go:embed templates static
var FS embed.FS
