package mot

import "math"

// MatchIoU is the minimum IoU at which a result box can match a
// ground-truth box for CLEAR-MOT, the identity metrics and the ignore rule.
const MatchIoU = 0.5

// tol absorbs rounding, so that an IoU of exactly 0.5 written by hand
// counts as 0.5.
const tol = 1e-9

// keepBonus outweighs any sum of IoUs, so a ground-truth object keeps the
// result it matched in the previous frame whenever that pair still qualifies.
const keepBonus = 1000

// Alphas are the localisation thresholds HOTA averages over: 0.05 to 0.95.
var Alphas = func() [19]float64 {
	var a [19]float64
	for i := range a {
		a[i] = float64(i+1) / 20
	}
	return a
}()

// Counts are the additive results of evaluating one or more sequences; Add
// them up and take Metrics once, so that totals are weighted as the
// benchmarks weight them.
type Counts struct {
	GT, Res int // ground-truth and result boxes evaluated
	Ignored int // result boxes dropped for matching flag-0 ground truth

	TP, FP, FN, IDSW, Frag int
	IoUSum                 float64 // over the TPs, for MOTP
	GTIDs, MT, PT, ML      int

	IDTP, IDFP, IDFN int

	hota [len(Alphas)]alphaCounts
}

type alphaCounts struct {
	TP, FN, FP int
	Ass        float64 // Σ over TPs of the association score of their pair
}

// Add accumulates o into c.
func (c *Counts) Add(o Counts) {
	c.GT += o.GT
	c.Res += o.Res
	c.Ignored += o.Ignored
	c.TP += o.TP
	c.FP += o.FP
	c.FN += o.FN
	c.IDSW += o.IDSW
	c.Frag += o.Frag
	c.IoUSum += o.IoUSum
	c.GTIDs += o.GTIDs
	c.MT += o.MT
	c.PT += o.PT
	c.ML += o.ML
	c.IDTP += o.IDTP
	c.IDFP += o.IDFP
	c.IDFN += o.IDFN
	for i := range c.hota {
		c.hota[i].TP += o.hota[i].TP
		c.hota[i].FN += o.hota[i].FN
		c.hota[i].FP += o.hota[i].FP
		c.hota[i].Ass += o.hota[i].Ass
	}
}

// Metrics are the scores. Ratios are fractions (1 is perfect), not percent.
type Metrics struct {
	HOTA float64 `json:"HOTA"`
	DetA float64 `json:"DetA"`
	AssA float64 `json:"AssA"`

	MOTA      float64 `json:"MOTA"`
	MOTP      float64 `json:"MOTP"` // mean IoU of the matched pairs
	Recall    float64 `json:"Recall"`
	Precision float64 `json:"Precision"`

	IDF1 float64 `json:"IDF1"`
	IDP  float64 `json:"IDP"`
	IDR  float64 `json:"IDR"`

	GT      int `json:"GT"`
	Res     int `json:"Res"`
	Ignored int `json:"Ignored"`
	TP      int `json:"TP"`
	FP      int `json:"FP"`
	FN      int `json:"FN"`
	IDSW    int `json:"IDSW"`
	Frag    int `json:"Frag"`
	GTIDs   int `json:"GT_IDs"`
	MT      int `json:"MT"`
	PT      int `json:"PT"`
	ML      int `json:"ML"`
	IDTP    int `json:"IDTP"`
	IDFP    int `json:"IDFP"`
	IDFN    int `json:"IDFN"`
}

// Metrics computes the scores from the counts.
func (c Counts) Metrics() Metrics {
	div := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return a / b
	}
	m := Metrics{
		GT: c.GT, Res: c.Res, Ignored: c.Ignored, TP: c.TP, FP: c.FP, FN: c.FN, IDSW: c.IDSW, Frag: c.Frag,
		GTIDs: c.GTIDs, MT: c.MT, PT: c.PT, ML: c.ML, IDTP: c.IDTP, IDFP: c.IDFP, IDFN: c.IDFN,
	}
	m.MOTA = div(float64(c.TP-c.FP-c.IDSW), float64(max(c.GT, 1)))
	m.MOTP = div(c.IoUSum, float64(c.TP))
	m.Recall = div(float64(c.TP), float64(c.GT))
	m.Precision = div(float64(c.TP), float64(c.TP+c.FP))
	m.IDP = div(float64(c.IDTP), float64(c.IDTP+c.IDFP))
	m.IDR = div(float64(c.IDTP), float64(c.IDTP+c.IDFN))
	m.IDF1 = div(float64(2*c.IDTP), float64(2*c.IDTP+c.IDFP+c.IDFN))
	for _, a := range c.hota {
		det := div(float64(a.TP), float64(a.TP+a.FN+a.FP))
		ass := div(a.Ass, float64(a.TP))
		m.DetA += det
		m.AssA += ass
		m.HOTA += math.Sqrt(det * ass)
	}
	n := float64(len(c.hota))
	m.DetA /= n
	m.AssA /= n
	m.HOTA /= n
	return m
}

// Evaluate scores one sequence's results against its ground truth.
//
// Ground-truth rows whose flag (column 7) is 0 are ignored: they are not
// missed when no result covers them, and a result box matched to one at
// IoU >= MatchIoU (by an optimal matching over all of the frame's ground
// truth) is dropped before scoring, so it is not a false positive either.
//
// CLEAR-MOT (Bernardin & Stiefelhagen 2008): in each frame, a ground-truth
// object keeps the result it matched in the previous frame if their IoU is
// still >= MatchIoU; the rest are matched optimally, maximising the total
// IoU over pairs with IoU >= MatchIoU. An ID switch is a ground-truth
// object matched to a different result ID than the last one it was matched
// to; a fragmentation is a matched span of an object that starts after an
// earlier one ended. MT: tracked in >= 80% of the object's frames; ML: in
// < 20%; PT: the rest. MOTP is the mean IoU of the matches.
//
// Identity (Ristani et al. 2016): one global matching of ground-truth to
// result trajectories that minimises IDFP + IDFN, counting a frame as an
// identity TP where the matched pair has IoU >= MatchIoU.
//
// HOTA (Luiten et al. 2020): for each α in Alphas, each frame is matched
// with the paper's score, which ranks more matches with IoU >= α first, then
// pairs whose trajectories align best over the sequence, then IoU.
// DetA = TP/(TP+FN+FP), AssA = mean over TPs of |TPA|/(|TPA|+|FNA|+|FPA|),
// HOTA_α = sqrt(DetA·AssA), and HOTA, DetA and AssA are averaged over α.
func Evaluate(gt, res []Row) Counts {
	s := prepare(gt, res)
	var c Counts
	c.Ignored = s.ignored
	for _, f := range s.frames {
		c.GT += len(f.gt)
		c.Res += len(f.res)
	}
	s.clear(&c)
	s.identity(&c)
	s.hota(&c)
	return c
}

// frame is one frame's ground truth and results as dense IDs, with every
// overlapping pair (IoU > 0).
type frame struct {
	gt, res []int
	pairs   []edge // r indexes gt, c indexes res, w is the IoU
}

type sequence struct {
	frames            []frame
	nGT, nRes         int
	gtCount, resCount []int // frames each ID is present in
	ignored           int
	m                 matcher
}

func prepare(gt, res []Row) *sequence {
	s := &sequence{}
	gtFrames, resFrames := ByFrame(gt), ByFrame(res)
	gtIdx, resIdx := map[int]int{}, map[int]int{}
	dense := func(idx map[int]int, id int, count *[]int) int {
		i, ok := idx[id]
		if !ok {
			i = len(idx)
			idx[id] = i
			*count = append(*count, 0)
		}
		(*count)[i]++
		return i
	}
	s.frames = make([]frame, max(len(gtFrames), len(resFrames)))
	var keepGT []Row
	var edges []edge
	for f := range s.frames {
		var gts, ress []Row
		if f < len(gtFrames) {
			gts = gtFrames[f]
		}
		if f < len(resFrames) {
			ress = resFrames[f]
		}
		keepGT = keepGT[:0]
		ignoredGT := 0
		for _, g := range gts {
			if g.Conf == 0 {
				ignoredGT++
			} else {
				keepGT = append(keepGT, g)
			}
		}
		if ignoredGT > 0 && len(ress) > 0 {
			// Match against all ground truth so a result on a counted
			// object next to an ignored one stays counted.
			edges = edges[:0]
			for i, g := range gts {
				for j, r := range ress {
					if o := IoU(g.Box, r.Box); o >= MatchIoU-tol {
						edges = append(edges, edge{r: i, c: j, w: o})
					}
				}
			}
			drop := map[int]bool{}
			for _, e := range s.m.match(edges, len(gts), len(ress)) {
				if gts[e.r].Conf == 0 {
					drop[e.c] = true
				}
			}
			var kept []Row
			for j, r := range ress {
				if !drop[j] {
					kept = append(kept, r)
				}
			}
			s.ignored += len(ress) - len(kept)
			ress = kept
		}
		fr := &s.frames[f]
		for _, g := range keepGT {
			fr.gt = append(fr.gt, dense(gtIdx, g.ID, &s.gtCount))
		}
		for _, r := range ress {
			fr.res = append(fr.res, dense(resIdx, r.ID, &s.resCount))
		}
		for i, g := range keepGT {
			for j, r := range ress {
				if o := IoU(g.Box, r.Box); o > 0 {
					fr.pairs = append(fr.pairs, edge{r: i, c: j, w: o})
				}
			}
		}
	}
	s.nGT, s.nRes = len(gtIdx), len(resIdx)
	return s
}

func (s *sequence) clear(c *Counts) {
	prev := make([]int, s.nGT) // result matched in the previous frame, -1 if none
	last := make([]int, s.nGT) // result matched last, across gaps
	for i := range prev {
		prev[i], last[i] = -1, -1
	}
	tracked := make([]int, s.nGT) // frames matched
	spans := make([]int, s.nGT)   // matched spans begun
	var matched, edges []edge
	var now []int // ground truth matched in this frame, to reset prev next frame
	var before []int
	for _, f := range s.frames {
		edges = edges[:0]
		for _, p := range f.pairs {
			if p.w < MatchIoU-tol {
				continue
			}
			e := p
			if prev[f.gt[p.r]] == f.res[p.c] {
				e.w += keepBonus
			}
			e.iou = p.w
			edges = append(edges, e)
		}
		matched = s.m.match(edges, len(f.gt), len(f.res))
		now = now[:0]
		for _, e := range matched {
			g, r := f.gt[e.r], f.res[e.c]
			c.TP++
			c.IoUSum += e.iou
			if last[g] >= 0 && last[g] != r {
				c.IDSW++
			}
			if prev[g] < 0 {
				spans[g]++
			}
			last[g] = r
			tracked[g]++
			now = append(now, g)
		}
		c.FN += len(f.gt) - len(matched)
		c.FP += len(f.res) - len(matched)
		for _, g := range before {
			prev[g] = -1
		}
		for _, e := range matched {
			prev[f.gt[e.r]] = f.res[e.c]
		}
		before = append(before[:0], now...)
	}
	for g, n := range s.gtCount {
		if n == 0 {
			continue
		}
		c.GTIDs++
		ratio := float64(tracked[g]) / float64(n)
		switch {
		case ratio >= 0.8:
			c.MT++
		case ratio < 0.2:
			c.ML++
		default:
			c.PT++
		}
		c.Frag += max(spans[g]-1, 0)
	}
}

func (s *sequence) identity(c *Counts) {
	overlap := map[[2]int]int{} // (gt, res) → frames with IoU >= MatchIoU
	for _, f := range s.frames {
		for _, p := range f.pairs {
			if p.w >= MatchIoU-tol {
				overlap[[2]int{f.gt[p.r], f.res[p.c]}]++
			}
		}
	}
	edges := make([]edge, 0, len(overlap))
	for k, n := range overlap {
		edges = append(edges, edge{r: k[0], c: k[1], w: float64(n)})
	}
	sortEdges(edges)
	// IDFN + IDFP = GT + Res − 2·IDTP, so minimising them is maximising the
	// frames the matched trajectory pairs share.
	for _, e := range s.m.match(edges, s.nGT, s.nRes) {
		c.IDTP += int(e.w)
	}
	c.IDFN = c.GT - c.IDTP
	c.IDFP = c.Res - c.IDTP
}

func (s *sequence) hota(c *Counts) {
	// The alignment of each trajectory pair over the whole sequence, from
	// IoUs softened by each box's competing overlaps, as in the reference
	// implementation; the matching uses it to prefer pairs that stay together.
	potential := map[[2]int]float64{}
	var rowSum, colSum []float64
	for _, f := range s.frames {
		rowSum = resize(rowSum, len(f.gt))
		colSum = resize(colSum, len(f.res))
		clear(rowSum)
		clear(colSum)
		for _, p := range f.pairs {
			rowSum[p.r] += p.w
			colSum[p.c] += p.w
		}
		for _, p := range f.pairs {
			potential[[2]int{f.gt[p.r], f.res[p.c]}] += p.w / (rowSum[p.r] + colSum[p.c] - p.w)
		}
	}
	align := func(g, r int) float64 {
		x := potential[[2]int{g, r}]
		return x / (float64(s.gtCount[g]+s.resCount[r]) - x)
	}

	var edges []edge
	for ai, alpha := range Alphas {
		matches := map[[2]int]int{}
		a := &c.hota[ai]
		for _, f := range s.frames {
			edges = edges[:0]
			for _, p := range f.pairs {
				if p.w >= alpha-tol {
					// More TPs first, then alignment, then IoU (the paper's
					// 1/ε + A_max + ε·S with ε = 1e-3).
					w := keepBonus + align(f.gt[p.r], f.res[p.c]) + 1e-3*p.w
					edges = append(edges, edge{r: p.r, c: p.c, w: w, iou: p.w})
				}
			}
			matched := s.m.match(edges, len(f.gt), len(f.res))
			a.TP += len(matched)
			a.FN += len(f.gt) - len(matched)
			a.FP += len(f.res) - len(matched)
			for _, e := range matched {
				matches[[2]int{f.gt[e.r], f.res[e.c]}]++
			}
		}
		for k, n := range matches {
			tpa := float64(n)
			a.Ass += tpa * tpa / (float64(s.gtCount[k[0]]+s.resCount[k[1]]) - tpa)
		}
	}
}
