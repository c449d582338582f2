// The command line as a new user meets it: --version, usage errors as one
// line with a hint and exit 2, no parser internals, --check-config.

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBin runs the built auperf and returns its exit status, stdout, stderr.
func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func TestCLIConventions(t *testing.T) {
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	st, out, _ := runBin(t, bin, "--version")
	if st != 0 || !strings.HasPrefix(out, "auperf ") {
		t.Errorf("--version: %d %q", st, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `auperf: unknown command "bogus"; see 'auperf --help'`},
		{[]string{"run", "--duration", "10"}, `auperf: --duration "10": a duration needs a unit, such as 10s, 5m or 1h; see 'auperf run --help'`},
		{[]string{"run", "--duration", "ten"}, `auperf: --duration "ten": want a duration with a unit, such as 10s, 5m or 1h; see 'auperf run --help'`},
		{[]string{"run", "--pid", "x"}, `auperf: --pid "x": want a whole number; see 'auperf run --help'`},
		{[]string{"run", "--ring-pages", "99999999999999999999"}, `auperf: --ring-pages "99999999999999999999": want a whole number; see 'auperf run --help'`},
		{[]string{"run", "--failed=maybe"}, `auperf: --failed "maybe": want true or false; see 'auperf run --help'`},
		{[]string{"run", "--bogus"}, `auperf: unknown flag --bogus; see 'auperf run --help'`},
		{[]string{"decode", "--nope"}, `auperf: unknown flag --nope; see 'auperf decode --help'`},
		{[]string{"probe", "-x"}, `auperf: unknown flag -x; see 'auperf probe --help'`},
		{[]string{"completion", "fish"}, `auperf: completion: want bash or zsh; see 'auperf completion --help'`},
		{[]string{"run", "--stop-timeout", "0s", "--config", ""}, `auperf: --stop-timeout 0s: want a positive duration`},
		{[]string{"run", "--metrics-listen", "9464", "--config", "", "--check-config"}, `auperf: metrics listen "9464": want HOST:PORT, such as 127.0.0.1:9464`},
	} {
		st, out, errs := runBin(t, bin, c.args...)
		if st != 2 || out != "" || errs != c.want+"\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, stderr %q", c.args, st, out, errs, c.want)
		}
	}
}

// TestCheckConfig: --check-config says OK for the shipped sample (its
// output redirected here), leaves no file behind, and refuses an output
// that cannot be opened and a config with a bad line, exit 2.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	target := filepath.Join(dir, "new", "events.json")
	st, out, errs := runBin(t, bin, "run", "--check-config", "--config", "../../packaging/auperf.yaml", "--output", "json:"+target)
	if st != 0 || !strings.Contains(out, "auperf: config OK (../../packaging/auperf.yaml): 1 output(s), source auto") {
		t.Errorf("sample: exit %d\n%s%s", st, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Errorf("--check-config left %s behind (%v)", filepath.Join(dir, "new"), err)
	}
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	st, _, errs = runBin(t, bin, "run", "--check-config", "--config", "", "--output", "json:"+filepath.Join(dir, "file", "x.json"))
	if st != 2 || !strings.Contains(errs, "not a directory") || strings.Count(errs, "\n") != 1 {
		t.Errorf("unopenable output: exit %d %q", st, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("source: perf\nring-pages: many\n"), 0o600)
	st, _, errs = runBin(t, bin, "run", "--check-config", "--config", bad)
	if st != 2 || errs != "auperf: --config "+bad+": line 2: ring-pages: \"many\" is not a whole number\n" {
		t.Errorf("bad config: exit %d %q", st, errs)
	}
}
