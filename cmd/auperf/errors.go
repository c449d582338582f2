// Exit statuses: a traced command's own, 2 for usage errors.

package main

import (
	"errors"
	"strings"

	"github.com/auperf/auperf/internal/trace"
)

// exitStatus carries a traced command's exit status out of the app.
type exitStatus int

func (s exitStatus) Error() string { return "exit status" }

func asExit(err error, st *exitStatus) bool { return errors.As(err, st) }

func isUsage(err error) bool {
	var u *trace.UsageError
	if errors.As(err, &u) {
		return true
	}
	// urfave/cli reports flag parse problems as plain errors.
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") ||
		strings.HasPrefix(msg, "invalid value") ||
		strings.Contains(msg, "Required flag")
}
