package selector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocateTraceFS covers tracefs states the fixture roots do not: an
// unmounted debugfs on a pre-4.1 kernel, a tracefs mounted elsewhere, a
// host without either mount point, and a tmpfs over all of /sys/kernel.
func TestLocateTraceFS(t *testing.T) {
	tests := []struct {
		name   string
		dirs   []string // made under the root (host paths)
		mounts string
		state  TraceFSState
		path   string
		fstype string
		why    string
	}{
		{"pre-4.1 debugfs not mounted", []string{"/sys/kernel/debug"},
			"sysfs /sys sysfs rw 0 0\n", TraceFSMountable, "/sys/kernel/debug", "debugfs", ""},
		{"tracefs elsewhere", []string{"/sys/kernel/tracing", "/mnt/trace/events"},
			"sysfs /sys sysfs rw 0 0\ntracefs /mnt/trace tracefs rw 0 0\n", TraceFSMounted, "/mnt/trace", "tracefs", ""},
		{"no mount points", []string{"/sys/kernel"},
			"sysfs /sys sysfs rw 0 0\n", TraceFSAbsent, "", "", "kernel without CONFIG_TRACING"},
		{"tmpfs over /sys/kernel", []string{"/sys/kernel/tracing/events"},
			"sysfs /sys sysfs rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\ntmpfs /sys/kernel tmpfs ro 0 0\n",
			TraceFSAbsent, "", "", "/sys/kernel/tracing is covered by a tmpfs mount"},
		{"tracefs over a masking tmpfs", []string{"/sys/kernel/tracing/events"},
			"sysfs /sys sysfs rw 0 0\ntmpfs /sys/kernel/tracing tmpfs ro 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\n",
			TraceFSMounted, "/sys/kernel/tracing", "tracefs", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			cfg := Config{ProcFS: filepath.Join(root, "proc"), SysFS: filepath.Join(root, "sys"), RootFS: root}
			for _, d := range tt.dirs {
				if err := os.MkdirAll(cfg.hostPath(d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			ms := parseMountsText(tt.mounts)
			got, why := locateTraceFS(cfg, ms)
			if got.State != tt.state || got.Path != tt.path || got.FSType != tt.fstype || !strings.Contains(why, tt.why) {
				t.Errorf("got %+v %q, want %s %s %s %q", got, why, tt.state, tt.path, tt.fstype, tt.why)
			}
		})
	}
}

func parseMountsText(s string) []mountEntry {
	var ms []mountEntry
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		ms = append(ms, mountEntry{f[1], f[2]})
	}
	return ms
}

func TestFixtureKernelStrict(t *testing.T) {
	for _, body := range []string{
		"machine: x86_64\nperf_open: EWHATEVER\n",
		"machine: x86_64\nperf_opne: ok\n",
		"machine: x86_64\naudit:\n  error: NOPE\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "kernel.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFixtureKernel(dir); err == nil {
			t.Errorf("accepted %q", body)
		}
	}
}
