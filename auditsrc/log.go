// Audit logs: auditd's audit.log (RAW or ENRICHED, with or without node=
// prefixes) or `ausearch -r` output, read line by line into the same
// reassembly as the live source, for `auperf decode`.

package auditsrc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// LogConfig says which events of an audit log DecodeLog delivers.
type LogConfig struct {
	// Events are syscall names (by name, in any arch: "mmap" also takes
	// i386's mmap2); nil delivers every syscall event in the log.
	Events []string
	Filter filter.Spec
}

// LogStats counts what DecodeLog read.
type LogStats struct {
	Lines      uint64 // lines read
	Records    uint64 // audit records among them
	Events     uint64 // events delivered
	Incomplete uint64 // record groups without their SYSCALL record
}

// DecodeLog reads an audit log as auditd writes it (RAW or ENRICHED format,
// with or without "node=" prefixes) or as `ausearch -r` prints it, and
// calls h with one event per syscall (SYSCALL + MMAP + PROCTITLE + EOE
// records grouped by serial), in the order their groups complete. The
// event's hostName is the record's node, when the log has one.
// Interpreted output (ausearch -i) is not read: its values are no longer
// the kernel's.
func DecodeLog(r io.Reader, cfg LogConfig, h event.Handler) (LogStats, error) {
	set := allSyscalls()
	if cfg.Events != nil {
		var err error
		if set, _, err = newSyscallSet(cfg.Events, nil, []decode.Arch{decode.ArchX86_64, decode.ArchI386, decode.ArchARM64}); err != nil {
			return LogStats{}, err
		}
	}
	var st LogStats
	var c counters
	out := &logOut{filter: cfg.Filter, h: h, st: &st}
	out.filter.Init()
	rd := newAssembler(set, -1, &c, out)
	rd.logs = true
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var latest uint32
	for sc.Scan() {
		st.Lines++
		line := sc.Bytes()
		rec, ok := parseLogLine(line)
		if !ok {
			continue
		}
		st.Records++
		rd.node = nodeOf(line)
		rd.record(rec, time.Time{})
		latest = rec.serial
		if len(rd.pend) > 256 {
			// A group without its EOE (the log was cut, or a record
			// lost): emit it once the log is well past it.
			var old []*group
			for _, g := range rd.pend {
				if int32(latest-g.serial) > 128 {
					old = append(old, g)
				}
			}
			rd.completeInOrder(old)
		}
	}
	rd.flushOlder(time.Unix(1<<40, 0))
	st.Incomplete = c.lostIncomplete.Load()
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("read audit log: %w", err)
	}
	return st, nil
}

// logOut delivers a log's events through the filter; a log's loss is
// counted (LogStats), not put in the stream.
type logOut struct {
	filter filter.Spec
	h      event.Handler
	st     *LogStats
}

func (o *logOut) syscall(ev *event.Event, _ *syscallRecord) {
	if !o.filter.Match(ev) {
		return
	}
	o.st.Events++
	o.h(ev)
}

func (o *logOut) lost(uint64, string) {}

// nodeOf returns the "node=NAME" prefix auditd writes with name_format.
func nodeOf(line []byte) []byte {
	if !bytes.HasPrefix(line, []byte("node=")) {
		return nil
	}
	v := line[len("node="):]
	if sp := bytes.IndexByte(v, ' '); sp >= 0 {
		return v[:sp]
	}
	return nil
}
