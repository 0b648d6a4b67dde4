// Package web holds the storefront page of `make run`: plain HTML, CSS and
// JavaScript embedded in the binary with go:embed, with no build step and
// nothing loaded from elsewhere (the page works offline). It talks to the
// HTTP/JSON API of internal/httpapi on the same origin: commands with
// wait_for_outcome, the catalog, and WatchCart as newline-delimited JSON.
//
// The elements a test drives carry stable data-testid attributes; see
// integration/browser_test.go.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// FS is the page's files (index.html, app.js, style.css, ...).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// Handler serves the page. Files are revalidated on every load, so a
// rebuilt binary's page is never mixed with a cached older script.
func Handler() http.Handler {
	files := http.FileServerFS(FS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
