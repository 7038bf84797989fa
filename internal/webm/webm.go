// Package webm writes VP8 frames into a WebM file that browsers play and
// seek: an EBML header, then a Segment of known size holding Info (the
// duration), Tracks (one video track), Cues (one per cluster) and a
// Cluster for each keyframe and the frames after it, as SimpleBlocks.
// The Cues come before the clusters, so a browser reading the file over
// HTTP ranges knows where each keyframe is from the first bytes.
//
// It writes what a short clip needs and nothing more: one track, no
// lacing, millisecond timestamps, the whole file from frames in memory.
package webm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Frame is one encoded VP8 frame at its time from the clip's start.
type Frame struct {
	Data []byte
	Key  bool
	At   time.Duration
}

// Video is what Write puts in the file.
type Video struct {
	Width, Height int
	Frames        []Frame // in time order, the first a keyframe
	App           string  // the writing application, e.g. "vigil"
}

// Element IDs, as the Matroska specification numbers them (their length
// marker included).
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285
	idSegment            = 0x18538067
	idInfo               = 0x1549A966
	idTimecodeScale      = 0x2AD7B1
	idDuration           = 0x4489
	idMuxingApp          = 0x4D80
	idWritingApp         = 0x5741
	idTracks             = 0x1654AE6B
	idTrackEntry         = 0xAE
	idTrackNumber        = 0xD7
	idTrackUID           = 0x73C5
	idTrackType          = 0x83
	idFlagLacing         = 0x9C
	idCodecID            = 0x86
	idVideo              = 0xE0
	idPixelWidth         = 0xB0
	idPixelHeight        = 0xBA
	idCues               = 0x1C53BB6B
	idCuePoint           = 0xBB
	idCueTime            = 0xB3
	idCueTrackPositions  = 0xB7
	idCueTrack           = 0xF7
	idCueClusterPosition = 0xF1
	idCluster            = 0x1F43B675
	idTimecode           = 0xE7
	idSimpleBlock        = 0xA3
)

// maxBlockOffset is the furthest a frame may be from its cluster's start:
// a SimpleBlock's time is a signed 16-bit count of milliseconds.
const maxBlockOffset = math.MaxInt16 * time.Millisecond

// Write writes v as a WebM file to w.
func Write(w io.Writer, v Video) error {
	if len(v.Frames) == 0 {
		return errors.New("webm: no frames")
	}
	if !v.Frames[0].Key {
		return errors.New("webm: the first frame is not a keyframe; a player could not start")
	}
	if v.Width <= 0 || v.Height <= 0 {
		return fmt.Errorf("webm: frame size %dx%d", v.Width, v.Height)
	}
	// Clusters: one from each keyframe, or where a frame would be too
	// far from its cluster's start.
	type cluster struct {
		at   time.Duration
		body []byte
	}
	var clusters []cluster
	var prev time.Duration
	for i, f := range v.Frames {
		if i > 0 && f.At < prev {
			return fmt.Errorf("webm: frame %d at %s comes before frame %d at %s", i, f.At, i-1, prev)
		}
		prev = f.At
		if f.Key || len(clusters) == 0 || f.At-clusters[len(clusters)-1].at > maxBlockOffset {
			if !f.Key && len(clusters) == 0 {
				return errors.New("webm: the first frame is not a keyframe")
			}
			clusters = append(clusters, cluster{at: f.At, body: element(idTimecode, uintBytes(uint64(f.At.Milliseconds())))})
		}
		c := &clusters[len(clusters)-1]
		block := make([]byte, 0, 4+len(f.Data))
		block = append(block, 0x81) // track 1, as a one-byte number
		block = binary.BigEndian.AppendUint16(block, uint16(int16((f.At-c.at)/time.Millisecond)))
		flags := byte(0)
		if f.Key {
			flags = 0x80
		}
		block = append(block, flags)
		block = append(block, f.Data...)
		c.body = append(c.body, element(idSimpleBlock, block)...)
	}

	// The duration: to the last frame, and one frame interval more.
	last := v.Frames[len(v.Frames)-1].At
	step := 100 * time.Millisecond
	if n := len(v.Frames); n > 1 {
		step = (last - v.Frames[0].At) / time.Duration(n-1)
	}
	duration := float64((last + step).Milliseconds())

	info := element(idInfo, concat(
		element(idTimecodeScale, uintBytes(1_000_000)), // a timestamp is in ms
		element(idDuration, floatBytes(duration)),
		element(idMuxingApp, []byte(appName(v.App))),
		element(idWritingApp, []byte(appName(v.App))),
	))
	tracks := element(idTracks, element(idTrackEntry, concat(
		element(idTrackNumber, uintBytes(1)),
		element(idTrackUID, uintBytes(1)),
		element(idTrackType, uintBytes(1)), // video
		element(idFlagLacing, uintBytes(0)),
		element(idCodecID, []byte("V_VP8")),
		element(idVideo, concat(
			element(idPixelWidth, uintBytes(uint64(v.Width))),
			element(idPixelHeight, uintBytes(uint64(v.Height))),
		)),
	)))
	// The cues' size does not depend on the positions they hold (eight
	// bytes each), so the clusters' positions are known before.
	cues := func(pos []uint64) []byte {
		var points []byte
		for i, c := range clusters {
			points = append(points, element(idCuePoint, concat(
				element(idCueTime, uintBytes(uint64(c.at.Milliseconds()))),
				element(idCueTrackPositions, concat(
					element(idCueTrack, uintBytes(1)),
					element(idCueClusterPosition, fixedUint(pos[i])),
				)),
			))...)
		}
		return element(idCues, points)
	}
	pos := make([]uint64, len(clusters))
	at := uint64(len(info) + len(tracks) + len(cues(pos)))
	encoded := make([][]byte, len(clusters))
	for i, c := range clusters {
		pos[i] = at // from the start of the Segment's data
		encoded[i] = element(idCluster, c.body)
		at += uint64(len(encoded[i]))
	}
	header := element(idEBML, concat(
		element(idEBMLVersion, uintBytes(1)),
		element(idEBMLReadVersion, uintBytes(1)),
		element(idEBMLMaxIDLength, uintBytes(4)),
		element(idEBMLMaxSizeLength, uintBytes(8)),
		element(idDocType, []byte("webm")),
		element(idDocTypeVersion, uintBytes(2)),
		element(idDocTypeReadVersion, uintBytes(2)),
	))
	parts := [][]byte{header, idBytes(idSegment), sizeBytes(at), info, tracks, cues(pos)}
	parts = append(parts, encoded...)
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

func appName(s string) string {
	if s == "" {
		return "vigil"
	}
	return s
}

func element(id uint32, body []byte) []byte {
	return concat(idBytes(id), sizeBytes(uint64(len(body))), body)
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// idBytes writes an element ID: its bytes as numbered, leading zero bytes
// left out (the length marker is part of the number).
func idBytes(id uint32) []byte {
	switch {
	case id > 0xFFFFFF:
		return []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	case id > 0xFFFF:
		return []byte{byte(id >> 16), byte(id >> 8), byte(id)}
	case id > 0xFF:
		return []byte{byte(id >> 8), byte(id)}
	}
	return []byte{byte(id)}
}

// sizeBytes writes a size as an EBML variable-length integer in as few
// bytes as it takes; a value of all ones in its width means "unknown", so
// it takes one byte more.
func sizeBytes(n uint64) []byte {
	for width := 1; width <= 8; width++ {
		if n < 1<<(7*width)-1 {
			b := make([]byte, width)
			v := n | 1<<(7*width) // the length marker
			for i := width - 1; i >= 0; i-- {
				b[i] = byte(v)
				v >>= 8
			}
			return b
		}
	}
	panic("webm: element too large")
}

// uintBytes is an unsigned integer element's body: big-endian, no leading
// zero bytes (one zero byte for 0).
func uintBytes(n uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, n)
	i := 0
	for i < 7 && b[i] == 0 {
		i++
	}
	return b[i:]
}

func fixedUint(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func floatBytes(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }
