// Tests of the tracefs locator on fake roots and mount tables.

package host

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
			cfg := Paths{ProcFS: filepath.Join(root, "proc"), SysFS: filepath.Join(root, "sys"), RootFS: root}
			for _, d := range tt.dirs {
				if err := os.MkdirAll(cfg.HostPath(d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			ms := parseMountsText(tt.mounts)
			got, why := LocateTraceFS(cfg, ms)
			if got.State != tt.state || got.Path != tt.path || got.FSType != tt.fstype || !strings.Contains(why, tt.why) {
				t.Errorf("got %+v %q, want %s %s %s %q", got, why, tt.state, tt.path, tt.fstype, tt.why)
			}
		})
	}
}

func parseMountsText(s string) []Mount {
	var ms []Mount
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		ms = append(ms, Mount{f[1], f[2]})
	}
	return ms
}

func TestCovering(t *testing.T) {
	ms := []Mount{{"/", "ext4"}, {"/sys", "sysfs"}, {"/sys/kernel/tracing", "tracefs"}, {"/sys/kernel", "tmpfs"}}
	if m, _ := Covering(ms, "/sys/kernel/tracing"); m.FSType != "tmpfs" {
		t.Errorf("a tmpfs on /sys/kernel mounted later hides tracefs; got %v", m)
	}
	if m, _ := Covering(ms, "/sys/kernelx"); m.FSType != "sysfs" {
		t.Errorf("/sys/kernelx is on sysfs; got %v", m)
	}
	// After a pivot_root, /proc/mounts may list "/" after "/sys" (this VM
	// does): the root mount must not hide what is mounted below it.
	pivot := []Mount{{"/sys", "sysfs"}, {"/sys/kernel/tracing", "tracefs"}, {"/", "ext4"}}
	if m, _ := Covering(pivot, "/sys/kernel/debug"); m.FSType != "sysfs" {
		t.Errorf("/sys/kernel/debug is on sysfs even with / listed last; got %v", m)
	}
	if m, _ := Covering(pivot, "/sys/kernel/tracing"); m.FSType != "tracefs" {
		t.Errorf("tracefs is not hidden by / listed last; got %v", m)
	}
	if m, _ := Covering(pivot, "/etc"); m.FSType != "ext4" {
		t.Errorf("/etc is on /; got %v", m)
	}
	if got := UnescapeMount(`/mnt/with\040space`); got != "/mnt/with space" {
		t.Errorf("unescape: %q", got)
	}
}
