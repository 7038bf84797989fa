package sinks

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Connection behaviour: vigil keeps running while NATS is away and drops
// per-frame data rather than buffering it, so the reconnect buffer is small.
const (
	reconnectWait      = 500 * time.Millisecond
	reconnectJitter    = 250 * time.Millisecond
	reconnectJitterTLS = 500 * time.Millisecond
	reconnectBufSize   = 1 << 20
)

// ConnOptions configures a client connection to NATS.
type ConnOptions struct {
	URL  string // one URL or a comma-separated list; default nats.DefaultURL
	Name string // connection name shown by the server

	User      string
	Password  string // the value itself, already read from a file or the environment
	Token     string
	CredsFile string

	TLSCA                 string
	TLSCert               string
	TLSKey                string
	TLSInsecureSkipVerify bool

	Logger zerolog.Logger
}

// Connect dials NATS and keeps reconnecting forever. When no server answers
// yet, it still returns a connection, in the reconnecting state, so that a
// vigil started before its NATS runs and catches up when NATS arrives.
func Connect(o ConnOptions) (*nats.Conn, error) {
	url := o.URL
	if url == "" {
		url = nats.DefaultURL
	}
	shown := RedactURL(url)
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", shown, err)
	}

	log := o.Logger.With().Str("component", "nats").Logger()
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(reconnectBufSize),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", RedactURL(nc.ConnectedUrl())).Msg("NATS connected")
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // our own Close, not a network problem
			}
			ev := log.Warn().Str("url", RedactURL(nc.ConnectedUrl()))
			if err != nil {
				ev = ev.Err(err)
			}
			ev.Msg("NATS disconnected; reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", RedactURL(nc.ConnectedUrl())).Msg("NATS reconnected")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			ev := log.Info()
			if err := nc.LastError(); err != nil {
				ev = ev.Err(err)
			}
			ev.Msg("NATS connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS error")
		}),
	}
	switch {
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	// Secure must come first: RootCAs and ClientCert add to its config.
	if o.TLSInsecureSkipVerify || o.TLSCA != "" || o.TLSCert != "" {
		opts = append(opts, nats.Secure(&tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: o.TLSInsecureSkipVerify, //nolint:gosec // opted into by configuration
		}))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}

	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", shown, err)
	}
	if !nc.IsConnected() {
		log.Warn().Str("url", shown).Msg("NATS not reachable yet; retrying in the background")
	}
	return nc, nil
}

func (o ConnOptions) validate() error {
	methods := 0
	for _, set := range []bool{o.User != "", o.Token != "", o.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return errors.New("choose one of user/password, token or credentials file")
	}
	if o.Password != "" && o.User == "" {
		return errors.New("a password is set without a user; set the NATS user")
	}
	if o.CredsFile != "" {
		if _, err := os.Stat(o.CredsFile); err != nil {
			return fmt.Errorf("credentials file: %w", err)
		}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("TLS client certificate and key must be set together")
	}
	return nil
}

// RedactURL hides the secrets in a NATS URL, or a comma-separated list of
// them, so that it can be logged: a password becomes "xxxxx" and a lone user
// part, which NATS reads as a token, is hidden as a whole.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

func redactOne(u string) string {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(u)
	if i := strings.IndexAny(u[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndex(u[start:end], "@")
	if at < 0 {
		return u
	}
	at += start
	userinfo := u[start:at]
	shown := "xxxxx"
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		shown = user + ":xxxxx"
	}
	return u[:start] + shown + u[at:]
}
