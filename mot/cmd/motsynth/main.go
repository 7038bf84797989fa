// Command motsynth writes package mot's synthetic benchmark as a
// MOTChallenge directory, so that `vigil track` and `vigil eval mot` can be
// run on it like on MOT17:
//
//	go run ./mot/cmd/motsynth -o /tmp/synth
//	vigil track --det /tmp/synth -o /tmp/synth-res
//	vigil eval mot --gt /tmp/synth --res /tmp/synth-res
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-vision/vigil/mot"
)

func main() {
	out := flag.String("o", "", "output `dir`; one <seq>/ per sequence")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: motsynth -o DIR")
		os.Exit(2)
	}
	for _, b := range mot.Benchmark {
		dir := filepath.Join(*out, "SYNTH-"+b.Name)
		if err := mot.WriteSequence(dir, mot.Synth(b.Seed, b.Options)); err != nil {
			fmt.Fprintln(os.Stderr, "motsynth:", err)
			os.Exit(1)
		}
		fmt.Println(dir)
	}
}
