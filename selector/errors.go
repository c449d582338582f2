// The probes' error contract: nil, ErrNotSupported (typed, with the
// reason), or could not tell; and the refusal of a forced source.

package selector

import (
	"errors"
	"fmt"
)

// ErrNotSupported is what every "not here" probe answer matches with
// errors.Is. Fall back to another mechanism only on it: any other error
// means the probe could not tell.
var ErrNotSupported = errors.New("not supported")

// NotSupportedError is a conclusive "this host does not offer Feature".
type NotSupportedError struct {
	Feature   string // "perf_event_open", "tracepoints mlock2", ...
	Reason    string // one line, what the host lacks and why, for a human
	MinKernel string // the first kernel version that has it ("4.4"), if one would
}

func (e *NotSupportedError) Error() string {
	if e.Reason == "" {
		return e.Feature + ": " + ErrNotSupported.Error()
	}
	return e.Reason
}

// Is makes errors.Is(err, ErrNotSupported) hold.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

func notSupported(feature, format string, a ...any) *NotSupportedError {
	return &NotSupportedError{Feature: feature, Reason: fmt.Sprintf(format, a...)}
}

// UnusableError says a forced source (--source perf|audit) cannot work here.
// The CLI prints it on one line and exits with status 2.
type UnusableError struct {
	Source Source
	Err    error // why; usually a *NotSupportedError
}

func (e *UnusableError) Error() string {
	return fmt.Sprintf("--source %s cannot work here: %v", e.Source, e.Err)
}

func (e *UnusableError) Unwrap() error { return e.Err }

// reason is the human text of a probe error: the NotSupported reason, or
// "could not tell: ..." for anything else.
func reason(err error) string {
	if err == nil {
		return ""
	}
	var ns *NotSupportedError
	if errors.As(err, &ns) {
		return ns.Reason
	}
	return "could not tell: " + err.Error()
}
