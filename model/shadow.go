package model

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/sched"
	"gocv.io/x/gocv"
)

// ShadowOptions configure a Shadow.
type ShadowOptions struct {
	// Candidate is the model on trial, with the live detector's decoding
	// and NMS options and few threads (Threads).
	Candidate detect.Options
	// Reference is the live model loaded once more with the candidate's
	// threads, run on one sample in TimeEvery to time both models under the
	// same conditions (the live detector runs with more threads, so its
	// own timings say nothing about the candidate's speed). Model "": no
	// speeds.
	Reference detect.Options
	// Labels are the live model's classes; the candidate must have as
	// many.
	Labels     []string
	Confidence float32 // both models' detections kept at this score; 0: 0.25
	MatchIoU   float32 // 0: 0.5
	Every      int     // one frame in Every is checked; < 1: every frame
	TimeEvery  int     // one checked frame in TimeEvery is also timed; < 1: 4
	// Nice lowers the priority of the thread that runs the candidate
	// (1–19), so that it takes the CPU the live pipeline leaves idle; a
	// frame offered while the last one is still being checked is skipped.
	Nice int
	// OnDisagree sees each checked frame where the models disagree, on
	// the shadow's goroutine; img is the frame's picture (clone it to keep
	// it) and live the live model's detections.
	OnDisagree func(camera string, at time.Time, img gocv.Mat, live []detect.Detection, d Disagreement)
	Logger     zerolog.Logger
}

// ShadowCounts are a shadow's frame counts.
type ShadowCounts struct {
	Seen    int64 `json:"seen"`    // frames offered
	Sampled int64 `json:"sampled"` // one in Every of them
	Checked int64 `json:"checked"` // sampled frames the candidate ran on
	Busy    int64 `json:"busy"`    // sampled frames skipped: the last one was still being checked
	Errors  int64 `json:"errors"`  // frames the candidate failed on
}

// Shadow runs a candidate model beside the live one on a sample of live
// frames and tallies how its detections agree with the live model's: the
// numbers Compare gives for a set of frames, on the frames a camera sees.
// Offer is cheap and never blocks; the candidate runs on a goroutine of
// its own at a lower priority.
type Shadow struct {
	o    ShadowOptions
	cand *detect.Detector
	ref  *detect.Detector // nil: no speeds

	timings int // frames timed, Check's own
	jobs    chan shadowJob
	done    chan struct{}

	mu     sync.Mutex
	tally  *Tally
	counts ShadowCounts
	last   error // the candidate's last failure
	closed bool
}

type shadowJob struct {
	camera string
	at     time.Time
	img    gocv.Mat // a clone, the worker's to close
	live   []detect.Detection
}

// NewShadow loads the candidate (and the reference) and starts the
// shadow's goroutine. onnxruntime must be initialized.
func NewShadow(o ShadowOptions) (*Shadow, error) {
	if o.Every < 1 {
		o.Every = 1
	}
	if o.TimeEvery < 1 {
		o.TimeEvery = 4
	}
	cand, err := detect.New(o.Candidate)
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	if len(cand.Labels()) != len(o.Labels) {
		cand.Close()
		return nil, fmt.Errorf("candidate has %d classes, the live model %d: it is not a version of the same detector", len(cand.Labels()), len(o.Labels))
	}
	s := &Shadow{o: o, cand: cand, tally: NewTally(o.Labels, o.Confidence, o.MatchIoU),
		jobs: make(chan shadowJob, 1), done: make(chan struct{})}
	if o.Reference.Model != "" {
		if s.ref, err = detect.New(o.Reference); err != nil {
			cand.Close()
			return nil, fmt.Errorf("reference (the live model, for timing): %w", err)
		}
	}
	go s.run()
	return s, nil
}

// Offer hands one processed frame to the shadow: its camera and time, its
// picture (cloned when it is sampled, never kept) and the live model's
// detections. It returns whether the frame was taken.
func (s *Shadow) Offer(camera string, at time.Time, img gocv.Mat, live []detect.Detection) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.counts.Seen++
	if (s.counts.Seen-1)%int64(s.o.Every) != 0 {
		return false
	}
	s.counts.Sampled++
	if len(s.jobs) == cap(s.jobs) {
		s.counts.Busy++
		return false
	}
	s.jobs <- shadowJob{camera: camera, at: at, img: img.Clone(), live: slices.Clone(live)}
	return true
}

func (s *Shadow) run() {
	defer close(s.done)
	if err := sched.Lower(s.o.Nice); err != nil {
		s.o.Logger.Warn().Err(err).Msg("shadow: runs at normal priority")
	}
	var n int
	for j := range s.jobs {
		if err := s.Check(j.camera, j.at, j.img, j.live, n%s.o.TimeEvery == 0); err != nil {
			s.o.Logger.Warn().Err(err).Str("camera", j.camera).Msg("shadow: the candidate failed on a frame")
		}
		n++
		j.img.Close()
	}
}

// Check runs the candidate on one frame now and adds it to the tally;
// with timed, the reference runs on it too and both are timed, taking
// turns on who goes first. Offer's goroutine calls it; a caller that
// drives a shadow frame by frame (a test, a replay) may too, but not
// beside Offer.
func (s *Shadow) Check(camera string, at time.Time, img gocv.Mat, live []detect.Detection, timed bool) error {
	var cdets []detect.Detection
	var ctm, rtm detect.Timings
	var err error
	runCand := func() error {
		cdets, ctm, err = s.cand.Detect(img, nil)
		return err
	}
	runRef := func() error {
		_, rtm, err = s.ref.Detect(img, nil)
		return err
	}
	steps := []func() error{runCand}
	if timed && s.ref != nil {
		steps = append(steps, runRef)
		if s.timings%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		s.timings++
	}
	for _, step := range steps {
		if err = step(); err != nil {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.counts.Errors++
		s.last = err
		return err
	}
	s.counts.Checked++
	if len(steps) == 2 {
		s.tally.Time(rtm.Infer, ctm.Infer)
	}
	d := s.tally.Add(live, cdets)
	if !d.None() && s.o.OnDisagree != nil {
		d = Disagreement{RefOnly: slices.Clone(d.RefOnly), CandOnly: slices.Clone(d.CandOnly)}
		s.mu.Unlock()
		s.o.OnDisagree(camera, at, img, live, d)
		s.mu.Lock()
	}
	return nil
}

// Report is what the shadow has seen so far: its counts, the comparison
// of the checked frames (the live model as the reference), and the
// candidate's last error.
func (s *Shadow) Report() (ShadowCounts, *Comparison, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts, s.tally.Result(), s.last
}

// Close stops taking frames, finishes the frame being checked and frees
// both sessions.
func (s *Shadow) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.jobs)
	s.mu.Unlock()
	<-s.done
	err := s.cand.Close()
	if s.ref != nil {
		err = errors.Join(err, s.ref.Close())
	}
	return err
}
