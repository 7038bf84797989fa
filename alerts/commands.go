package alerts

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/vigil-vision/vigil/rules"
)

// Command is a request on "<prefix>.<camera>.cmd".
type Command struct {
	Cmd  string `json:"cmd"`            // arm, disarm, reset or status
	Rule string `json:"rule,omitempty"` // required by arm and disarm; reset and status: "" = every rule
}

// Reply answers a Command: the rules' states after it, or an error.
type Reply struct {
	OK     bool          `json:"ok"`
	Camera string        `json:"camera"`
	Rules  []rules.State `json:"rules,omitempty"`
	Error  string        `json:"error,omitempty"`
}

const commandHelp = `use {"cmd":"arm|disarm","rule":"<name>"}, {"cmd":"reset"} or {"cmd":"status"}, optionally with "rule"`

// handleCommand runs one command against a camera's engine. While the
// camera is fenced it neither runs nor answers it: the camera's owner
// answers, and the requester takes the first answer.
func (a *Alerts) handleCommand(camera string, msg *nats.Msg) {
	if _, ok := a.fence(camera); !ok {
		a.log.Debug().Str("camera", camera).Str("subject", msg.Subject).Bytes("request", msg.Data).
			Msg("alerts: command left to the camera's owner: this node does not hold its lease now")
		return
	}
	reply := a.commandOn(camera, msg.Data)
	ev := a.log.Info()
	if !reply.OK {
		ev = a.log.Warn().Str("error", reply.Error)
	}
	ev.Str("camera", camera).Str("subject", msg.Subject).Bytes("request", msg.Data).Msg("alerts: command")
	data, _ := json.Marshal(reply)
	if msg.Reply != "" {
		msg.Respond(data)
	}
}

// commandOn runs a command on the camera's engine of now: one removed since
// the command was sent is not changed, nor its counts stored.
func (a *Alerts) commandOn(camera string, data []byte) Reply {
	a.mu.RLock()
	defer a.mu.RUnlock()
	c := a.cams[camera]
	if c == nil {
		return Reply{Camera: camera, Error: fmt.Sprintf("camera %q has no rules any more", camera)}
	}
	return a.command(camera, c.engine, data)
}

func (a *Alerts) command(camera string, e *rules.Engine, data []byte) Reply {
	fail := func(format string, args ...any) Reply {
		return Reply{Camera: camera, Error: fmt.Sprintf(format, args...)}
	}
	var c Command
	if err := json.Unmarshal(data, &c); err != nil {
		return fail("request is not a JSON command (%v); %s", err, commandHelp)
	}
	var (
		states []rules.State
		err    error
	)
	switch c.Cmd {
	case "arm", "disarm":
		if c.Rule == "" {
			return fail("%s needs a rule: {\"cmd\":%q,\"rule\":\"<name>\"}", c.Cmd, c.Cmd)
		}
		var st rules.State
		st, err = e.Arm(c.Rule, c.Cmd == "arm")
		states = []rules.State{st}
	case "reset":
		states, err = e.Reset(c.Rule)
	case "status":
		if c.Rule == "" {
			states = e.States()
			break
		}
		var st rules.State
		st, err = e.State(c.Rule)
		states = []rules.State{st}
	default:
		return fail("unknown command %q; %s", c.Cmd, commandHelp)
	}
	if err != nil {
		return fail("%v", err)
	}
	if c.Cmd != "status" {
		a.storeCounts(camera, states)
	}
	return Reply{OK: true, Camera: camera, Rules: states}
}
