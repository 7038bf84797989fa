package plc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/rules"
)

// Config is vigil-plc's configuration (its own YAML file).
type Config struct {
	LogLevel string          `yaml:"log_level"` // debug|info|warn|error
	NATS     NATS            `yaml:"nats"`
	Stream   string          `yaml:"stream"`   // the events stream
	Consumer string          `yaml:"consumer"` // durable consumer name: progress survives restarts
	Subjects []string        `yaml:"subjects"` // filter; default <prefix>.*.events.*
	AckWait  config.Duration `yaml:"ack_wait"`
	PLC      PLC             `yaml:"plc"`
	Retry    config.Backoff  `yaml:"retry"` // pause between failed writes: min, doubling up to max
	HTTP     HTTP            `yaml:"http"`
	Mappings []Mapping       `yaml:"mappings"`
}

// NATS says how to reach NATS. Secrets come from files or the environment
// (VIGIL_NATS_PASSWORD, VIGIL_NATS_TOKEN), never from this file.
type NATS struct {
	URL          string     `yaml:"url"`
	User         string     `yaml:"user"`
	PasswordFile string     `yaml:"password_file"`
	TokenFile    string     `yaml:"token_file"`
	CredsFile    string     `yaml:"creds_file"`
	TLS          config.TLS `yaml:"tls"`
}

// PLC is the Modbus/TCP server to write to.
type PLC struct {
	URL     string          `yaml:"url"`     // tcp://host:502
	UnitID  *int            `yaml:"unit_id"` // default 1
	Timeout config.Duration `yaml:"timeout"` // per request
}

// HTTP serves /healthz and /metrics.
type HTTP struct {
	Listen string `yaml:"listen"` // host:port; "off" disables
}

// Mapping turns matching events into one Modbus write.
type Mapping struct {
	Camera    string `yaml:"camera"`    // "": any camera
	Rule      string `yaml:"rule"`      // required
	Type      string `yaml:"type"`      // event type, required
	Direction string `yaml:"direction"` // line_cross: "" any direction
	Action    string `yaml:"action"`    // set_coil|clear_coil|pulse_coil|write_register
	Address   int    `yaml:"address"`   // coil or holding register, 0-65535
	// Duration of a pulse_coil: set, wait, clear.
	Duration config.Duration `yaml:"duration"`
	// write_register: From names the event's number to write (occupancy or
	// counts.<key>, e.g. counts.up), or Value a constant. Counts are written
	// modulo 65536, as a 16-bit PLC counter wraps.
	From  string `yaml:"from"`
	Value *int   `yaml:"value"`
}

// Actions.
const (
	ActionSetCoil       = "set_coil"
	ActionClearCoil     = "clear_coil"
	ActionPulseCoil     = "pulse_coil"
	ActionWriteRegister = "write_register"
)

var actions = []string{ActionSetCoil, ActionClearCoil, ActionPulseCoil, ActionWriteRegister}

// Defaults.
const (
	DefaultConsumer = "vigil-plc"
	DefaultListen   = "127.0.0.1:9102"
	DefaultPulse    = 500 * time.Millisecond
)

// Load reads, defaults and validates a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes strictly (unknown keys are errors), fills in defaults and
// validates; every problem is reported with its field path.
func Parse(data []byte, name string) (*Config, error) {
	var c Config
	if err := decode(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s:\n%w", name, err)
	}
	return &c, nil
}

// decode decodes strictly. goccy/go-yaml v1.19.2 panics on a tag where a
// list belongs ("subjects: !x a", goccy/go-yaml#735, fixed upstream after
// that release): a file that makes it panic gets an error like any other.
func decode(data []byte, c *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML library failed on this file (%v); a tag such as !x before a value where a list belongs makes it fail: remove the tag", r)
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, c, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		// The lines shown around the error may hold a URL with a password.
		return errors.New(redactPasswords(yaml.FormatError(err, false, true)))
	}
	return nil
}

func (c *Config) defaults() {
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.NATS.URL == "" {
		c.NATS.URL = "nats://127.0.0.1:4222"
	}
	if c.Stream == "" {
		c.Stream = "VIGIL_EVENTS"
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if len(c.Subjects) == 0 {
		c.Subjects = []string{"vigil.*.events.*"}
	}
	if c.AckWait == 0 {
		c.AckWait = config.Duration(30 * time.Second)
	}
	if c.PLC.UnitID == nil {
		one := 1
		c.PLC.UnitID = &one
	}
	if c.PLC.Timeout == 0 {
		c.PLC.Timeout = config.Duration(time.Second)
	}
	if c.Retry.Min == 0 {
		c.Retry.Min = config.Duration(200 * time.Millisecond)
	}
	if c.Retry.Max == 0 {
		c.Retry.Max = config.Duration(10 * time.Second)
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultListen
	}
	for i := range c.Mappings {
		if c.Mappings[i].Action == ActionPulseCoil && c.Mappings[i].Duration == 0 {
			c.Mappings[i].Duration = config.Duration(DefaultPulse)
		}
	}
}

type problems []error

// add records a problem; a value it quotes may be a URL with a password.
func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &config.FieldError{Path: path, Msg: redactPasswords(fmt.Sprintf(format, args...))})
}

// urlPassword is the password of a URL's user info, "//user:password@",
// wherever the URL stands in a message.
var urlPassword = regexp.MustCompile(`(//[^/?#@\s"':]*):[^/?#@\s"']*@`)

// redactPasswords hides the passwords of the URLs in s as
// url.URL.Redacted does.
func redactPasswords(s string) string { return urlPassword.ReplaceAllString(s, "$1:xxxxx@") }

func in(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Validate checks everything and returns every problem, joined.
func (c *Config) Validate() error {
	var p problems
	if !in([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		p.add("log_level", "unknown level %q; use debug, info, warn or error", c.LogLevel)
	}
	if u, err := url.Parse(c.NATS.URL); err != nil || u.Host == "" || u.User != nil {
		p.add("nats.url", "%q; use nats://host:4222 with no credentials in it (nats.user with nats.password_file, or nats.token_file)", redact(c.NATS.URL))
	}
	if c.NATS.PasswordFile != "" && c.NATS.User == "" {
		p.add("nats.password_file", "needs nats.user")
	}
	for _, f := range []struct{ path, v string }{{"stream", c.Stream}, {"consumer", c.Consumer}} {
		if !rules.NamePattern.MatchString(f.v) {
			p.add(f.path, "%q; use 1-64 letters, digits, _ or -", f.v)
		}
	}
	for i, s := range c.Subjects {
		if s == "" || strings.ContainsAny(s, " \t") {
			p.add(fmt.Sprintf("subjects[%d]", i), "%q; use a subject such as vigil.*.events.*", s)
		}
	}
	if c.AckWait < config.Duration(time.Second) {
		p.add("ack_wait", "%s; use at least 1s, e.g. 30s", c.AckWait)
	}
	u, err := url.Parse(c.PLC.URL)
	switch {
	case c.PLC.URL == "":
		p.add("plc.url", "required; e.g. tcp://192.168.1.50:502")
	case err != nil || u.Scheme != "tcp" || u.Host == "" || u.Port() == "":
		p.add("plc.url", "%q; use tcp://host:port, e.g. tcp://192.168.1.50:502", c.PLC.URL)
	}
	if id := *c.PLC.UnitID; id < 0 || id > 255 {
		p.add("plc.unit_id", "%d; use 0-255 (often 1)", id)
	}
	if c.PLC.Timeout <= 0 {
		p.add("plc.timeout", "%s; use a timeout above 0, e.g. 1s", c.PLC.Timeout)
	}
	if c.Retry.Min <= 0 || c.Retry.Max < c.Retry.Min {
		p.add("retry", "min %s, max %s; use 0 < min <= max, e.g. {min: 200ms, max: 10s}", c.Retry.Min, c.Retry.Max)
	}
	if c.Retry.Max >= c.AckWait/2 {
		p.add("retry.max", "%s must be under half of ack_wait (%s): the bridge tells JetStream it still holds the event between retries", c.Retry.Max, c.AckWait)
	}
	if c.HTTP.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			p.add("http.listen", "%q is not host:port; e.g. 127.0.0.1:9102, or off", c.HTTP.Listen)
		}
	}
	if len(c.Mappings) == 0 {
		p.add("mappings", "none; map at least one rule's events to a write, e.g. {rule: robot_cell, type: occupancy_reached, action: set_coil, address: 0}")
	}
	types := make([]string, len(rules.Types))
	for i, t := range rules.Types {
		types[i] = string(t)
	}
	for i, m := range c.Mappings {
		path := fmt.Sprintf("mappings[%d]", i)
		if m.Rule == "" || !rules.NamePattern.MatchString(m.Rule) {
			p.add(path+".rule", "%q; name the rule as in vigil's config", m.Rule)
		}
		if !in(types, m.Type) {
			p.add(path+".type", "unknown event type %q; use one of %s", m.Type, strings.Join(types, ", "))
		}
		if m.Direction != "" && m.Type != string(rules.TypeLineCross) {
			p.add(path+".direction", "applies to line_cross only")
		}
		if !in(actions, m.Action) {
			p.add(path+".action", "unknown action %q; use %s", m.Action, strings.Join(actions, ", "))
		}
		if m.Address < 0 || m.Address > 65535 {
			p.add(path+".address", "%d; use 0-65535", m.Address)
		}
		if m.Action == ActionPulseCoil && (m.Duration <= 0 || m.Duration >= c.AckWait/2) {
			p.add(path+".duration", "%s; use a pulse above 0 and under half of ack_wait, e.g. 500ms", m.Duration)
		}
		if m.Action != ActionPulseCoil && m.Duration != 0 {
			p.add(path+".duration", "applies to pulse_coil only")
		}
		if m.Action == ActionWriteRegister {
			switch {
			case (m.From == "") == (m.Value == nil):
				p.add(path, "write_register needs one of from (occupancy or counts.<key>) or value (0-65535)")
			case m.Value != nil && (*m.Value < 0 || *m.Value > 65535):
				p.add(path+".value", "%d; use 0-65535", *m.Value)
			case m.From != "" && m.From != "occupancy" && !strings.HasPrefix(m.From, "counts."):
				p.add(path+".from", "%q; use occupancy or counts.<key> (entered, exited, dwell, or a line's direction)", m.From)
			}
		} else if m.From != "" || m.Value != nil {
			p.add(path, "from and value apply to write_register only")
		}
	}
	return errors.Join(p...)
}

func redact(u string) string {
	if pu, err := url.Parse(u); err == nil {
		return pu.Redacted()
	}
	return "(unparsable)"
}

// secrets reads the NATS password and token from their files or the
// environment.
func (n NATS) secrets() (password, token string, err error) {
	read := func(file, env string) (string, error) {
		if file == "" {
			return os.Getenv(env), nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", file, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if password, err = read(n.PasswordFile, config.EnvNATSPassword); err != nil {
		return "", "", err
	}
	token, err = read(n.TokenFile, config.EnvNATSToken)
	return password, token, err
}
