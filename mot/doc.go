// Package mot reads and writes MOTChallenge text files and scores trackers
// with the standard metrics, so that vigil's tracker can be tuned on
// labelled footage and compared with published trackers on the same
// detections.
//
// In: detections, ground truth and results as MOTChallenge lines
// (frame,id,x,y,w,h,conf,…; frames from 1, top-left corner and size in
// pixels), and seqinfo.ini files.
// Out: Rows, and Counts per sequence that add up across sequences and give
// Metrics: CLEAR-MOT (MOTA, MOTP, FP, FN, ID switches, fragmentations,
// MT/PT/ML), identity (IDF1, IDP, IDR) and HOTA (DetA, AssA).
//
// Synth generates sequences with known ground truth and a simulated
// detector, for comparisons where public benchmark data is not at hand.
// SORT is the published baseline those comparisons, and `vigil eval mot
// --det` on the MOT15 sequences in testdata/mot15, measure vigil against.
package mot
