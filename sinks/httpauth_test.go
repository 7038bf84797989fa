package sinks

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	const token = "s3cret-Token"
	g := newGuard(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("inside")) }))
	serve := func(method, path, auth string, cookie *http.Cookie, form url.Values) *httptest.ResponseRecorder {
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		r := httptest.NewRequest(method, path, body)
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	cases := []struct {
		name, method, path, auth string
		code                     int
		form                     bool // the sign-in form is the body
	}{
		{"healthz is open", "GET", "/healthz", "", 200, false},
		{"page without token shows the form", "GET", "/", "", 401, true},
		{"api without token", "GET", "/api/live", "", 401, false},
		{"metrics without token", "GET", "/metrics", "", 401, false},
		{"whep without token", "POST", "/api/whep/demo", "", 401, false},
		{"bearer", "GET", "/api/live", "Bearer " + token, 200, false},
		{"scheme is case-insensitive", "GET", "/metrics", "bearer " + token, 200, false},
		{"wrong token", "GET", "/api/live", "Bearer " + token + "x", 401, false},
		{"token prefix", "GET", "/api/live", "Bearer " + token[:5], 401, false},
		{"basic auth is not a token", "GET", "/api/live", "Basic " + token, 401, false},
		{"no scheme", "GET", "/api/live", token, 401, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(tc.method, tc.path, tc.auth, nil, nil)
			if w.Code != tc.code {
				t.Errorf("%d, want %d", w.Code, tc.code)
			}
			if tc.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if got := strings.Contains(w.Body.String(), `name="token"`); got != tc.form {
				t.Errorf("sign-in form in the body: %v, want %v", got, tc.form)
			}
			if strings.Contains(w.Body.String(), token) {
				t.Error("the token is echoed")
			}
		})
	}

	if w := serve("POST", "/login", "", nil, url.Values{"token": {"guess"}}); w.Code != 401 || len(w.Result().Cookies()) != 0 ||
		!strings.Contains(w.Body.String(), "Wrong token") {
		t.Errorf("wrong sign-in: %d %v", w.Code, w.Result().Cookies())
	}
	w := serve("POST", "/login", "", nil, url.Values{"token": {token}})
	cookies := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode ||
		strings.Contains(cookies[0].Value, token) {
		t.Fatalf("sign-in: %d %+v", w.Code, cookies)
	}
	if w := serve("GET", "/", "", cookies[0], nil); w.Code != 200 || w.Body.String() != "inside" {
		t.Errorf("page with the session cookie: %d", w.Code)
	}
	forged := *cookies[0]
	forged.Value = strings.Repeat("0", len(forged.Value))
	if w := serve("GET", "/", "", &forged, nil); w.Code != 401 {
		t.Errorf("forged cookie: %d", w.Code)
	}
	if other := newGuard("another-token", nil); other.session == g.session {
		t.Error("two tokens give the same session cookie")
	}
}
