// Exit statuses (a traced command's own, 2 for usage errors) and usage
// errors as one line a person can act on.

package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/internal/trace"
)

// exitStatus carries a traced command's exit status out of the app.
type exitStatus int

func (s exitStatus) Error() string { return "exit status" }

func asExit(err error, st *exitStatus) bool { return errors.As(err, st) }

func isUsage(err error) bool {
	var u *trace.UsageError
	return errors.As(err, &u)
}

// flagValueErr is how the flag package words a bad value.
var flagValueErr = regexp.MustCompile(`^invalid value "(.*)" for flag -+([\w-]+): (.*)$`)

// usageHint turns a flag parser's error into one line without parser
// internals, with where to look: "see 'auperf run --help'".
func usageHint(command string, flags []cli.Flag, err error) error {
	help := "auperf --help"
	if command != "" {
		help = "auperf " + command + " --help"
	}
	msg := err.Error()
	if m := flagValueErr.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("--%s %q: %s", m[2], m[1], flagValueReason(flagKind(flags, m[2]), m[1]))
	} else if m := boolValueErr.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("--%s %q: want true or false", m[2], m[1])
	} else if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown flag " + "-" + strings.TrimLeft(rest, "-")
		if len(strings.TrimLeft(rest, "-")) > 1 {
			msg = "unknown flag --" + strings.TrimLeft(rest, "-")
		}
	}
	return usagef("%s; see '%s'", msg, help)
}

var boolValueErr = regexp.MustCompile(`^invalid boolean value "(.*)" for -+([\w-]+): `)

// flagKind is the kind of value the flag named takes: "duration",
// "number", "bool" or "" (text).
func flagKind(flags []cli.Flag, name string) string {
	for _, f := range flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			return "duration"
		case *cli.IntFlag, *cli.IntSliceFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
			return "number"
		case *cli.BoolFlag:
			return "bool"
		}
	}
	return ""
}

// flagValueReason words why a flag value was refused: what the flag
// wants, never how Go parses it.
func flagValueReason(kind, value string) string {
	switch kind {
	case "duration":
		if looksNumeric(value) {
			return "a duration needs a unit, such as 10s, 5m or 1h"
		}
		return "want a duration with a unit, such as 10s, 5m or 1h"
	case "number":
		return "want a whole number"
	case "bool":
		return "want true or false"
	}
	return "not a valid value"
}

func looksNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789.") == ""
}
