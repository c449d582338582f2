// FULL: the repository's kernel tests (TestIntegration*) run inside a
// guest, from test binaries compiled on the host (a guest has no Go
// toolchain), with AUPERF_BIN pointing at the prebuilt static binaries the
// tests would otherwise build.

package vmtest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FullPackages hold the kernel tests FULL runs.
var FullPackages = []string{"perfsrc", "auditsrc", "selector", "cmd/auperf", "output"}

// FullSkip are kernel tests too heavy for software emulation (a million
// calls, 200,000 audited calls, loops under load) or that time the host:
// FULL is about behaviour on another kernel, not capacity.
const FullSkip = "Million|Load200k|LoadDrop|UnderLoad|Measure"

// FullScript runs in place of the usual runs when the kernel command line
// has auperf.vmtest=full: each package's kernel tests, verbosely, from the
// package's directory (tests read ../testdata), one VMTEST-FULL line each.
const FullScript = `
for t in $(cat /src/packages); do
	cd /src/$t
	AUPERF_BIN=/bin HOME=/root ./pkg.test -test.run '^TestIntegration' -test.skip '` + FullSkip + `' -test.v -test.timeout 45m > /tmp/full.log 2>&1
	st=$?
	grep -E '^(--- |ok|FAIL|panic)' /tmp/full.log | sed "s|^|VMTEST-LOG $t: |"
	echo "VMTEST-FULL $t exit=$st pass=$(grep -c '^--- PASS' /tmp/full.log) fail=$(grep -c '^--- FAIL' /tmp/full.log) skip=$(grep -c '^--- SKIP' /tmp/full.log)"
	cd /
done
`

// fullFiles compiles the test binaries of FullPackages from the source
// tree at repo into work and returns the initramfs files: each binary as
// /src/PKG/pkg.test with the package's testdata, and /src/testdata.
func fullFiles(repo, work string) ([]File, error) {
	var files []File
	for _, pkg := range FullPackages {
		out := filepath.Join(work, strings.ReplaceAll(pkg, "/", "_")+".test")
		cmd := exec.Command("go", "test", "-c", "-o", out, "./"+pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go test -c ./%s: %v\n%s", pkg, err, b)
		}
		files = append(files, File{Path: "src/" + pkg + "/pkg.test", Src: out, Mode: 0o755})
		more, err := treeFiles(repo, filepath.Join(pkg, "testdata"))
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	more, err := treeFiles(repo, "testdata")
	if err != nil {
		return nil, err
	}
	files = append(files, more...)
	files = append(files, File{Path: "src/packages", Data: []byte(strings.Join(FullPackages, "\n") + "\n")})
	return files, nil
}

// treeFiles are the files under repo/dir as /src/dir/... (none if dir is
// not there).
func treeFiles(repo, dir string) ([]File, error) {
	var files []File
	root := filepath.Join(repo, dir)
	if _, err := os.Stat(root); err != nil {
		return nil, nil
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(repo, path)
		if err != nil {
			return err
		}
		files = append(files, File{Path: filepath.ToSlash(filepath.Join("src", rel)), Src: path})
		return nil
	})
	return files, err
}
