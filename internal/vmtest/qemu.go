// Booting a guest: QEMU with software emulation (one TCG thread; several
// vCPUs on multi-threaded TCG hang once perf tracepoints are on), the
// serial console on stdout, bounded in time, and the result lines read
// from the console.

package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Boot is one guest boot.
type Boot struct {
	Kernel  Kernel
	Initrd  string
	Append  string // extra kernel command line ("audit=1")
	CPUs    int    // 0: 2
	Timeout time.Duration
	Log     string // where the console goes (also kept in Console)
}

// Booted is what came back from a guest.
type Booted struct {
	Console string
	Lines   []Line // VMTEST lines, in order
	Results []Result
	Wall    time.Duration
	Err     error // QEMU failed, timed out, or the guest never ended
}

// Line is one "VMTEST-KEY rest" line of the console.
type Line struct{ Key, Rest string }

// Run boots b and waits for the guest to power off.
func (b Boot) Run(ctx context.Context) Booted {
	cpus := b.CPUs
	if cpus == 0 {
		cpus = 2
	}
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	qemu, console := "qemu-system-x86_64", "ttyS0"
	var machine []string
	if b.Kernel.Arch == "arm64" {
		qemu, console, machine = "qemu-system-aarch64", "ttyAMA0", []string{"-M", "virt"}
	}
	args := append(machine,
		"-accel", "tcg,thread=single", "-cpu", "max", "-smp", fmt.Sprint(cpus), "-m", "1024",
		"-kernel", b.Kernel.Image, "-initrd", b.Initrd,
		"-append", strings.TrimSpace("console="+console+" panic=-1 loglevel=4 "+b.Append),
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nodefaults",
	)
	cmd := exec.CommandContext(ctx, qemu, args...)
	var buf bytes.Buffer
	var out io.Writer = &buf
	if b.Log != "" {
		if f, err := os.Create(b.Log); err == nil {
			defer f.Close()
			out = io.MultiWriter(&buf, f)
		}
	}
	cmd.Stdout, cmd.Stderr, cmd.Stdin = out, out, nil
	start := time.Now()
	err := cmd.Run()
	bt := Booted{Console: buf.String(), Wall: time.Since(start)}
	if ctx.Err() != nil {
		err = fmt.Errorf("guest did not end within %v", b.Timeout)
	} else if err != nil {
		err = fmt.Errorf("qemu: %v", err)
	}
	bt.Err = err
	sc := bufio.NewScanner(strings.NewReader(bt.Console))
	sc.Buffer(nil, 1<<20)
	ended := false
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(l, "VMTEST-")
		if i < 0 {
			continue
		}
		key, rest, _ := strings.Cut(l[i+len("VMTEST-"):], " ")
		bt.Lines = append(bt.Lines, Line{key, rest})
		switch key {
		case "RESULT":
			var r Result
			if jerr := json.Unmarshal([]byte(rest), &r); jerr != nil {
				r = Result{Source: "?", Problems: []string{"bad result line: " + jerr.Error()}}
			}
			bt.Results = append(bt.Results, r)
		case "END":
			ended = true
		}
	}
	if bt.Err == nil && !ended {
		bt.Err = fmt.Errorf("the guest ended without VMTEST-END")
	}
	return bt
}
