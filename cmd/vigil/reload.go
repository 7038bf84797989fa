package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/node"
)

// cmdReload asks a running vigil to read its config file again and apply
// it, and prints what changed. The address and token come from the config
// file (http.listen, http.token_file or VIGIL_HTTP_TOKEN) or --url.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the running vigil's config `file`: its http.listen and token")
	url := fs.String("url", "", "the running vigil's HTTP `address` (default: http.listen of --config, else 127.0.0.1:8080)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	cfg := config.Default()
	if *file != "" {
		var err error
		if cfg, err = config.Load(*file); err != nil {
			return fmt.Errorf("the file has errors; a reload would change nothing:\n%w", err)
		}
	}
	if !cfg.HTTP.Enabled() && *url == "" {
		return fmt.Errorf("%s: http.listen is off, so the running vigil cannot be asked; send it SIGHUP instead (kill -HUP PID)", *file)
	}
	base := *url
	if base == "" {
		base = cfg.HTTP.Listen
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	token, err := cfg.HTTPToken()
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+"/api/config/reload", nil)
	if err != nil {
		return fmt.Errorf("--url %q: %w", base, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 5 * time.Minute} // loading detectors takes seconds
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach vigil at %s: %w; is it running, and is that its http.listen?", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var rep node.Report
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("vigil at %s wants its token: set http.token_file in --config, or VIGIL_HTTP_TOKEN", base)
	}
	if err := json.Unmarshal(body, &rep); err != nil || rep.Outcome == "" {
		return fmt.Errorf("vigil at %s answered %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintln(stdout, string(out))
	switch rep.Outcome {
	case "failed":
		return errors.New("reload failed; nothing changed: " + rep.Error)
	case "partial":
		return errors.New("reload applied in part: " + rep.Error)
	}
	return nil
}
