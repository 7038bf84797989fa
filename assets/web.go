package assets

import "embed"

// Web holds the live view's page (web/index.html and web/live.js): plain
// HTML and JavaScript, no build step, served by package liveview.
//
//go:embed web
var Web embed.FS
