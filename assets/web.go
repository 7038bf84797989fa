package assets

import "embed"

// Web holds the web pages: the live view (web/index.html and web/live.js,
// served by package liveview) and the events page (web/events.html and
// web/events.js, served by package evidence). Plain HTML and JavaScript,
// no build step.
//
//go:embed web
var Web embed.FS
