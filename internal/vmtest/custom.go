// Custom kernels: Debian's linux-source-6.1 built from tinyconfig plus the
// committed fragments under configs/ (base.config and one variant each),
// cached by the hash of the fragments and the source.

package vmtest

import (
	"bufio"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

//go:embed configs/*.config
var configs embed.FS

// SourceTarball is what Debian's linux-source-6.1 installs.
const SourceTarball = "/usr/src/linux-source-6.1.tar.xz"

// CustomNames are the variant fragments (configs/NAME.config but base).
func CustomNames() []string {
	ents, _ := configs.ReadDir("configs")
	var out []string
	for _, e := range ents {
		if n := strings.TrimSuffix(e.Name(), ".config"); n != "base" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// BuildCustoms builds (or takes from the cache) the named custom kernels.
func BuildCustoms(cache string, names []string, log io.Writer) ([]Kernel, error) {
	st, err := os.Stat(SourceTarball)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (install Debian's linux-source-6.1 flex bison libelf-dev bc)", SourceTarball, err)
	}
	for _, tool := range []string{"make", "gcc", "flex", "bison", "bc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found (install Debian's build-essential flex bison libelf-dev bc)", tool)
		}
	}
	base, err := configs.ReadFile("configs/base.config")
	if err != nil {
		return nil, err
	}
	src := filepath.Join(cache, "src", "linux-source-6.1")
	if _, err := os.Stat(filepath.Join(src, "Makefile")); err != nil {
		fmt.Fprintf(log, "unpack %s ...\n", SourceTarball)
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			return nil, err
		}
		if out, err := exec.Command("tar", "-xf", SourceTarball, "-C", filepath.Dir(src)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("unpack %s: %v: %s", SourceTarball, err, out)
		}
	}
	var ks []Kernel
	for _, name := range names {
		frag, err := configs.ReadFile("configs/" + name + ".config")
		if err != nil {
			return nil, fmt.Errorf("custom kernel %q: no configs/%s.config (have %s)", name, name, strings.Join(CustomNames(), ", "))
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s %d %d\n", SourceTarball, st.Size(), st.ModTime().Unix())
		h.Write(base)
		h.Write(frag)
		dir := filepath.Join(cache, "custom", name+"-"+hex.EncodeToString(h.Sum(nil))[:12])
		k := Kernel{Name: "custom:" + name, Package: "linux-source-6.1 + " + name, Image: filepath.Join(dir, "bzImage"), Config: filepath.Join(dir, "config")}
		if rel, err := os.ReadFile(filepath.Join(dir, "release")); err == nil {
			k.Release = strings.TrimSpace(string(rel))
			ks = append(ks, k)
			continue
		}
		fmt.Fprintf(log, "build custom kernel %s (about 6 minutes on 2 CPUs) ...\n", name)
		if err := build(src, dir, base, frag, &k); err != nil {
			var nh *notHeld
			if !errors.As(err, &nh) {
				return nil, fmt.Errorf("build custom kernel %s: %w", name, err)
			}
			// The fragment asks for what Kconfig will not give (a
			// feature the arch selects): said, not failed.
			k.Unbuildable = err.Error()
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// build makes tinyconfig + base + frag in dir/build, checks that every
// setting of the fragments held, and keeps bzImage, config and release.
func build(src, dir string, base, frag []byte, k *Kernel) error {
	bdir := filepath.Join(dir, "build")
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		return err
	}
	fragFile := filepath.Join(dir, "fragment.config")
	if err := os.WriteFile(fragFile, append(append([]byte{}, base...), frag...), 0o644); err != nil {
		return err
	}
	mk := func(args ...string) ([]byte, error) {
		cmd := exec.Command("make", append([]string{"-C", src, "O=" + bdir, "ARCH=x86_64"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			tail := string(out)
			if len(tail) > 2000 {
				tail = tail[len(tail)-2000:]
			}
			return out, fmt.Errorf("make %s: %v\n%s", strings.Join(args, " "), err, tail)
		}
		return out, nil
	}
	if _, err := mk("tinyconfig"); err != nil {
		return err
	}
	merge := exec.Command(filepath.Join(src, "scripts/kconfig/merge_config.sh"), "-m", "-O", bdir, filepath.Join(bdir, ".config"), fragFile)
	merge.Dir = src
	merge.Env = append(os.Environ(), "ARCH=x86_64")
	if out, err := merge.CombinedOutput(); err != nil {
		return fmt.Errorf("merge_config: %v: %s", err, out)
	}
	if _, err := mk("olddefconfig"); err != nil {
		return err
	}
	if err := checkConfig(filepath.Join(bdir, ".config"), fragFile); err != nil {
		return err
	}
	if _, err := mk(fmt.Sprintf("-j%d", runtime.NumCPU()), "bzImage"); err != nil {
		return err
	}
	rel, err := mk("-s", "kernelrelease")
	if err != nil {
		return err
	}
	k.Release = strings.TrimSpace(string(rel))
	if err := copyFile(filepath.Join(bdir, "arch/x86/boot/bzImage"), k.Image); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(bdir, ".config"), k.Config); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), []byte(k.Release+"\n"), 0o644); err != nil {
		return err
	}
	return os.RemoveAll(bdir) // 100s of MB of objects
}

// checkConfig fails when a setting of the fragment did not hold (a
// dependency missing from the fragment).
func checkConfig(config, frag string) error {
	have := map[string]string{}
	if err := eachSetting(config, func(k, v string) { have[k] = v }); err != nil {
		return err
	}
	want := map[string]string{} // later lines (the variant) win
	var order []string
	if err := eachSetting(frag, func(k, v string) {
		if _, ok := want[k]; !ok {
			order = append(order, k)
		}
		want[k] = v
	}); err != nil {
		return err
	}
	var bad []string
	for _, k := range order {
		if v, got := want[k], have[k]; got != v && !(v == "n" && got == "") {
			bad = append(bad, fmt.Sprintf("%s=%s (got %q)", k, v, got))
		}
	}
	if len(bad) > 0 {
		return &notHeld{bad}
	}
	return nil
}

// notHeld is a fragment Kconfig does not honour.
type notHeld struct{ settings []string }

func (e *notHeld) Error() string {
	return "Kconfig does not give " + strings.Join(e.settings, ", ")
}

// eachSetting calls fn with every CONFIG_X=v and "# CONFIG_X is not set"
// (v "n") of a config file.
func eachSetting(path string, fn func(k, v string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(l, "# "); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				fn(name, "n")
			}
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			fn(k, v)
		}
	}
	return sc.Err()
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
