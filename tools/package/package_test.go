// The packages as an administrator receives them: the .deb unpacked into a
// scratch root (dpkg -x, and dpkg --root for the package database's view:
// conffiles), file list and modes, maintainer scripts, the unit verified by
// systemd-analyze; the .rpm's header; make install's file list.

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// wantFiles are the files a package installs, with their modes.
var wantFiles = map[string]os.FileMode{
	"/usr/bin/auperf":                               0o755,
	"/usr/lib/systemd/system/auperf.service":        0o644,
	"/etc/auperf/auperf.yaml":                       0o640,
	"/etc/logrotate.d/auperf":                       0o644,
	"/usr/share/man/man8/auperf.8.gz":               0o644,
	"/usr/share/bash-completion/completions/auperf": 0o644,
	"/usr/share/zsh/vendor-completions/_auperf":     0o644,
	"/usr/share/doc/auperf/README.md":               0o644,
	"/usr/share/doc/auperf/LICENSE":                 0o644,
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// build builds auperf and the packages into a temporary directory, from
// the repository root.
func build(t *testing.T) (bin, dist string) {
	t.Helper()
	t.Chdir("../..")
	tmp := t.TempDir()
	bin = filepath.Join(tmp, "auperf")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/auperf")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dist = filepath.Join(tmp, "dist")
	if err := run(bin, bin, "amd64", "1.2.3", dist, "deb,rpm", "", ""); err != nil {
		t.Fatal(err)
	}
	return bin, dist
}

func TestDebPackage(t *testing.T) {
	need(t, "dpkg", "dpkg-deb", "dpkg-query")
	_, dist := build(t)
	deb := filepath.Join(dist, "auperf_1.2.3_amd64.deb")
	root := t.TempDir()
	sh(t, "dpkg", "-x", deb, root)

	// The file list and modes.
	var got []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			got = append(got, strings.TrimPrefix(p, root))
		}
		return nil
	})
	var want []string
	for f := range wantFiles {
		want = append(want, f)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files\n got %q\nwant %q", got, want)
	}
	for f, mode := range wantFiles {
		if fi, err := os.Stat(filepath.Join(root, f)); err == nil && fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), mode)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/auperf")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("/etc/auperf: %v %v, want a directory 0750", fi, err)
	}
	unit := sh(t, "cat", filepath.Join(root, "usr/lib/systemd/system/auperf.service"))
	for _, l := range []string{"ExecStart=/usr/bin/auperf run --config /etc/auperf/auperf.yaml", "ExecStopPost=/usr/bin/auperf cleanup", "Type=notify"} {
		if !strings.Contains(unit, l+"\n") {
			t.Errorf("unit lacks %q", l)
		}
	}

	// The control part: conffiles and maintainer scripts.
	ctl := t.TempDir()
	sh(t, "dpkg-deb", "-e", deb, ctl)
	conf := sh(t, "cat", filepath.Join(ctl, "conffiles"))
	if conf != "/etc/auperf/auperf.yaml\n/etc/logrotate.d/auperf\n" {
		t.Errorf("conffiles %q", conf)
	}
	scripts := map[string][]string{
		"postinst": {"systemctl daemon-reload"},
		"prerm":    {"systemctl stop auperf.service", "/usr/bin/auperf cleanup"},
		"postrm":   {"/usr/bin/auperf cleanup", "systemctl daemon-reload"},
	}
	for name, must := range scripts {
		p := filepath.Join(ctl, name)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: %v, want an executable script", name, err)
			continue
		}
		body := sh(t, "cat", p)
		for _, m := range must {
			if !strings.Contains(body, m) {
				t.Errorf("%s lacks %q:\n%s", name, m, body)
			}
		}
		if regexpStart.MatchString(code(body)) {
			t.Errorf("%s starts the service:\n%s", name, body)
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v %s", name, err, out)
		}
	}

	// The package database's view: unpacked with dpkg --root (no
	// maintainer script runs at unpack), dpkg lists the files and the
	// conffiles with their checksums.
	db := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		os.MkdirAll(filepath.Join(db, d), 0o755)
	}
	os.WriteFile(filepath.Join(db, "var/lib/dpkg/status"), nil, 0o644)
	os.WriteFile(filepath.Join(db, "var/lib/dpkg/available"), nil, 0o644)
	sh(t, "dpkg", "--root="+db, "--force-not-root", "--force-bad-path", "--unpack", deb)
	q := sh(t, "dpkg-query", "--root="+db, "-W", "-f", "${Package} ${Version} ${Status}\n${Conffiles}\n", "auperf")
	if !strings.HasPrefix(q, "auperf 1.2.3 install ok unpacked\n") ||
		!strings.Contains(q, " /etc/auperf/auperf.yaml ") || !strings.Contains(q, " /etc/logrotate.d/auperf ") {
		t.Errorf("dpkg-query:\n%s", q)
	}
	listed := sh(t, "dpkg-query", "--root="+db, "-L", "auperf")
	for f := range wantFiles {
		if !strings.Contains(listed, f+"\n") {
			t.Errorf("dpkg -L lacks %s", f)
		}
	}
}

// TestUnitVerifies: systemd-analyze verify passes on the shipped unit, in
// a root made of the unpacked package and this system's own units.
func TestUnitVerifies(t *testing.T) {
	need(t, "systemd-analyze", "dpkg")
	_, dist := build(t)
	root := t.TempDir()
	sh(t, "dpkg", "-x", filepath.Join(dist, "auperf_1.2.3_amd64.deb"), root)
	units := "/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(units, "sysinit.target")); err != nil {
		units = "/usr/lib/systemd/system"
	}
	// The system's units (targets the unit refers to), then ours over them.
	os.MkdirAll(filepath.Join(root, "lib/systemd"), 0o755)
	sh(t, "cp", "-r", units, filepath.Join(root, "lib/systemd/"))
	sh(t, "cp", filepath.Join(root, "usr/lib/systemd/system/auperf.service"), filepath.Join(root, "lib/systemd/system/"))
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	sh(t, "cp", "/bin/kill", filepath.Join(root, "bin/kill"))
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, "/lib/systemd/system/auperf.service").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// And it would catch a mistake.
	bad := filepath.Join(root, "lib/systemd/system/auperf.service")
	b, _ := os.ReadFile(bad)
	os.WriteFile(bad, bytes.Replace(b, []byte("ExecStart=/usr/bin/auperf"), []byte("ExecStart=/usr/bin/auperf-missing"), 1), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, "/lib/systemd/system/auperf.service").CombinedOutput(); err == nil && len(bytes.TrimSpace(out)) == 0 {
		t.Errorf("verify passed a unit whose ExecStart does not exist")
	}
}

// TestRPMPackage: the .rpm has the same files; checked with rpm where it
// is installed, else its lead and header are checked for the file names.
func TestRPMPackage(t *testing.T) {
	_, dist := build(t)
	rpmFile := filepath.Join(dist, "auperf-1.2.3-1.x86_64.rpm")
	b, err := os.ReadFile(rpmFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0xed, 0xab, 0xee, 0xdb}) {
		t.Fatalf("%s: no RPM lead", rpmFile)
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		list := sh(t, "rpm", "-qlp", rpmFile)
		for f := range wantFiles {
			if !strings.Contains(list, f+"\n") {
				t.Errorf("rpm -qlp lacks %s", f)
			}
		}
		conf := sh(t, "rpm", "-qcp", rpmFile)
		if !strings.Contains(conf, "/etc/auperf/auperf.yaml") {
			t.Errorf("rpm -qcp: %s", conf)
		}
		return
	}
	// Without rpm: the header holds the base names of every file.
	for f := range wantFiles {
		if !bytes.Contains(b, []byte(filepath.Base(f)+"\x00")) {
			t.Errorf("rpm header lacks %s", filepath.Base(f))
		}
	}
	t.Log("rpm not installed: checked the lead and the file names in the header")
}

// TestInstall: make install's file list, with the unit pointing at PREFIX
// and an administrator's config kept.
func TestInstall(t *testing.T) {
	bin, _ := build(t)
	dest := t.TempDir()
	os.MkdirAll(filepath.Join(dest, "etc/auperf"), 0o750)
	os.WriteFile(filepath.Join(dest, "etc/auperf/auperf.yaml"), []byte("source: perf\n"), 0o640)
	fs, err := fileList(bin, "/usr/local", bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := installTo(dest, fs); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/auperf/auperf.yaml")); string(b) != "source: perf\n" {
		t.Errorf("the administrator's config was replaced: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/auperf/auperf.yaml.new")); err != nil {
		t.Errorf("the new sample is not beside it: %v", err)
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "etc/systemd/system/auperf.service"))
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/auperf run")) || bytes.Contains(unit, []byte("/usr/bin/auperf")) {
		t.Errorf("unit not pointed at the prefix:\n%s", unit)
	}
	if fi, err := os.Stat(filepath.Join(dest, "usr/local/bin/auperf")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("binary: %v %v", fi, err)
	}
}

var regexpStart = regexp.MustCompile(`systemctl\s+(start|enable|restart)`)

// code is a shell script without its comment lines.
func code(script string) string {
	var b strings.Builder
	for _, l := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
