package sinks

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Defaults of the embedded server.
const (
	DefaultEmbeddedHost = "127.0.0.1"
	DefaultEmbeddedPort = 4222

	embeddedReadyTimeout = 10 * time.Second

	// DefaultStoreCheck is how often the JetStream store is checked for a
	// write error.
	DefaultStoreCheck = 2 * time.Second
	// DefaultStoreMinFree is the room JetStream's file system needs before
	// a JetStream stopped by a write error is restarted.
	DefaultStoreMinFree = 4 << 20
)

// EmbeddedOptions configures the in-process NATS server.
type EmbeddedOptions struct {
	Host      string // default "127.0.0.1"
	Port      int    // default 4222; -1 picks a free port (tests)
	StoreDir  string // JetStream store directory, required when JetStream is on
	JetStream bool
	// MQTTListen, "host:port", turns on the server's MQTT listener (needs
	// JetStream): MQTT clients see subject a.b.c as topic a/b/c. "" = off.
	MQTTListen string
	// Logger receives the server's own log lines (notice → info, warn, error,
	// fatal → error, debug); protocol tracing stays off.
	Logger zerolog.Logger
	// ServerName names the server; each server of a cluster needs its own.
	// "" = vigil-embedded.
	ServerName string
	// Cluster, with a Name, makes the server one of a cluster.
	Cluster ClusterOptions
	// StoreCheck is how often JetStream's store is checked for a write
	// error (a full disk); 0 = DefaultStoreCheck. StoreMinFree is the room
	// its file system needs before JetStream is restarted after one; 0 =
	// DefaultStoreMinFree. See Embedded.StoreError.
	StoreCheck   time.Duration
	StoreMinFree int64
	// MaxPayload is the largest message the server takes, in bytes; 0 =
	// NATS's default, 1 MB. Split inference at float32 sends more
	// (package infer).
	MaxPayload int32
}

// ClusterOptions join the embedded server to a NATS cluster.
type ClusterOptions struct {
	Name   string     // the same on every server
	Listen string     // host:port the other servers' routes connect to
	Routes []*url.URL // the other servers' cluster addresses (this one's own is ignored)
}

// Embedded is a nats-server running inside the vigil process.
type Embedded struct {
	srv  *server.Server
	once sync.Once

	storeErr atomic.Pointer[string] // why JetStream cannot store; nil while it can
	quit     chan struct{}          // closed by Shutdown
	watching sync.WaitGroup
}

// StartEmbedded starts nats-server in-process and returns once it accepts
// clients, or with an error that names the address and the fix.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	host := opts.Host
	if host == "" {
		host = DefaultEmbeddedHost
	}
	port := opts.Port
	if port == 0 {
		port = DefaultEmbeddedPort
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if port < -1 || port > 65535 {
		return nil, fmt.Errorf("embedded NATS on %s: port %d out of range; set nats.listen to a port in 1-65535", addr, port)
	}
	if opts.JetStream && opts.StoreDir == "" {
		return nil, fmt.Errorf("embedded NATS on %s: JetStream needs a store directory; set the NATS store dir or turn JetStream off", addr)
	}
	var mqttHost string
	var mqttPort int
	if opts.MQTTListen != "" {
		if !opts.JetStream {
			return nil, fmt.Errorf("embedded NATS on %s: MQTT on %s needs JetStream; set nats.jetstream: true", addr, opts.MQTTListen)
		}
		h, p, err := net.SplitHostPort(opts.MQTTListen)
		if err == nil {
			mqttPort, err = strconv.Atoi(p)
		}
		if err != nil || mqttPort < -1 || mqttPort > 65535 {
			return nil, fmt.Errorf("embedded NATS: MQTT listen address %q is not host:port; e.g. 127.0.0.1:1883", opts.MQTTListen)
		}
		mqttHost = h
		if mqttPort == 0 {
			mqttPort = -1 // any free port
		}
		if mqttPort > 0 {
			if err := probeListen(opts.MQTTListen); err != nil {
				return nil, fmt.Errorf("MQTT: %w", err)
			}
		}
	}

	// The server only reports a bind failure through its logger and would
	// leave us waiting out the whole ready timeout, so ask the OS first.
	if port > 0 {
		if err := probeListen(addr); err != nil {
			return nil, err
		}
	}

	name := opts.ServerName
	if name == "" {
		name = "vigil-embedded"
	}
	sopts := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       port,
		JetStream:  opts.JetStream,
		StoreDir:   opts.StoreDir,
		NoSigs:     true, // the signals belong to vigil
		MaxPayload: opts.MaxPayload,
	}
	if opts.MQTTListen != "" {
		sopts.MQTT.Host, sopts.MQTT.Port = mqttHost, mqttPort
	}
	if c := opts.Cluster; c.Name != "" {
		h, p, err := net.SplitHostPort(c.Listen)
		cport, perr := strconv.Atoi(p)
		if err != nil || perr != nil || cport < 0 || cport > 65535 {
			return nil, fmt.Errorf("embedded NATS: cluster listen address %q is not host:port; e.g. 0.0.0.0:6222", c.Listen)
		}
		if cport == 0 {
			cport = -1 // any free port (tests)
		} else if err := probeListen(c.Listen); err != nil {
			return nil, fmt.Errorf("cluster: %w; check nats.cluster.listen", err)
		}
		sopts.Cluster = server.ClusterOpts{Name: c.Name, Host: h, Port: cport}
		sopts.Routes = c.Routes
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS on %s: %w", addr, err)
	}
	logger := newServerLogger(opts.Logger)
	srv.SetLoggerV2(logger, levelEnabled(opts.Logger, zerolog.DebugLevel), false, false)

	go srv.Start()

	deadline := time.Now().Add(embeddedReadyTimeout)
	for {
		select {
		case msg := <-logger.fatal:
			srv.Shutdown()
			srv.WaitForShutdown()
			if strings.Contains(msg, syscall.EADDRINUSE.Error()) { // lost a race after the probe
				return nil, addrInUse(addr)
			}
			return nil, fmt.Errorf("embedded NATS on %s: %s", addr, msg)
		default:
		}
		if srv.ReadyForConnections(50 * time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("embedded NATS on %s: not ready for connections after %s", addr, embeddedReadyTimeout)
		}
	}
	e := &Embedded{srv: srv, quit: make(chan struct{})}
	if cfg := srv.JetStreamConfig(); opts.JetStream && cfg != nil {
		w := storeWatch{e: e, dir: opts.StoreDir, every: cmp.Or(opts.StoreCheck, DefaultStoreCheck),
			minFree: cmp.Or(opts.StoreMinFree, DefaultStoreMinFree), cfg: *cfg,
			clustered: opts.Cluster.Name != "", log: opts.Logger.With().Str("component", "nats-server").Logger()}
		e.watching.Add(1)
		go func() { defer e.watching.Done(); w.run() }()
	}
	ev := opts.Logger.Info().Str("component", "nats-server").Str("url", e.ClientURL()).
		Bool("jetstream", opts.JetStream).Str("mqtt", e.MQTTAddr())
	if opts.Cluster.Name != "" {
		ev = ev.Str("server", name).Str("cluster", opts.Cluster.Name).Str("cluster_listen", e.ClusterAddr()).Int("routes", len(opts.Cluster.Routes))
	}
	ev.Msg("embedded NATS ready")
	return e, nil
}

func probeListen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return addrInUse(addr)
		}
		return fmt.Errorf("embedded NATS on %s: %w; check nats.listen", addr, err)
	}
	return l.Close()
}

func addrInUse(addr string) error {
	return fmt.Errorf("embedded NATS on %s: address in use; set nats.listen to another port or nats.url to use an external server", addr)
}

// ClientURL is the URL clients use to reach the server; an unspecified
// listen address (0.0.0.0, ::) is reached through loopback.
func (e *Embedded) ClientURL() string {
	u := e.srv.ClientURL()
	addr := e.srv.Addr()
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return u
	}
	loop := "127.0.0.1"
	if tcp.IP.To4() == nil {
		loop = "::1"
	}
	return "nats://" + net.JoinHostPort(loop, strconv.Itoa(tcp.Port))
}

// ClusterAddr is the address other servers' routes reach, "" outside a
// cluster.
func (e *Embedded) ClusterAddr() string {
	addr := e.srv.ClusterAddr()
	if addr == nil {
		return ""
	}
	return addr.String()
}

// MQTTAddr is the address of the MQTT listener, "" when it is off.
func (e *Embedded) MQTTAddr() string {
	v, err := e.srv.Varz(nil)
	if err != nil || v.MQTT.Port <= 0 {
		return ""
	}
	host := v.MQTT.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(v.MQTT.Port))
}

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		close(e.quit)
		e.watching.Wait()
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	})
}

// serverLogger routes nats-server's logging seam into zerolog.
type serverLogger struct {
	l     zerolog.Logger
	fatal chan string
}

func newServerLogger(l zerolog.Logger) *serverLogger {
	return &serverLogger{
		l:     l.With().Str("component", "nats-server").Logger(),
		fatal: make(chan string, 1),
	}
}

// Noticef goes to debug: the server's banner and notices are many lines
// that a vigil operator does not need; vigil logs its own "ready" line.
func (s *serverLogger) Noticef(format string, v ...any) { s.l.Debug().Msgf(format, v...) }
func (s *serverLogger) Warnf(format string, v ...any)   { s.l.Warn().Msgf(format, v...) }
func (s *serverLogger) Errorf(format string, v ...any)  { s.l.Error().Msgf(format, v...) }
func (s *serverLogger) Debugf(format string, v ...any)  { s.l.Debug().Msgf(format, v...) }
func (s *serverLogger) Tracef(format string, v ...any)  { s.l.Trace().Msgf(format, v...) }

// Fatalf must not exit: the server runs inside vigil, and StartEmbedded
// turns the first fatal message into its error.
func (s *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.l.Error().Bool("fatal", true).Msg(msg)
	select {
	case s.fatal <- msg:
	default:
	}
}

func levelEnabled(l zerolog.Logger, lvl zerolog.Level) bool {
	e := l.WithLevel(lvl)
	if e == nil {
		return false
	}
	e.Discard()
	return true
}
