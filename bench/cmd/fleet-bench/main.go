// Command fleet-bench measures how vigil's fleet mode moves cameras when a
// node dies or stops, whether two nodes ever publish one camera, and what
// the leases cost NATS and the CPU.
//
// Three vigil processes (the real binary, `vigil run`) whose embedded NATS
// servers form one cluster share -cameras testsrc cameras put into the
// fleet with `vigil cameras apply`. A subscriber on each server receives
// every tracks message. Each round kills the node that holds the most
// cameras (-kills rounds with SIGKILL, then -terms with SIGTERM; among
// nodes holding as many, the leader of the leases bucket's stream and a
// follower in turn), times each of its cameras from the signal to that
// camera's first tracks message from another node, starts the node again
// (same config, same data_dir) and waits until it has joined, every camera
// publishes from the owner the fleet shows, and the cameras are spread
// evenly again.
//
// Lines printed and kept (fleet-<date>.txt, fleet-latest.txt):
//
//   - fleet_failover_{p50,p99,max}_s, _count: SIGKILL → first message of
//     the camera from another node. Goal p99 ≤ 5 s. Also split by whether
//     the killed node led the leases stream.
//   - fleet_failover_others_stopped: cameras of the surviving nodes that
//     went without a message for three frame intervals in a kill round.
//   - fleet_handover_{p50,p99,max}_s, _count: the same after SIGTERM. Goal
//     p99 ≤ 1.5 s.
//   - fleet_double_owner_frames: messages whose lease_epoch is lower than
//     one already received for their camera, over the whole run. Goal 0.
//   - fleet_messages_total, fleet_messages_without_node_or_epoch (an error
//     when not 0).
//   - fleet_lease_msgs_per_s_per_100_cameras,
//     fleet_lease_cpu_pct_per_100_cameras: in this process, an embedded
//     NATS server with JetStream and -lease-members members (fleet.Member,
//     whose Runner runs nothing) holding -lease-cameras cameras, over
//     -lease-window of steady state.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/bench/internal/vigilbin"
	"github.com/vigil-vision/vigil/fleet"
)

type options struct {
	kills, terms  int
	cameras       int
	fps           float64
	width, height int
	threads       int
	logLevel      string
	ttl           time.Duration
	moveTimeout   time.Duration
	joinTimeout   time.Duration
	balanceWait   time.Duration
	vigil         string
	keep          string
	out           string
	lease         bool
	leaseRun      leaseOptions
	skipCluster   bool
}

func main() {
	var o options
	flag.IntVar(&o.kills, "kills", 10, "rounds that kill -9 the node holding the most cameras")
	flag.IntVar(&o.terms, "terms", 5, "rounds that stop it with SIGTERM")
	flag.IntVar(&o.cameras, "cameras", 6, "testsrc cameras in the fleet")
	flag.Float64Var(&o.fps, "fps", 2, "frame rate of each camera")
	flag.IntVar(&o.width, "width", 320, "testsrc width")
	flag.IntVar(&o.height, "height", 240, "testsrc height")
	flag.StringVar(&o.logLevel, "log-level", "debug", "the nodes' --log-level: debug keeps NATS's leader elections and the fleet's failed takes in their logs")
	flag.IntVar(&o.threads, "threads", 1, "onnxruntime intra-op threads of each node")
	flag.DurationVar(&o.ttl, "ttl", 0, "fleet.lease_ttl of the nodes and the lease cost run (0: vigil's default, 4s)")
	flag.DurationVar(&o.moveTimeout, "move-timeout", time.Minute, "how long a camera may take to publish from another node before it counts as not moved")
	flag.DurationVar(&o.joinTimeout, "join-timeout", 3*time.Minute, "how long the nodes may take to join the fleet (the cluster's JetStream forms first)")
	flag.DurationVar(&o.balanceWait, "balance-wait", 90*time.Second, "how long to wait, before a round, for the cameras to spread evenly again (fleet.min_hold is 30s)")
	flag.StringVar(&o.vigil, "vigil", "", "a vigil binary to run (default: build ./cmd/vigil into the temporary folder)")
	flag.StringVar(&o.keep, "keep", "", "copy the nodes' logs and configs into this folder at the end")
	flag.StringVar(&o.out, "results", "bench/results", "folder for fleet-<date>.txt and fleet-latest.txt; empty: write none")
	flag.BoolVar(&o.lease, "lease", true, "measure the lease cost (in this process)")
	flag.BoolVar(&o.skipCluster, "skip-cluster", false, "skip the three-node rounds (lease cost only)")
	flag.IntVar(&o.leaseRun.members, "lease-members", 3, "fleet members of the lease cost run")
	flag.IntVar(&o.leaseRun.cameras, "lease-cameras", 100, "cameras of the lease cost run")
	flag.DurationVar(&o.leaseRun.window, "lease-window", 20*time.Second, "steady window of the lease cost run")
	flag.DurationVar(&o.leaseRun.baseline, "lease-baseline", 10*time.Second, "window with no camera, before")
	flag.DurationVar(&o.leaseRun.breakdown, "lease-breakdown", 5*time.Second, "window after, counting the published messages by subject (0: none)")
	flag.Parse()
	o.leaseRun.ttl = o.ttl

	dir, err := os.MkdirTemp("", "fleet-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet-bench:", err)
		os.Exit(1)
	}
	cleanup := func() {
		killChildren()
		if o.keep != "" {
			keepLogs(dir, o.keep)
		}
		os.RemoveAll(dir)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "fleet-bench: %s: stopping the nodes\n", s)
		cleanup()
		os.Exit(1)
	}()
	defer func() {
		if p := recover(); p != nil {
			cleanup()
			panic(p)
		}
	}()
	err = run(o, dir)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet-bench:", err)
		os.Exit(1)
	}
}

// keepLogs copies the nodes' logs and configs out of the temporary folder.
func keepLogs(dir, keep string) {
	if err := os.MkdirAll(keep, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "fleet-bench: keep:", err)
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range append(files, more...) {
		if b, err := os.ReadFile(f); err == nil {
			os.WriteFile(filepath.Join(keep, filepath.Base(f)), b, 0o644)
		}
	}
	fmt.Fprintln(os.Stderr, "fleet-bench: logs kept in", keep)
}

func run(o options, dir string) error {
	r := results.New() // notes the load average now
	header := []string{
		"fleet-bench: cameras moving between vigil nodes (bench/cmd/fleet-bench)",
		"command: " + results.CommandLine("go run ./bench/cmd/fleet-bench"),
		"flags: " + results.Flags(),
		"cpu: " + results.CPUInfo("model name") + ", cores " + results.NProc(),
		"go: " + results.GoVersion(),
	}
	if o.lease {
		if err := leaseCost(r, o.leaseRun, filepath.Join(dir, "lease-js")); err != nil {
			return err
		}
	}
	if !o.skipCluster && o.kills+o.terms > 0 {
		bin := o.vigil
		if bin == "" {
			var err error
			if bin, err = vigilbin.Build("fleet-bench", dir); err != nil {
				return err
			}
		}
		if v, err := exec.Command(bin, "version").Output(); err == nil {
			header = append(header, "vigil: "+strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(v)), "\n", " ; ")), " "))
		}
		header = append(header, fmt.Sprintf("nodes: 3 vigil processes, embedded NATS servers in one cluster; %d testsrc cameras %dx%d at %g fps; model intra_op_threads %d",
			o.cameras, o.width, o.height, o.fps, o.threads))
		if err := rounds(r, o, bin, dir); err != nil {
			return err
		}
	}
	if o.out == "" {
		return nil
	}
	path, err := r.Write(o.out, "fleet-", time.Now(), append(header, r.Load()))
	if err == nil {
		fmt.Fprintln(os.Stderr, "fleet-bench: wrote", path)
	}
	return err
}

// round is one node stopped and started again.
type round struct {
	kind   string // "kill" (SIGKILL) or "term" (SIGTERM)
	victim string
	// leaders are the servers that led the fleet's buckets' streams when
	// the round began, by bucket: leases, nodes, cameras.
	leaders map[string]string
	cameras []string
	at      time.Time                // the signal sent
	moved   map[string]time.Duration // camera → first message from another node
	taken   map[string]time.Duration // camera → the new owner's "fleet: camera taken" read
	exited  time.Duration            // signal → process gone
	restart time.Time                // the victim started again
	// bystanders is, for each camera the victim did not hold, the longest
	// it went without a message from the signal to the restart.
	bystanders map[string]time.Duration
	rejoin     time.Duration // start → its /api/fleet answers 200
	balanced   bool          // the cameras were spread evenly when it began
}

func rounds(r *results.Report, o options, bin, dir string) error {
	ps, paths, err := writeConfigs(dir, 3, o.threads, o.ttl)
	if err != nil {
		return err
	}
	logs := &logBook{}
	nodes := make([]*node, len(ps))
	for i, p := range ps {
		nodes[i] = &node{name: fmt.Sprintf("n%d", i+1), config: paths[i], client: p.client, http: p.http, bin: bin, dir: dir, logs: logs, logLevel: o.logLevel}
	}
	rec := newRecorder()
	defer rec.close()
	for _, n := range nodes {
		if err := rec.subscribe("nats://"+n.client, "vigil.*.tracks"); err != nil {
			return err
		}
	}
	begin := time.Now()
	fmt.Fprintln(os.Stderr, "fleet-bench: starting 3 nodes")
	for _, n := range nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	defer stopAll(nodes)
	if err := waitJoined(nodes, o.joinTimeout, logs, begin); err != nil {
		return err
	}
	r.Add("fleet_start_to_joined_s", "%.1f", time.Since(begin).Seconds())

	camFile := filepath.Join(dir, "cameras.yaml")
	var b strings.Builder
	b.WriteString("cameras:\n")
	var ids []string
	for i := 1; i <= o.cameras; i++ {
		id := fmt.Sprintf("cam-%d", i)
		ids = append(ids, id)
		fmt.Fprintf(&b, "  - {id: %s, url: testsrc, fps: %g, width: %d, height: %d}\n", id, o.fps, o.width, o.height)
	}
	if err := os.WriteFile(camFile, []byte(b.String()), 0o644); err != nil {
		return err
	}
	applied := time.Now()
	apply := exec.Command(bin, "cameras", "apply", camFile, "--nats", "nats://"+nodes[0].client)
	if out, err := apply.CombinedOutput(); err != nil {
		return fmt.Errorf("vigil cameras apply: %w\n%s", err, out)
	}
	if _, err := waitSteady(nodes, ids, rec, o, logs, applied); err != nil {
		return err
	}
	r.Add("fleet_apply_to_all_publishing_s", "%.1f", time.Since(applied).Seconds())
	var replicas []string
	for _, b := range fleetBuckets {
		_, n := rec.streamLeader("KV_" + b.bucket)
		replicas = append(replicas, fmt.Sprintf("%s=%d", b.name, n))
	}
	r.Add("fleet_bucket_replicas", "%s", strings.Join(replicas, " "))

	killed := map[string]int{}
	kinds := map[string]int{}
	var done []round
	total := o.kills + o.terms
	for i := range total {
		kind, sig := "kill", syscall.SIGKILL
		if i >= o.kills {
			kind, sig = "term", syscall.SIGTERM
		}
		balanced, err := waitSteady(nodes, ids, rec, o, logs, time.Now())
		if err != nil {
			return fmt.Errorf("before round %d: %w", i+1, err)
		}
		leaders := map[string]string{}
		for _, b := range fleetBuckets {
			leaders[b.name], _ = rec.streamLeader("KV_" + b.bucket)
		}
		// Among the nodes holding the most cameras, a round kills the
		// leases stream's leader and the next a follower: the two fail over
		// differently, and both are measured.
		victim, held := pickVictim(nodes, ids, rec, killed, leaders["leases"], kinds[kind]%2 == 0)
		kinds[kind]++
		killed[victim.name]++
		rd := round{kind: kind, victim: victim.name, cameras: held, balanced: balanced,
			moved: map[string]time.Duration{}, taken: map[string]time.Duration{}}
		rd.leaders = leaders
		fmt.Fprintf(os.Stderr, "fleet-bench: round %d/%d: %s %s (%s); leaders: %s\n", i+1, total, kind, victim.name, strings.Join(held, ","), rd.leaderList())
		rd.at, err = victim.signal(sig)
		if err != nil {
			return fmt.Errorf("round %d: signal %s: %w", i+1, victim.name, err)
		}
		exitLimit := 30 * time.Second
		if !victim.waitExit(exitLimit) {
			fmt.Fprintf(os.Stderr, "fleet-bench: %s still running %s after %s; killing it\n", victim.name, exitLimit, sig)
			victim.signal(syscall.SIGKILL)
			victim.waitExit(10 * time.Second)
		}
		rd.exited = time.Since(rd.at)
		if rd.exited > exitLimit {
			rd.exited = exitLimit
		}
		// Every camera it held publishing from another node.
		deadline := rd.at.Add(o.moveTimeout)
		for {
			for _, c := range held {
				if _, ok := rd.moved[c]; ok {
					continue
				}
				if a, ok := rec.firstFromOther(c, victim.name, rd.at); ok {
					rd.moved[c] = a.at.Sub(rd.at)
					if e, ok := logs.find(rd.at, func(e logEvent) bool {
						return e.node == a.node && e.message == "fleet: camera taken" && e.fields["camera"] == c
					}); ok {
						rd.taken[c] = e.at.Sub(rd.at)
					}
				}
			}
			if len(rd.moved) == len(held) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(rd.moved) < len(held) {
			fmt.Fprintf(os.Stderr, "fleet-bench: round %d: not moved within %s:", i+1, o.moveTimeout)
			for _, c := range held {
				if _, ok := rd.moved[c]; !ok {
					fmt.Fprintf(os.Stderr, " %s", c)
				}
			}
			fmt.Fprintln(os.Stderr, "; the fleet's log lines since the signal:")
			for _, l := range logs.excerpt(rd.at.Add(-2*time.Second), time.Now(), 60) {
				fmt.Fprintln(os.Stderr, "  ", l)
			}
		}
		rd.restart = time.Now()
		if err := victim.start(); err != nil {
			return err
		}
		if err := waitJoined([]*node{victim}, o.joinTimeout, logs, rd.restart); err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		rd.rejoin = time.Since(rd.restart)
		done = append(done, rd)
		fmt.Fprintf(os.Stderr, "fleet-bench: round %d: moved %s; exited %.2fs; rejoined %.1fs\n", i+1, durs(rd.moved, held), rd.exited.Seconds(), rd.rejoin.Seconds())
	}
	if _, err := waitSteady(nodes, ids, rec, o, logs, time.Now()); err != nil {
		return fmt.Errorf("after the last round: %w", err)
	}
	// The counts before the nodes stop: a whole fleet stopping is not
	// measured here.
	total0, unfenced, bad, stale := rec.counts()
	for i := range done {
		rd := &done[i]
		rd.bystanders = map[string]time.Duration{}
		for _, c := range ids {
			if !slices.Contains(rd.cameras, c) {
				rd.bystanders[c] = rec.maxGap(c, rd.at, rd.restart)
			}
		}
	}

	report(r, o, done, ids)
	// A move the bench caused spans a round's signal and restart: the new
	// node's first message after the signal, the former's last before the
	// restart (the victim's cameras, and those of the other nodes that
	// stopped meanwhile). Balance moves begin after a restart and end
	// before the next round's signal.
	gaps := rec.moveGaps(func(lastOld, firstNew time.Time) bool {
		for _, rd := range done {
			if firstNew.After(rd.at) && lastOld.Before(rd.restart) {
				return true
			}
		}
		return false
	})
	r.Add("fleet_balance_moves", "%d", len(gaps))
	if len(gaps) > 0 {
		r.Add("fleet_balance_gap_p50_s", "%.3f", results.Percentile(gaps, 50))
		r.Add("fleet_balance_gap_max_s", "%.3f", slices.Max(gaps))
	}
	r.Add("fleet_double_owner_frames", "%d (goal 0: %s)", len(stale), met(len(stale) == 0))
	r.Add("fleet_messages_total", "%d", total0)
	r.Add("fleet_messages_without_node_or_epoch", "%d (an error when not 0)", unfenced)
	r.Add("fleet_messages_unparsable", "%d", bad)
	// The fleet's own warnings and errors (the NATS servers' route errors
	// while one of them is down are expected, and not counted).
	fleetLine := func(e logEvent) bool { return strings.HasPrefix(e.message, "fleet") }
	warn := logs.count(func(e logEvent) bool { return fleetLine(e) && e.level == "warn" })
	errs := logs.count(func(e logEvent) bool {
		return fleetLine(e) && e.level != "warn" && e.level != "info" && e.level != "debug"
	})
	r.Add("fleet_log_fleet_warn_lines", "%d", warn)
	r.Add("fleet_log_fleet_error_lines", "%d", errs)
	for i, s := range stale {
		if i == 20 {
			fmt.Fprintf(os.Stderr, "fleet-bench: … %d more double owner frames\n", len(stale)-20)
			break
		}
		fmt.Fprintf(os.Stderr, "fleet-bench: double owner frame: %s seq %d from %s epoch %d at %s, after epoch %d from %s at %s\n",
			s.camera, s.seq, s.node, s.epoch, s.at.Format("15:04:05.000"), s.newer.epoch, s.newer.node, s.newer.at.Format("15:04:05.000"))
	}
	return nil
}

func report(r *results.Report, o options, done []round, ids []string) {
	var kill, term, killTaken, termTaken, exitTerm, rejoin []float64
	byLeader := map[bool][]float64{} // kill rounds: victim led the leases stream
	unmoved, unbalanced := 0, 0
	// A camera of a surviving node "stopped" when it went without a
	// message for three frame intervals (at least 1.5 s).
	stopAfter := max(1500*time.Millisecond, time.Duration(3/o.fps*float64(time.Second)))
	stopped := map[string]int{}
	bystanders := map[string]int{}
	gapMax := map[string]time.Duration{}
	for i, rd := range done {
		var gap time.Duration
		for _, g := range rd.bystanders {
			bystanders[rd.kind]++
			if g > stopAfter {
				stopped[rd.kind]++
			}
			gap = max(gap, g)
		}
		gapMax[rd.kind] = max(gapMax[rd.kind], gap)
		for _, c := range rd.cameras {
			d, ok := rd.moved[c]
			if !ok {
				unmoved++
				continue
			}
			if rd.kind == "kill" {
				kill = append(kill, d.Seconds())
				byLeader[rd.ledLeases()] = append(byLeader[rd.ledLeases()], d.Seconds())
			} else {
				term = append(term, d.Seconds())
			}
			if t, ok := rd.taken[c]; ok {
				if rd.kind == "kill" {
					killTaken = append(killTaken, t.Seconds())
				} else {
					termTaken = append(termTaken, t.Seconds())
				}
			}
		}
		if rd.kind == "term" {
			exitTerm = append(exitTerm, rd.exited.Seconds())
		}
		rejoin = append(rejoin, rd.rejoin.Seconds())
		if !rd.balanced {
			unbalanced++
		}
		r.Add(fmt.Sprintf("fleet_round_%d", i+1), "%s %s cameras %s moved_s %s others_longest_gap_s %.3f exited_s %.2f rejoined_s %.1f leaders %s%s",
			rd.kind, rd.victim, strings.Join(rd.cameras, ","), durs(rd.moved, rd.cameras), gap.Seconds(), rd.exited.Seconds(), rd.rejoin.Seconds(), rd.leaderList(),
			map[bool]string{true: "", false: " (began unbalanced)"}[rd.balanced])
	}
	r.Add("fleet_nodes", "3")
	r.Add("fleet_cameras", "%d", len(ids))
	ttl := o.ttl
	if ttl == 0 {
		ttl = 4 * time.Second
	}
	r.Add("fleet_lease_ttl_s_nodes", "%g", ttl.Seconds())
	r.Add("fleet_failover_rounds", "%d", o.kills)
	r.Add("fleet_failover_count", "%d", len(kill))
	if len(kill) > 0 {
		r.Add("fleet_failover_p50_s", "%.3f", results.Percentile(kill, 50))
		p99 := results.Percentile(kill, 99)
		r.Add("fleet_failover_p99_s", "%.3f (goal ≤ 5: %s)", p99, met(p99 <= 5))
		r.Add("fleet_failover_max_s", "%.3f", slices.Max(kill))
		if len(killTaken) > 0 {
			r.Add("fleet_failover_taken_p50_s", "%.3f", results.Percentile(killTaken, 50))
			r.Add("fleet_failover_taken_p99_s", "%.3f", results.Percentile(killTaken, 99))
		}
		for _, led := range []bool{true, false} {
			name := map[bool]string{true: "leases_leader_killed", false: "leases_follower_killed"}[led]
			if v := byLeader[led]; len(v) > 0 {
				r.Add("fleet_failover_"+name+"_p50_s", "%.3f", results.Percentile(v, 50))
				r.Add("fleet_failover_"+name+"_max_s", "%.3f", slices.Max(v))
				r.Add("fleet_failover_"+name+"_count", "%d", len(v))
			}
		}
	}
	r.Add("fleet_failover_others_stopped", "%d of %d (cameras of the other nodes without a message for over %.1f s between the signal and the restart)",
		stopped["kill"], bystanders["kill"], stopAfter.Seconds())
	r.Add("fleet_failover_others_longest_gap_s", "%.3f", gapMax["kill"].Seconds())
	r.Add("fleet_handover_rounds", "%d", o.terms)
	r.Add("fleet_handover_count", "%d", len(term))
	if len(term) > 0 {
		r.Add("fleet_handover_p50_s", "%.3f", results.Percentile(term, 50))
		p99 := results.Percentile(term, 99)
		r.Add("fleet_handover_p99_s", "%.3f (goal ≤ 1.5: %s)", p99, met(p99 <= 1.5))
		r.Add("fleet_handover_max_s", "%.3f", slices.Max(term))
		if len(termTaken) > 0 {
			r.Add("fleet_handover_taken_p50_s", "%.3f", results.Percentile(termTaken, 50))
			r.Add("fleet_handover_taken_p99_s", "%.3f", results.Percentile(termTaken, 99))
		}
		r.Add("fleet_handover_exit_p50_s", "%.2f", results.Percentile(exitTerm, 50))
		r.Add("fleet_handover_exit_max_s", "%.2f", slices.Max(exitTerm))
	}
	r.Add("fleet_handover_others_stopped", "%d of %d", stopped["term"], bystanders["term"])
	r.Add("fleet_handover_others_longest_gap_s", "%.3f", gapMax["term"].Seconds())
	r.Add("fleet_cameras_not_moved", "%d (goal 0: %s)", unmoved, met(unmoved == 0))
	if len(rejoin) > 0 {
		r.Add("fleet_rejoin_p50_s", "%.1f", results.Percentile(rejoin, 50))
		r.Add("fleet_rejoin_max_s", "%.1f", slices.Max(rejoin))
	}
	r.Add("fleet_rounds_began_unbalanced", "%d", unbalanced)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// durs lists the cameras' times in seconds, "-" for one that did not move.
func durs(m map[string]time.Duration, cams []string) string {
	var s []string
	for _, c := range cams {
		if d, ok := m[c]; ok {
			s = append(s, fmt.Sprintf("%.3f", d.Seconds()))
		} else {
			s = append(s, "-")
		}
	}
	return strings.Join(s, ",")
}

// waitJoined waits for each node's GET /api/fleet to answer 200.
func waitJoined(nodes []*node, timeout time.Duration, logs *logBook, since time.Time) error {
	deadline := time.Now().Add(timeout)
	for _, n := range nodes {
		for {
			if !n.running() {
				return fmt.Errorf("%s exited (%v); its log lines:\n%s", n.name, n.exitState, strings.Join(logs.excerpt(since, time.Now(), 40), "\n"))
			}
			if _, ok := n.fleetStatus(); ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not joined within %s; the fleet's log lines:\n%s", n.name, timeout, strings.Join(logs.excerpt(since, time.Now(), 60), "\n"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// waitSteady waits until every node has joined, every camera runs and
// publishes from the owner and epoch the fleet shows, and, for up to
// -balance-wait, until the cameras are spread evenly (at most one apart).
// It says whether they were.
func waitSteady(nodes []*node, ids []string, rec *recorder, o options, logs *logBook, since time.Time) (bool, error) {
	start := time.Now()
	fresh := max(2*time.Second, time.Duration(3/o.fps*float64(time.Second)))
	why := ""
	for {
		ok, balanced, w := steady(nodes, ids, rec, fresh)
		if ok && (balanced || time.Since(start) > o.balanceWait) {
			return balanced, nil
		}
		why = w
		if !ok && time.Since(start) > o.balanceWait+o.moveTimeout {
			return false, fmt.Errorf("fleet not steady after %s: %s; the fleet's log lines:\n%s", time.Since(start).Round(time.Second), why,
				strings.Join(logs.excerpt(since, time.Now(), 60), "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func steady(nodes []*node, ids []string, rec *recorder, fresh time.Duration) (ok, balanced bool, why string) {
	var st fleet.Status
	for i, n := range nodes {
		s, ok := n.fleetStatus()
		if !ok {
			return false, false, n.name + " has not joined"
		}
		if i == 0 {
			st = s
		}
	}
	owner := map[string]fleet.CameraStatus{}
	for _, c := range st.Cameras {
		owner[c.ID] = c
	}
	counts := map[string]int{}
	for _, n := range nodes {
		counts[n.name] = 0
	}
	for _, id := range ids {
		c := owner[id]
		if c.State != fleet.StateRunning {
			return false, false, fmt.Sprintf("%s is %q", id, c.State)
		}
		a, ok := rec.last(id)
		if !ok || time.Since(a.at) > fresh || a.node != c.Owner || a.epoch != c.Epoch {
			return false, false, fmt.Sprintf("%s: owner %s epoch %d, last message %+v", id, c.Owner, c.Epoch, a)
		}
		counts[c.Owner]++
	}
	lo, hi := len(ids), 0
	for _, n := range counts {
		lo, hi = min(lo, n), max(hi, n)
	}
	return true, hi-lo <= 1, ""
}

// fleetBuckets are the fleet's key-value buckets, by short name.
var fleetBuckets = []struct{ name, bucket string }{
	{"leases", fleet.DefaultLeasesBucket},
	{"nodes", fleet.DefaultNodesBucket},
	{"cameras", fleet.DefaultCamerasBucket},
}

// leaderList is "leases=n1 nodes=n2 cameras=n2".
func (rd round) leaderList() string {
	var s []string
	for _, b := range fleetBuckets {
		s = append(s, b.name+"="+rd.leaders[b.name])
	}
	return strings.Join(s, " ")
}

// ledLeases says whether the victim led the leases bucket's stream.
func (rd round) ledLeases() bool { return rd.leaders["leases"] == rd.victim }

// pickVictim is the node holding the most cameras (as their last messages
// say) and the cameras it holds; among equals, the leases stream's leader
// when leader is true, else a follower, then the one killed least so far.
func pickVictim(nodes []*node, ids []string, rec *recorder, killed map[string]int, leaseLeader string, leader bool) (*node, []string) {
	held := map[string][]string{}
	for _, id := range ids {
		if a, ok := rec.last(id); ok {
			held[a.node] = append(held[a.node], id)
		}
	}
	order := slices.Clone(nodes)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if len(held[a.name]) != len(held[b.name]) {
			return len(held[a.name]) > len(held[b.name])
		}
		if la, lb := a.name == leaseLeader, b.name == leaseLeader; la != lb {
			return la == leader
		}
		return killed[a.name] < killed[b.name]
	})
	return order[0], held[order[0].name]
}

// stopAll stops the nodes with SIGTERM, then SIGKILL after 20 s.
func stopAll(nodes []*node) {
	for _, n := range nodes {
		if n.running() {
			n.signal(syscall.SIGTERM)
		}
	}
	for _, n := range nodes {
		if n.cmd != nil && !n.waitExit(20*time.Second) {
			n.signal(syscall.SIGKILL)
			n.waitExit(5 * time.Second)
		}
	}
}
