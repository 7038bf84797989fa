package sinks

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// sessionCookie holds a browser's proof that it signed in with the token: an
// HMAC of a fixed message keyed by the token, so the cookie never holds the
// token itself and stays valid across restarts with the same token.
const sessionCookie = "vigil_session"

// guard lets through requests that carry the bearer token (Authorization:
// Bearer …) or the session cookie set by POST /login; others get 401. The
// page (GET /) answers 401 with a sign-in form. /healthz stays open for
// liveness probes. Comparisons take constant time; the token is never
// logged or echoed.
type guard struct {
	token   [32]byte // sha256 of the token: compared at a fixed length
	session string   // the cookie value that proves a sign-in
	next    http.Handler
}

func newGuard(token string, next http.Handler) *guard {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("vigil session v1"))
	return &guard{token: sha256.Sum256([]byte(token)), session: hex.EncodeToString(mac.Sum(nil)), next: next}
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz":
		g.next.ServeHTTP(w, r)
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		g.login(w, r)
	case r.URL.Path == "/logout" && r.Method == http.MethodPost:
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case g.allowed(r):
		g.next.ServeHTTP(w, r)
	default:
		g.deny(w, r, "")
	}
}

func (g *guard) tokenOK(t string) bool {
	sum := sha256.Sum256([]byte(t))
	return subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

func (g *guard) allowed(r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && g.tokenOK(strings.TrimSpace(tok))
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.session)) == 1
}

func (g *guard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil || !g.tokenOK(r.PostFormValue("token")) {
		time.Sleep(200 * time.Millisecond) // slows guessing down a little
		g.deny(w, r, "Wrong token.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: g.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 30 * 24 * 3600,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

var signIn = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil — sign in</title>
<style>body{margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;background:#111418;color:#e6e9ee;font:14px system-ui,sans-serif}
form{background:#1b2027;padding:24px;border-radius:8px;display:flex;flex-direction:column;gap:10px;min-width:280px}
input,button{font:inherit;padding:6px 8px}p{margin:0;color:#e5484d}</style></head>
<body><form method="post" action="/login"><strong>vigil</strong>
<label for="token">Access token (http.token_file)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
{{if .}}<p>{{.}}</p>{{end}}<button type="submit">Sign in</button></form></body></html>
`))

// deny answers 401: the sign-in form for a browser asking for a page, a
// one-line reason for everything else.
func (g *guard) deny(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet && r.URL.Path == "/" || r.URL.Path == "/login" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		signIn.Execute(w, msg)
		return
	}
	http.Error(w, "missing or wrong token: send Authorization: Bearer <token> (the content of http.token_file or $VIGIL_HTTP_TOKEN)", http.StatusUnauthorized)
}
