// Tests of the fixture kernel's strict parsing.

package selector

import (
	"os"
	"path/filepath"
	"testing"
)

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
