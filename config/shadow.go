package config

import "time"

// Shadow configures how a detector that follows a store model (store:
// NAME) checks a candidate version (vigil model push, vigil model shadow)
// before it is promoted: the candidate runs beside the live model on one
// frame in Every, on Threads threads at a lower priority, and vigil
// reports how the two agree. With promote: auto, the node promotes the
// candidate once MinFrames frames were checked and the agreement and
// speed thresholds hold.
type Shadow struct {
	Enabled       bool     `yaml:"enabled"`
	Every         int      `yaml:"every"`           // one frame in every; 1: all of them
	Threads       int      `yaml:"threads"`         // the candidate's onnxruntime intra-op threads
	Nice          int      `yaml:"nice"`            // the candidate thread's nice value, 0–19
	Promote       string   `yaml:"promote"`         // manual|auto
	MinFrames     int      `yaml:"min_frames"`      // frames checked before auto promotion decides
	MinAgreement  float64  `yaml:"min_agreement"`   // min(precision, recall) over all classes, 0–1
	MinSpeedRatio float64  `yaml:"min_speed_ratio"` // live time / candidate time; 0: speed not checked
	MatchIoU      float64  `yaml:"match_iou"`       // a candidate box matches a live one at this IoU
	ReportEvery   Duration `yaml:"report_every"`    // how often the report is published
}

// The ways a shadow's candidate is promoted.
const (
	PromoteManual = "manual"
	PromoteAuto   = "auto"
)

func defaultShadow() Shadow {
	return Shadow{Enabled: true, Every: 10, Threads: 1, Nice: 10, Promote: PromoteManual, MinFrames: 300,
		MinAgreement: 0.9, MinSpeedRatio: 0.8, MatchIoU: 0.5, ReportEvery: Duration(10 * time.Second)}
}

func (s *Shadow) validate(p *problems, path string) {
	if s.Every < 1 {
		p.add(path+".every", "%d; use 1 (every frame) or more, e.g. 10", s.Every)
	}
	if s.Threads < 1 {
		p.add(path+".threads", "%d; use 1 or more (few: the live model keeps the CPU)", s.Threads)
	}
	if s.Nice < 0 || s.Nice > 19 {
		p.add(path+".nice", "%d; use 0 (normal priority) to 19 (lowest)", s.Nice)
	}
	if s.Promote != PromoteManual && s.Promote != PromoteAuto {
		p.add(path+".promote", "%q; use manual (vigil model promote) or auto", s.Promote)
	}
	if s.MinFrames < 1 {
		p.add(path+".min_frames", "%d; use 1 or more, e.g. 300", s.MinFrames)
	}
	p.fraction(path+".min_agreement", s.MinAgreement, true)
	if s.MinSpeedRatio < 0 {
		p.add(path+".min_speed_ratio", "%g is negative; use 0 (speed not checked) or a ratio, e.g. 0.8", s.MinSpeedRatio)
	}
	p.fraction(path+".match_iou", s.MatchIoU, false)
	if s.ReportEvery.D() < time.Second {
		p.add(path+".report_every", "%s; use 1s or more, e.g. 10s", s.ReportEvery)
	}
}
