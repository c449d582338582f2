// Fixture roots: a fake host's kernel answers from its kernel.yaml.

package selector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/internal/host"
)

// FixtureKernel answers KernelCalls from a fixture root's kernel.yaml, so a
// fixture describes a whole host. The shape:
//
//	machine: x86_64        # uname -m
//	perf_open: EACCES      # ok | an errno name perf_event_open returns
//	audit:                 # what AUDIT_GET answers
//	  error: EPERM         # an errno name, or absent for a status:
//	  enabled: 1
//	  pid: 812
//
// Unknown keys are an error, so a typo cannot silently change a fixture.
type FixtureKernel struct {
	MachineName string       `yaml:"machine"`
	PerfOpen    string       `yaml:"perf_open"`
	Audit       fixtureAudit `yaml:"audit"`
}

type fixtureAudit struct {
	Error           string `yaml:"error"`
	auditsrc.Status `yaml:",inline"`
}

// LoadFixtureKernel reads dir/kernel.yaml.
func LoadFixtureKernel(dir string) (*FixtureKernel, error) {
	f, err := os.Open(filepath.Join(dir, "kernel.yaml"))
	if err != nil {
		return nil, fmt.Errorf("load fixture kernel: %w", err)
	}
	defer f.Close()
	d := yaml.NewDecoder(f)
	d.KnownFields(true)
	var k FixtureKernel
	if err := d.Decode(&k); err != nil {
		return nil, fmt.Errorf("load fixture kernel %s: %w", f.Name(), err)
	}
	for _, e := range []string{k.PerfOpen, k.Audit.Error} {
		if e != "" && e != "ok" && errnoByName(e) == 0 {
			return nil, fmt.Errorf("load fixture kernel %s: unknown errno %q", f.Name(), e)
		}
	}
	return &k, nil
}

// FixtureConfig is the Config of a fixture root: dir/proc, dir/sys, dir as
// RootFS, and dir/kernel.yaml for the kernel calls.
func FixtureConfig(dir string) (Config, error) {
	k, err := LoadFixtureKernel(dir)
	if err != nil {
		return Config{}, err
	}
	return Config{Paths: host.Paths{
		ProcFS: filepath.Join(dir, "proc"),
		SysFS:  filepath.Join(dir, "sys"),
		RootFS: dir,
	}, Kernel: k}, nil
}

func fixtureErr(call, name string) error {
	if name == "" || name == "ok" {
		return nil
	}
	return fmt.Errorf("%s: %w", call, errnoByName(name))
}

func (k *FixtureKernel) Machine() (string, error) {
	if k.MachineName == "" {
		return "", errors.New("uname: fixture has no machine")
	}
	return k.MachineName, nil
}

func (k *FixtureKernel) PerfOpenTracepoint(id uint64) error {
	return fixtureErr(fmt.Sprintf("perf_event_open tracepoint %d", id), k.PerfOpen)
}

func (k *FixtureKernel) AuditStatus() (auditsrc.Status, error) {
	if err := fixtureErr("get audit status", k.Audit.Error); err != nil {
		return auditsrc.Status{}, err
	}
	return k.Audit.Status, nil
}

// errnoByName is the errno called name ("EACCES"), or 0.
func errnoByName(name string) unix.Errno {
	for e := unix.Errno(1); e < 256; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}
