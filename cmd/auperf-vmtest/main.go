// Command auperf-vmtest boots Debian's stock kernels under QEMU and checks,
// in each guest, that auperf's probe and its runs with every source agree
// and capture the workload exactly (package vmtest). `make vmtest` runs
// it. Inside a guest the same binary is the checker (guest-check).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/internal/vmtest"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "guest-check" {
		os.Exit(guestCheck(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "guest-compat32" {
		os.Exit(guestCompat32(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "guest-wait-rules" {
		os.Exit(guestWaitRules(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "guest-audit-lock" {
		os.Exit(guestAuditLock())
	}
	if len(os.Args) > 1 && os.Args[1] == "guest-audit-daemon" {
		os.Exit(guestAuditDaemon())
	}
	home, _ := os.UserHomeDir()
	fs := flag.NewFlagSet("auperf-vmtest", flag.ContinueOnError)
	cache := fs.String("cache", filepath.Join(home, ".cache", "auperf", "vmtest"), "`DIR` for the kernels and the private apt state")
	bin := fs.String("bin", "bin", "`DIR` with static auperf, auperf-workload and auperf-vmtest")
	kernels := fs.String("kernels", "", "stock kernels to boot, comma-separated (default: 5.10,6.1,6.12)")
	variantsOn := fs.String("variants-on", "6.1", "stock kernel that also boots in the variants (audit=1, lockdown, audit locked, CPU hotplug, 8 vCPUs; \"\": none)")
	full := fs.Bool("full", false, "run the repository's kernel tests (TestIntegration*) in one guest of the first kernel instead")
	only := fs.String("only", "", "boot only the variant `NAME` (\"-\": the plain boots)")
	refresh := fs.Bool("refresh", false, "update the package lists (newer kernels)")
	timeout := fs.Duration("timeout", 5*time.Minute, "longest a guest may take")
	logs := fs.String("logs", "", "`DIR` for console logs (default: CACHE/logs)")
	custom := fs.String("custom", "", "boot custom kernels built from Debian's linux-source-6.1 instead: comma-separated fragment `NAMES` ("+strings.Join(vmtest.CustomNames(), ",")+"), or all")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *logs == "" {
		*logs = filepath.Join(*cache, "logs")
	}
	cfg := vmtest.Config{Cache: *cache, Bin: *bin, VariantsOn: *variantsOn, Only: *only, Full: *full, Repo: ".", Refresh: *refresh, Timeout: *timeout, Logs: *logs, Out: os.Stdout}
	if *kernels != "" {
		cfg.Kernels = strings.Split(*kernels, ",")
	}
	switch *custom {
	case "":
	case "all":
		cfg.Custom = vmtest.CustomNames()
	default:
		cfg.Custom = strings.Split(*custom, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := vmtest.Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "auperf-vmtest: %v\n", err)
		os.Exit(1)
	}
}

// guestCheck is the checker inside a guest: one VMTEST-RESULT line.
func guestCheck(args []string) int {
	var c vmtest.CheckConfig
	fs := flag.NewFlagSet("guest-check", flag.ContinueOnError)
	fs.StringVar(&c.Source, "source", "", "the run's --source")
	fs.StringVar(&c.Probe, "probe", "", "probe --json output")
	fs.IntVar(&c.ProbeExit, "probe-exit", 0, "probe's exit status")
	fs.IntVar(&c.RunExit, "run-exit", 0, "run's exit status")
	fs.StringVar(&c.RunLog, "run-log", "", "run's stderr")
	fs.StringVar(&c.Truth, "truth", "", "the workload's truth")
	fs.StringVar(&c.Events, "events", "", "run's JSON events")
	fs.BoolVar(&c.AcceptLoss, "accept-loss", false, "accept missing calls up to the records the source reported lost")
	fs.BoolVar(&c.WantRefused, "want-refused", false, "the scenario leaves the source nothing to work with: probe and run must refuse it")
	fs.StringVar(&c.Name, "name", "", "the run's name in the table (default: the source)")
	fs.BoolVar(&c.Early, "early", false, "the workload started before audit was ever enabled; the run traced the whole host")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	r := vmtest.Check(c)
	b, _ := json.Marshal(r)
	fmt.Printf("VMTEST-RESULT %s\n", b)
	return 0
}

// guestCompat32 checks the compat run (a 32-bit arm busybox): one
// VMTEST-RESULT line.
func guestCompat32(args []string) int {
	fs := flag.NewFlagSet("guest-compat32", flag.ContinueOnError)
	events := fs.String("events", "", "run's JSON events")
	runExit := fs.Int("run-exit", 0, "run's exit status")
	runLog := fs.String("run-log", "", "run's stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, _ := json.Marshal(vmtest.CheckCompat32(*events, *runExit, *runLog))
	fmt.Printf("VMTEST-RESULT %s\n", b)
	return 0
}

// guestWaitRules waits (read-only) until the kernel holds an always rule
// with auperf's key: a host-wide audit run traces from then on. Given the
// run's pid, it stops waiting when the run has ended (refused).
func guestWaitRules(args []string) int {
	pid := 0
	if len(args) > 0 {
		pid, _ = strconv.Atoi(args[0])
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err := auditsrc.ReadState(); err == nil && st.KeyedRules(auditsrc.DefaultKey) >= 2 {
			return 0
		}
		if pid > 0 && syscall.Kill(pid, 0) != nil {
			return 0 // the run ended without rules: its check says why
		}
	}
	fmt.Fprintln(os.Stderr, "auperf-vmtest: no auperf audit rule appeared within 60s")
	return 1
}

// guestAuditLock locks audit (enabled=2, until reboot). Never on a host:
// locking audit there cannot be undone without a reboot.
func guestAuditLock() int {
	return guestAudit("locked", func(c *libaudit.AuditClient) error {
		if err := c.SetImmutable(libaudit.WaitForReply); err != nil {
			return fmt.Errorf("lock audit: %w", err)
		}
		return nil
	})
}

// guestAuditDaemon tries to become the audit daemon, as auditd does when it
// starts, and says what the kernel answered.
func guestAuditDaemon() int {
	return guestAudit("daemon", func(c *libaudit.AuditClient) error {
		if err := c.SetPID(libaudit.WaitForReply); err != nil {
			fmt.Fprintf(os.Stderr, "guest-audit-daemon: the kernel refused a second daemon: %v\n", err)
			return nil
		}
		fmt.Fprintln(os.Stderr, "guest-audit-daemon: took the audit pid from the running daemon")
		return nil
	})
}

// guestAudit runs act on an audit client, only inside a vmtest guest
// booted with auperf.vmtest=scenario (see inGuest): these change what a
// host's audit must keep.
func guestAudit(scenario string, act func(*libaudit.AuditClient) error) int {
	if !inGuest(scenario) {
		fmt.Fprintf(os.Stderr, "auperf-vmtest: runs only in a vmtest guest booted with auperf.vmtest=%s\n", scenario)
		return 2
	}
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "auperf-vmtest: %v\n", err)
		return 1
	}
	defer c.Close()
	if err := act(c); err != nil {
		fmt.Fprintf(os.Stderr, "auperf-vmtest: %v\n", err)
		return 1
	}
	return 0
}

// inGuest reports whether we run in a vmtest guest booted with
// auperf.vmtest=scenario: pid 1 is the initramfs's /init (busybox sh
// /init: the kernel runs it through its #! line).
func inGuest(scenario string) bool {
	init, _ := os.ReadFile("/proc/1/cmdline")
	cmdline, _ := os.ReadFile("/proc/cmdline")
	args := strings.Split(strings.TrimRight(string(init), "\x00"), "\x00")
	return args[len(args)-1] == "/init" && strings.Contains(string(cmdline), "auperf.vmtest="+scenario)
}
