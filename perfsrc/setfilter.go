// SetFilter: the user's filter changed while the source runs (SIGHUP with
// a new config).

package perfsrc

import (
	"errors"

	"github.com/auperf/auperf/filter"
)

// SetFilter replaces the user's filter from the next round of records on.
// Nothing of it is in the kernel (tracepoint filters carry only our own
// threads), so nothing is re-attached and no event is missed. The process
// tree of `-- COMMAND` mode cannot change.
func (s *Source) SetFilter(f filter.Spec) error {
	if s.cfg.Filter.Tree || f.Tree {
		return errors.New("the filter of a traced command's tree cannot change while it runs")
	}
	f.Init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Filter = f
	if s.run != nil {
		s.run.nextFilter.Store(&f)
	}
	return nil
}

// takeFilter applies a filter SetFilter left, at the start of a round.
func (p *pairer) takeFilter() {
	if f := p.nextFilter.Swap(nil); f != nil {
		p.filter = *f
		p.needMatch = !f.Empty()
	}
}
