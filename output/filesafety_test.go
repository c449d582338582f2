// Output files as root, in directories others can write: no symlink is
// followed at the last component, unsafe directories and modes are
// refused, a file is never named twice, and max_size holds for a batch
// larger than it.

package output

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openErr(t *testing.T, specs ...string) error {
	t.Helper()
	f, err := Open(specs, Options{})
	if err == nil {
		f.Close()
	}
	return err
}

func TestFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	link := filepath.Join(dir, "link.json")
	os.Symlink(target, link)
	dangling := filepath.Join(dir, "dangling.json")
	os.Symlink(filepath.Join(dir, "nothing"), dangling)
	loop := filepath.Join(dir, "loop.json")
	os.Symlink(loop, loop)
	for _, c := range []struct{ path, want string }{
		{link, "is a symbolic link (-> " + target + "): refused"},
		{dangling, "is a dangling symbolic link"},
		{loop, "is a symbolic link that loops"},
	} {
		err := openErr(t, "json:"+c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the dangling link's target was created")
	}
}

func TestFileUnsafeDirectoryRefused(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if err := openErr(t, "json:"+filepath.Join(open, "e.json")); err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("0777 directory: %v", err)
	}
	sticky := filepath.Join(base, "sticky")
	os.Mkdir(sticky, 0o777)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	if err := openErr(t, "json:"+filepath.Join(sticky, "e.json")); err != nil {
		t.Errorf("sticky directory (as /tmp): %v", err)
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		os.Mkdir(other, 0o755)
		os.Chown(other, 12345, 12345)
		if err := openErr(t, "json:"+filepath.Join(other, "e.json")); err == nil || !strings.Contains(err.Error(), "belongs to uid 12345") {
			t.Errorf("directory of another user: %v", err)
		}
	}
}

func TestFileModeRefused(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []string{"0644", "0660", "0666", "0604", "0620"} {
		err := openErr(t, "json:"+filepath.Join(dir, m)+"?mode="+m)
		var se *SpecError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("mode=%s: %v", m, err)
		}
	}
	for _, m := range []string{"0600", "0640", "0400"} {
		if err := openErr(t, "json:"+filepath.Join(dir, m)+"?mode="+m); err != nil {
			t.Errorf("mode=%s: %v", m, err)
		}
	}
}

func TestFileNamedTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "e.json")
	if err := openErr(t, "json:"+p, "text:"+filepath.Join(dir, ".", "e.json")); err == nil || !strings.Contains(err.Error(), "named twice") {
		t.Errorf("same path twice: %v", err)
	}
	// The same file through a linked directory.
	os.Symlink(dir, filepath.Join(dir, "again"))
	if err := openErr(t, "json:"+p, "json:"+filepath.Join(dir, "again", "e.json")); err == nil || !strings.Contains(err.Error(), "names too") {
		t.Errorf("same file, two names: %v", err)
	}
}

// TestFileMaxSizeSplitsBigBatch: batches of 32 KiB into a file of
// max_size 4 KiB: no file grows past 4 KiB, every line is whole, and
// every event is in exactly one file.
func TestFileMaxSizeSplitsBigBatch(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "e.json")
	f, err := Open([]string{"json:" + p + "?max_size=4KiB&keep=1000&flush=1h"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	writeEvents(f, 0, n, testEvent)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(p + "*")
	if len(files) < 10 {
		t.Fatalf("%d files: the batches were not split", len(files))
	}
	var seqs []int
	for _, name := range files {
		b := readFile(t, name)
		if len(b) > 4096 {
			t.Errorf("%s: %d bytes, past max_size 4096", name, len(b))
		}
		for _, r := range parseJSONLines(t, b) {
			seqs = append(seqs, r.ThreadID)
		}
	}
	checkSeqs(t, seqs, n)
}
