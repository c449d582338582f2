// Serial gaps, pure: which audit serials never arrived, in a window that
// tolerates records of concurrent events arriving slightly out of order,
// and across the 32-bit counter's wrap.

package auditsrc

// gapTracker finds serials that never arrived. The kernel's serial is a
// 32-bit counter that wraps, and records of concurrent events may arrive
// slightly out of order, so a serial counts as missing only when it falls
// out of a window behind the newest one (or at the end).
type gapTracker struct {
	started bool
	base    uint32 // lowest serial not yet accounted for
	max     uint32 // newest serial seen
	last    uint32 // the serial of the last add
	bits    [gapWindow / 64]uint64
}

const gapWindow = 1 << 16

func (g *gapTracker) bit(s uint32) (*uint64, uint64) {
	i := s % gapWindow
	return &g.bits[i/64], 1 << (i % 64)
}

// add records serial s and returns how many serials fell out of the
// window unseen, and whether s came after its slot was accounted for.
func (g *gapTracker) add(s uint32) (missing uint64, late bool) {
	if !g.started {
		g.started, g.base, g.max = true, s, s
	}
	g.last = s
	d := int32(s - g.base)
	if d < 0 {
		return 0, true
	}
	if int32(s-g.max) > 0 {
		g.max = s
	}
	if d >= gapWindow {
		missing = g.advance(s - gapWindow + 1)
	}
	w, m := g.bit(s)
	*w |= m
	for {
		w, m := g.bit(g.base)
		if *w&m == 0 {
			break
		}
		*w &^= m
		g.base++
	}
	return missing, false
}

// advance accounts for every serial before to.
func (g *gapTracker) advance(to uint32) (missing uint64) {
	for int32(to-g.base) > 0 {
		w, m := g.bit(g.base)
		if *w&m == 0 {
			missing++
		}
		*w &^= m
		g.base++
	}
	return missing
}

// finish accounts for everything up to the newest serial.
func (g *gapTracker) finish() uint64 {
	if !g.started {
		return 0
	}
	return g.advance(g.max + 1)
}
