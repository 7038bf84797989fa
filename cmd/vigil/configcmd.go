package main

import (
	"fmt"
	"io"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
)

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: vigil config check FILE | vigil config example", errUsage)
	}
	switch args[0] {
	case "example":
		_, err := stdout.Write(assets.ExampleConfig)
		return err
	case "check":
		if len(args) != 2 {
			return fmt.Errorf("%w: vigil config check FILE", errUsage)
		}
		cfg, err := config.Load(args[1])
		if err != nil {
			return err
		}
		for _, w := range cfg.CheckFiles() {
			fmt.Fprintf(stderr, "warning: %v\n", w)
		}
		fmt.Fprintf(stdout, "%s: ok (%d cameras)\n", args[1], len(cfg.Cameras))
		return nil
	}
	return fmt.Errorf("%w: unknown config command %q; use check or example", errUsage, args[0])
}
