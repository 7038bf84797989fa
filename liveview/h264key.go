package liveview

// isH264Key reports whether an Annex B access unit holds an IDR slice
// (NAL unit type 5), from which a decoder can start.
func isH264Key(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] != 0 || au[i+1] != 0 {
			continue
		}
		switch {
		case au[i+2] == 1:
			if au[i+3]&0x1f == 5 {
				return true
			}
		case au[i+2] == 0 && i+4 < len(au) && au[i+3] == 1:
			if au[i+4]&0x1f == 5 {
				return true
			}
		}
	}
	return false
}
