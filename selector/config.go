// Where the selector reads the host (host.Paths) and who answers for the
// kernel, and the kernel build config.

package selector

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/auperf/auperf/internal/host"
)

// Config says where the host's files are and who answers for the kernel.
// Every path the selector reads goes through its Paths, so that tests (and
// `auperf probe --rootfs`) run on the fixture roots under testdata/roots.
type Config struct {
	host.Paths
	// Kernel makes the calls a file cannot answer. nil = the running kernel.
	Kernel KernelCalls
	// B32 says when the plan adds audit b32 rules for 32-bit callers.
	B32 B32Mode
}

// B32Mode says when audit b32 rules (32-bit callers: ia32, arm) are
// planned. Turning audit on has a cost that outlives the run: from then
// until reboot every new process takes the audit syscall path
// (audit_ever_enabled never goes back), so auto does not turn audit on
// for b32 rules alone.
type B32Mode uint8

const (
	// B32Auto: b32 rules when audit is on already, or is turned on
	// anyway for events perf cannot trace.
	B32Auto B32Mode = iota
	B32On           // always (audit is turned on for them if it is off)
	B32Off          // never
)

// ParseB32 parses --b32.
func ParseB32(s string) (B32Mode, error) {
	switch s {
	case "", "auto":
		return B32Auto, nil
	case "on":
		return B32On, nil
	case "off":
		return B32Off, nil
	}
	return B32Auto, fmt.Errorf("%q: want auto, on or off", s)
}

func (m B32Mode) String() string {
	return [...]string{"auto", "on", "off"}[m]
}

func (c Config) withDefaults() Config {
	c.Paths = c.Paths.WithDefaults()
	if c.Kernel == nil {
		c.Kernel = HostKernel{}
	}
	return c
}

// readTrim reads a small file and trims surrounding white space.
func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// kernelConfig reads the build configuration of the running kernel from
// /proc/config.gz (CONFIG_IKCONFIG_PROC) or /boot/config-<release>. It
// returns nil, with the paths it tried, when neither is there.
func (c Config) kernelConfig(release string) (map[string]string, string) {
	if f, err := os.Open(c.Proc("config.gz")); err == nil {
		defer f.Close()
		if zr, err := gzip.NewReader(f); err == nil {
			if b, err := io.ReadAll(io.LimitReader(zr, 8<<20)); err == nil {
				return parseKernelConfig(string(b)), "/proc/config.gz"
			}
		}
	}
	if release != "" {
		p := "/boot/config-" + release
		if b, err := os.ReadFile(c.HostPath(p)); err == nil {
			return parseKernelConfig(string(b)), p
		}
	}
	return nil, ""
}

// parseKernelConfig maps CONFIG_X to "y", "m", a value, or "n" for
// "# CONFIG_X is not set".
func parseKernelConfig(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok {
				m[name] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}
