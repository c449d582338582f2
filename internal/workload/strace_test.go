package workload

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/auperf/auperf/internal/ktest"
)

// TestStraceAgreesWithTruth proves the workload itself: strace, an
// independent observer, must see each recorded call of the simple
// (addr, len, flags) shape with the same tid, arguments and result.
func TestStraceAgreesWithTruth(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		ktest.Skip(t, "strace not installed (apt-get install strace)")
	}
	dir := t.TempDir()
	truthPath, tracePath := filepath.Join(dir, "truth.json"), filepath.Join(dir, "strace.txt")
	cmd := exec.Command(strace, "-f", "-qq", "-X", "raw", "-e", "trace=memory", "-o", tracePath,
		Build(t), "-threads", "2", "-int80", "-out", truthPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace: %v\n%s", err, out)
	}
	seen, err := readStrace(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	calls, err := ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range calls {
		want, ok := straceLine(&c)
		if !ok {
			continue
		}
		checked++
		if seen[want] == 0 {
			t.Errorf("%s: strace did not see %q", c.Label, want)
			continue
		}
		seen[want]--
	}
	if checked < 40 {
		t.Errorf("only %d calls checked", checked)
	}
}

// straceLine is how `strace -f -X raw` prints c (tid first), for the
// syscalls whose arguments are an address, a length and maybe flags.
func straceLine(c *Call) (string, bool) {
	var args string
	switch c.Name {
	case "msync", "mprotect", "mlock2", "madvise":
		args = fmt.Sprintf("%#x, %d, %s", c.Args[0], c.Args[1], hexOrZero(c.Args[2]))
	case "munmap", "mlock", "munlock":
		args = fmt.Sprintf("%#x, %d", c.Args[0], c.Args[1])
	default:
		return "", false
	}
	ret := "0"
	if c.Failed() {
		ret = "-1 " + c.Errno
	} else if c.Ret != 0 {
		return "", false
	}
	return fmt.Sprintf("%d %s(%s) = %s", c.TID, c.Name, args, ret), true
}

func hexOrZero(v uint64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", v)
}

var straceRe = regexp.MustCompile(`^(\d+) +(.*)$`)

// readStrace returns strace's lines as "tid name(args) = ret [ERRNO]",
// with split (unfinished/resumed) calls joined and the errno text dropped.
func readStrace(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pending := map[string]string{}
	lines := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := straceRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		tid, rest := m[1], m[2]
		if s, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
			pending[tid] = s
			continue
		}
		if strings.HasPrefix(rest, "<... ") {
			_, after, ok := strings.Cut(rest, " resumed>")
			if !ok {
				continue
			}
			rest = pending[tid] + after
			delete(pending, tid)
		}
		call, ret, ok := strings.Cut(rest, " = ")
		if !ok {
			continue
		}
		call = strings.TrimRight(call, " ")
		if i := strings.Index(ret, " ("); i >= 0 {
			ret = ret[:i]
		}
		lines[tid+" "+call+" = "+ret]++
	}
	return lines, sc.Err()
}
