package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Expected is what -insight writes: the findings a tracer's insights must
// report for the process, no more and no fewer.
type Expected struct {
	PID      int               `json:"pid"`
	Findings []ExpectedFinding `json:"findings"`
}

// ExpectedFinding is one finding: the insight, the region it is about,
// and for a file mapping the file's path.
type ExpectedFinding struct {
	Name    string `json:"name"`
	Addr    uint64 `json:"addr"`
	Length  uint64 `json:"length"`
	Pattern string `json:"pattern,omitempty"`
	File    string `json:"file,omitempty"`
}

// settle is how long the insight workload keeps a new file mapping before
// the next call, so that a tracer resolving the mapped file at the event
// finds it still mapped.
const settle = 200 * time.Millisecond

// insightRun is the -insight mode: "bad" makes every mistake the insights
// know, each once on a region of its own; "good" uses the same calls
// correctly and must give no finding. The expected findings go to
// cfg.Out.
func insightRun(cfg Config) error {
	if cfg.Insight != "bad" && cfg.Insight != "good" {
		return fmt.Errorf("-insight %q: want bad or good", cfg.Insight)
	}
	w := &insightWorkload{dir: cfg.Dir, exp: Expected{PID: os.Getpid(), Findings: []ExpectedFinding{}}}
	var err error
	if cfg.Insight == "bad" {
		err = w.bad()
	} else {
		err = w.good()
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(w.exp)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if cfg.Out == "" || cfg.Out == "-" {
		_, err = cfg.Stdout.Write(b)
		return err
	}
	return os.WriteFile(cfg.Out, b, 0o644)
}

type insightWorkload struct {
	dir string
	exp Expected
	n   int
}

func (w *insightWorkload) expect(name string, addr, length uint64, pattern, file string) {
	w.exp.Findings = append(w.exp.Findings, ExpectedFinding{name, addr, length, pattern, file})
}

func sys(nr uintptr, a ...uint64) (uint64, error) {
	var x [6]uintptr
	for i, v := range a {
		x[i] = uintptr(v)
	}
	r, _, e := unix.RawSyscall6(nr, x[0], x[1], x[2], x[3], x[4], x[5])
	if e != 0 {
		return 0, fmt.Errorf("syscall %d%v: %w", nr, a, e)
	}
	return uint64(r), nil
}

// file makes a file of size bytes and returns its fd and path.
func (w *insightWorkload) file(size int64) (int, string, error) {
	w.n++
	path := filepath.Join(w.dir, fmt.Sprintf("insight-%d.dat", w.n))
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return -1, "", err
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		return -1, "", err
	}
	return fd, path, nil
}

// mapFile maps length bytes of fd shared with prot, touches them if
// writable, and waits settle.
func mapFile(fd int, length, prot uint64) (uint64, error) {
	a, err := sys(unix.SYS_MMAP, 0, length, prot, unix.MAP_SHARED, uint64(fd), 0)
	if err != nil {
		return 0, err
	}
	if prot&unix.PROT_WRITE != 0 {
		for off := uint64(0); off < length; off += pageSize {
			*(*byte)(unsafe.Add(unsafe.Pointer(nil), a+off)) = 'x'
		}
	}
	time.Sleep(settle)
	return a, nil
}

const protRWX = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC

// bad makes each mistake once.
func (w *insightWorkload) bad() error {
	// Written through a shared file mapping, unmapped with no msync.
	fd, path, err := w.file(2 * pageSize)
	if err != nil {
		return err
	}
	a, err := mapFile(fd, 2*pageSize, protRW)
	if err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNMAP, a, 2*pageSize); err != nil {
		return err
	}
	w.expect("msync_missing", a, 2*pageSize, "", path)

	// Synced with MS_ASYNC only.
	if fd, path, err = w.file(2 * pageSize); err != nil {
		return err
	}
	if a, err = mapFile(fd, 2*pageSize, protRW); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MSYNC, a, 2*pageSize, unix.MS_ASYNC); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNMAP, a, 2*pageSize); err != nil {
		return err
	}
	w.expect("msync_async_only", a, 2*pageSize, "", path)

	// msync of half the mapping (MS_SYNC): partial at the msync.
	if fd, path, err = w.file(2 * pageSize); err != nil {
		return err
	}
	if a, err = mapFile(fd, 2*pageSize, protRW); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MSYNC, a, pageSize, unix.MS_SYNC); err != nil {
		return err
	}
	w.expect("msync_partial", a, 2*pageSize, "", path)
	if _, err := sys(unix.SYS_MUNMAP, a, 2*pageSize); err != nil {
		return err
	}

	// Mapped writable and executable at once.
	if a, err = sys(unix.SYS_MMAP, 0, pageSize, protRWX, mapPrivAno, noFD, 0); err != nil {
		return err
	}
	w.expect("mem_wx", a, pageSize, "wx_mapping", "")
	if _, err := sys(unix.SYS_MUNMAP, a, pageSize); err != nil {
		return err
	}

	// Writable, then executable (the JIT pattern).
	if a, err = sys(unix.SYS_MMAP, 0, pageSize, protRW, mapPrivAno, noFD, 0); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MPROTECT, a, pageSize, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		return err
	}
	w.expect("mem_wx", a, pageSize, "x_after_w", "")
	if _, err := sys(unix.SYS_MUNMAP, a, pageSize); err != nil {
		return err
	}

	// A memfd mapped writable and, elsewhere, executable.
	mfd, err := unix.MemfdCreate("auperf-jit", 0)
	if err != nil {
		return err
	}
	if err := unix.Ftruncate(mfd, pageSize); err != nil {
		return err
	}
	wa, err := mapFile(mfd, pageSize, protRW)
	if err != nil {
		return err
	}
	xa, err := mapFile(mfd, pageSize, unix.PROT_READ|unix.PROT_EXEC)
	if err != nil {
		return err
	}
	w.expect("mem_wx", xa, pageSize, "w_x_alias", "/memfd:auperf-jit (deleted)")
	for _, x := range []uint64{wa, xa} {
		if _, err := sys(unix.SYS_MUNMAP, x, pageSize); err != nil {
			return err
		}
	}

	// A key buffer locked and unlocked (no finding), and one left
	// locked (MLOCK_ONFAULT) at exit.
	k, err := sys(unix.SYS_MMAP, 0, pageSize, protRW, mapPrivAno, noFD, 0)
	if err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MLOCK2, k, pageSize, 0); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNLOCK, k, pageSize); err != nil {
		return err
	}
	left, err := sys(unix.SYS_MMAP, 0, 2*pageSize, protRW, mapPrivAno, noFD, 0)
	if err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MLOCK2, left, 2*pageSize, unix.MLOCK_ONFAULT); err != nil {
		return err
	}
	w.expect("mlock_inventory", left, 2*pageSize, "", "")

	// remap_file_pages on a shared file mapping that is then synced
	// properly (only the deprecated call is a finding).
	if fd, path, err = w.file(2 * pageSize); err != nil {
		return err
	}
	if a, err = mapFile(fd, 2*pageSize, protRW); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_REMAP_FILE_PAGES, a, pageSize, 0, 1, 0); err != nil {
		return err
	}
	w.expect("remap_file_pages_deprecated", a, pageSize, "", path)
	if _, err := sys(unix.SYS_MSYNC, a, 2*pageSize, unix.MS_SYNC); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNMAP, a, 2*pageSize); err != nil {
		return err
	}
	return nil
}

// good uses the same calls as bad, correctly.
func (w *insightWorkload) good() error {
	fd, _, err := w.file(2 * pageSize)
	if err != nil {
		return err
	}
	a, err := mapFile(fd, 2*pageSize, protRW)
	if err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MSYNC, a, 2*pageSize, unix.MS_SYNC); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MPROTECT, a, 2*pageSize, unix.PROT_READ); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNMAP, a, 2*pageSize); err != nil {
		return err
	}
	// A key buffer locked, then unlocked.
	k, err := sys(unix.SYS_MMAP, 0, pageSize, protRW, mapPrivAno, noFD, 0)
	if err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MLOCK2, k, pageSize, unix.MLOCK_ONFAULT); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNLOCK, k, pageSize); err != nil {
		return err
	}
	if _, err := sys(unix.SYS_MUNMAP, k, pageSize); err != nil {
		return err
	}
	// A read-only shared mapping of a file needs no msync.
	if a, err = mapFile(fd, pageSize, unix.PROT_READ); err != nil {
		return err
	}
	_, err = sys(unix.SYS_MUNMAP, a, pageSize)
	return err
}
