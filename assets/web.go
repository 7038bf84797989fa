package assets

import (
	"embed"
	"io/fs"
	"net/http"
)

// Web holds the web pages: the live view (web/index.html and web/live.js,
// served by package liveview) and the events page (web/events.html and
// web/events.js, served by package evidence). Plain HTML and JavaScript,
// no build step.
//
//go:embed web
var Web embed.FS

// Page serves the file name of Web with contentType, never cached without
// asking (a new vigil may bring a new page).
func Page(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(Web, name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	}
}
