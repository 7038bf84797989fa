package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, env, want, wantErr string
	}{
		{"none", "", "", "", ""},
		{"env", "", "from-env", "from-env", ""},
		{"file wins over env", file, "from-env", "s3cret-token", ""},
		{"missing file", filepath.Join(dir, "nope"), "", "", "http.token_file"},
		{"empty file", empty, "", "", "is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvHTTPToken, tc.env)
			c := Default()
			c.HTTP.TokenFile = tc.file
			got, err := c.HTTPToken()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %v; want one with %q and without the token", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestTURNCredential(t *testing.T) {
	dir := t.TempDir()
	cred := filepath.Join(dir, "cred")
	if err := os.WriteFile(cred, []byte("turn-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.LiveView.ICE.TURN = []TURNServer{
		{URL: "turn:10.0.0.1:3478", Username: "u", CredentialFile: cred},
		{URL: "turn:10.0.0.2:3478", Username: "u", CredentialFile: filepath.Join(dir, "missing")},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.TURNCredential(0); err != nil || got != "turn-pass" {
		t.Errorf("got %q, %v", got, err)
	}
	_, err := c.TURNCredential(1)
	if err == nil || !strings.Contains(err.Error(), "liveview.ice.turn[1].credential_file") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v; want one naming liveview.ice.turn[1].credential_file", err)
	}
	if probs := c.CheckFiles(); len(probs) != 1 || !strings.Contains(probs[0].Error(), "liveview.ice.turn[1].credential_file") {
		t.Errorf("CheckFiles = %v", probs)
	}
}
