// Cleanup: what a killed run left on the host, found and restored. Every
// start of run does it first; `auperf cleanup` and systemd's ExecStopPost
// do only this.

package trace

import (
	"errors"
	"fmt"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/internal/host"
)

// Cleanup restores what killed auperf runs left: the audit state of the
// default key (status fields, keyed rules, lean exclusions) and tracefs or
// debugfs mounts of theirs. It returns one line per thing restored.
func Cleanup() ([]string, error) {
	did, aerr := auditsrc.Cleanup(auditsrc.DefaultStateDir, auditsrc.DefaultKey)
	m, merr := host.CleanupMounts(host.Paths{})
	return append(did, m...), errors.Join(aerr, merr)
}

// Leftovers says what Cleanup would restore, without changing anything.
func Leftovers() []string {
	var out []string
	if pid, running, ok := auditsrc.Leftover(auditsrc.DefaultStateDir, auditsrc.DefaultKey); ok && !running {
		out = append(out, fmt.Sprintf("audit: state saved by auperf pid %d (gone): its status changes, rules and exclusions may still be loaded", pid))
	}
	for _, l := range host.LeftMounts(host.Paths{}) {
		if l.StillThere {
			out = append(out, fmt.Sprintf("%s mounted at %s by auperf pid %d (gone)", l.FSType, l.Dir, l.PID))
		}
	}
	return out
}
