package report

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/auperf/auperf/internal/ktest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The inputs are recorded runs of auperf-workload -insight (pids, times
// and addresses as they were):
//
//	run.jsonl      auperf run --source perf (insights on, args array) of
//	               -insight bad, then of -insight good
//	derived.jsonl  auperf run --source perf --insights file_identity
//	               --events ...,exit_group (args object) of -insight bad:
//	               no findings in it, the report derives them
func build(t *testing.T, name string) *Report {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Build(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/report -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, in := range []string{"run", "derived"} {
		rep := build(t, in+".jsonl")
		var txt, js bytes.Buffer
		if err := WriteText(&txt, rep); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&js, rep); err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", in+".txt.golden"), txt.Bytes())
		golden(t, filepath.Join("testdata", in+".json.golden"), js.Bytes())
	}
}

// findingKeys is "name region+length pattern" of every finding.
func findingKeys(rep *Report) []string {
	var out []string
	for _, p := range rep.Processes {
		for _, f := range p.Findings {
			out = append(out, f.Name+" "+f.Addr+"+"+strconv.FormatUint(f.Length, 10)+" "+f.Pattern+" "+f.File)
		}
	}
	sort.Strings(out)
	return out
}

// TestInputAndDerived: the findings auperf run wrote and those the report
// derives from the syscalls alone are the same kinds, one each of the
// eight the bad workload makes, none for the good one.
func TestInputAndDerived(t *testing.T) {
	run, derived := build(t, "run.jsonl"), build(t, "derived.jsonl")
	if run.FindingsFrom != "input" || derived.FindingsFrom != "derived" {
		t.Fatalf("findings from %q and %q", run.FindingsFrom, derived.FindingsFrom)
	}
	names := func(rep *Report) []string {
		var out []string
		for _, k := range findingKeys(rep) {
			out = append(out, strings.Fields(k)[0])
		}
		return out
	}
	want := []string{"mem_wx", "mem_wx", "mem_wx", "mlock_inventory", "msync_async_only", "msync_missing", "msync_partial", "remap_file_pages_deprecated"}
	if got := names(run); !slices.Equal(got, want) {
		t.Errorf("run: %q", got)
	}
	if got := names(derived); !slices.Equal(got, want) {
		t.Errorf("derived: %q", got)
	}
	if len(run.Processes) != 2 || len(run.Processes[1].Findings) != 0 && len(run.Processes[0].Findings) != 0 {
		t.Errorf("%d processes; the good one should have no finding", len(run.Processes))
	}
}

func TestSkipsWhatIsNotAuperf(t *testing.T) {
	rep, err := Build(strings.NewReader("not json\n{\"a\":1}\n\n" +
		`{"timestamp":5,"processId":3,"processName":"x","eventName":"msync","syscall":"msync","returnValue":-12,"errno":"ENOMEM","args":[],"source":"perf"}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 2 || rep.Events != 1 || rep.Processes[0].Failed != 1 || rep.Processes[0].Errnos[0] != (ErrnoCount{"ENOMEM", 1}) {
		t.Errorf("%+v %+v", rep, rep.Processes[0])
	}
}

// TestHTMLInChromium renders the page of run.jsonl in headless Chromium
// (no network: the page must need none) and checks the DOM after its
// script ran: every process has its section and timeline, every finding
// its row and its mark on the timeline, the tables became sortable, and
// sorting the processes by calls puts the busier one first.
func TestHTMLInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		ktest.Skip(t, "chromium not installed (Debian package chromium)")
	}
	rep := build(t, "run.jsonl")
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Find(buf.Bytes()); m != nil {
		t.Errorf("the page loads something from elsewhere: %s", m)
	}
	dump := func(url string) string {
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=2000", "--dump-dom", url)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(out)
	}
	dom := dump("file://" + page)
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Fatalf("the page's script did not run:\n%.2000s", dom)
	}
	if n := strings.Count(dom, `data-sortable="ready"`); n < 1+len(rep.Processes) {
		t.Errorf("%d tables made sortable", n)
	}
	for _, p := range rep.Processes {
		id := `id="proc-` + p.Host + "-" + strconv.Itoa(int(p.PID)) + `"`
		i := strings.Index(dom, id)
		if i < 0 {
			t.Errorf("no section for process %d", p.PID)
			continue
		}
		sec := dom[i:]
		if j := strings.Index(sec[1:], `<section`); j >= 0 {
			sec = sec[:j+1]
		}
		if !strings.Contains(sec, `class="timeline"`) {
			t.Errorf("process %d: no timeline", p.PID)
		}
		for _, f := range p.Findings {
			row := `data-name="` + f.Name + `" data-addr="` + f.Addr + `"`
			if !strings.Contains(sec, row) {
				t.Errorf("process %d: no row for %s at %s", p.PID, f.Name, f.Addr)
			}
		}
		if got := strings.Count(sec, `class="mark"`); got != len(p.Findings) {
			t.Errorf("process %d: %d marks on the timeline, %d findings", p.PID, got, len(p.Findings))
		}
	}
	sorted := regexp.MustCompile(`data-sorted="([0-9,]*)"`).FindStringSubmatch(dump("file://" + page + "#sort-check"))
	busiest := slices.Clone(rep.Processes)
	sort.SliceStable(busiest, func(i, j int) bool { return busiest[i].Calls > busiest[j].Calls })
	var want []string
	for _, p := range busiest {
		want = append(want, strconv.Itoa(int(p.PID)))
	}
	if sorted == nil || sorted[1] != strings.Join(want, ",") {
		t.Errorf("sorted by calls: %v, want %s", sorted, strings.Join(want, ","))
	}
	if shot := os.Getenv("AUPERF_REPORT_SCREENSHOT"); shot != "" {
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1100,1500", "--screenshot="+shot, "file://"+page)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("screenshot: %v: %s", err, out)
		}
	}
}
