// Stock kernels: which Debian packages, fetched through a private apt
// configuration into the cache, and unpacked to their vmlinuz and config.

package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Stock is one Debian kernel series.
type Stock struct {
	Name  string         // "5.10"
	Suite string         // the Debian suite that ships it
	Match *regexp.Regexp // its image package names
	Arch  string         // Debian's architecture: amd64, arm64
}

// Stocks are the kernels `make vmtest` boots.
var Stocks = []Stock{
	{"5.10", "bullseye", regexp.MustCompile(`^linux-image-5\.10\.0-[0-9]+-amd64$`), "amd64"},
	{"6.1", "bookworm", regexp.MustCompile(`^linux-image-6\.1\.0-[0-9]+-amd64$`), "amd64"},
	{"6.12", "trixie", regexp.MustCompile(`^linux-image-6\.12\.[0-9]+\+deb13-amd64$`), "amd64"},
	{"arm64-6.1", "bookworm", regexp.MustCompile(`^linux-image-6\.1\.0-[0-9]+-arm64$`), "arm64"},
}

// Kernel is an unpacked kernel.
type Kernel struct {
	Name    string // "6.1"
	Package string // the package it came from
	Release string // uname -r
	Image   string // path of the vmlinuz
	Config  string // path of its build config (/boot/config-RELEASE)
	Arch    string // Debian's architecture: amd64, arm64
	Busybox string // a static busybox of Arch
	// Compat32 is a static busybox of the 32-bit ABI the kernel also
	// runs, where auperf checks it (armhf on arm64): the compat run.
	Compat32 string
	// Unbuildable says why a custom kernel was not built: its fragment
	// asks for what Kconfig does not give.
	Unbuildable string
}

// apt runs apt-get or apt-cache with the private configuration under dir:
// its own sources (bullseye, bookworm, trixie), lists, cache and an empty
// dpkg status, so that nothing of the host's apt state is read or changed;
// the architecture is dir's base name (apt-amd64, apt-arm64).
func apt(dir, tool string, args ...string) ([]byte, error) {
	return aptIn("", dir, tool, args...)
}

// aptIn is apt run in directory workDir (apt-get download writes there;
// "": the current one).
func aptIn(workDir, dir, tool string, args ...string) ([]byte, error) {
	arch := strings.TrimPrefix(filepath.Base(dir), "apt-")
	opts := []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "sources.list.d"),
		"-o", "Dir::Etc::Preferences=" + filepath.Join(dir, "preferences"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(dir, "preferences.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "APT::Architecture=" + arch,
		"-o", "APT::Architectures=" + arch,
		"-o", "APT::Sandbox::User=root",
		"-o", "Debug::NoLocking=1",
	}
	cmd := exec.Command(tool, append(opts, args...)...)
	cmd.Dir = workDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// setupApt writes the private apt configuration and updates its lists.
func setupApt(dir string) error {
	for _, d := range []string{"sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	var src strings.Builder
	seen := map[string]bool{}
	for _, s := range Stocks {
		if !seen[s.Suite] {
			seen[s.Suite] = true
			fmt.Fprintf(&src, "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n", s.Suite)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sources.list"), []byte(src.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), nil, 0o644); err != nil {
		return err
	}
	_, err := apt(dir, "apt-get", "-q", "update")
	return err
}

// FetchStocks returns the stock kernels named (all: nil), from the cache
// when there (the newest package of each series the lists name),
// downloading and unpacking what is missing, with a static busybox of
// their arch. refresh updates the package lists first (they are updated
// anyway when there are none).
func FetchStocks(cache string, refresh bool, want []string) ([]Kernel, error) {
	var ks []Kernel
	names := map[string][]string{}
	for _, s := range Stocks {
		if len(want) > 0 && !contains(want, s.Name) {
			continue
		}
		aptDir := filepath.Join(cache, "apt-"+s.Arch)
		if names[s.Arch] == nil {
			if _, err := os.Stat(filepath.Join(aptDir, "sources.list")); err != nil || refresh {
				if err := setupApt(aptDir); err != nil {
					return nil, err
				}
			}
			out, err := apt(aptDir, "apt-cache", "pkgnames", "linux-image-")
			if err != nil {
				return nil, err
			}
			names[s.Arch] = strings.Fields(string(out))
		}
		var pkgs []string
		for _, n := range names[s.Arch] {
			if s.Match.MatchString(n) {
				pkgs = append(pkgs, n)
			}
		}
		if len(pkgs) == 0 {
			return nil, fmt.Errorf("no package of kernel %s in Debian %s (%s)", s.Name, s.Suite, s.Match)
		}
		sort.Slice(pkgs, func(i, j int) bool { return versionLess(pkgs[i], pkgs[j]) })
		k, err := fetch(cache, aptDir, s.Name, pkgs[len(pkgs)-1])
		if err != nil {
			return nil, err
		}
		k.Arch = s.Arch
		if k.Busybox, err = busybox(cache, aptDir, s.Arch); err != nil {
			return nil, err
		}
		if s.Arch == "arm64" {
			// arm64's compat processes: Debian's armhf busybox-static.
			hfDir := filepath.Join(cache, "apt-armhf")
			if _, err := os.Stat(filepath.Join(hfDir, "sources.list")); err != nil || refresh {
				if err := setupApt(hfDir); err != nil {
					return nil, err
				}
			}
			if k.Compat32, err = busybox(cache, hfDir, "armhf"); err != nil {
				return nil, err
			}
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// busybox is a static busybox of arch: the host's own for amd64, else
// Debian's busybox-static of that arch, downloaded and unpacked once.
func busybox(cache, aptDir, arch string) (string, error) {
	if arch == "amd64" {
		return "/bin/busybox", nil
	}
	bb := filepath.Join(cache, "busybox-"+arch)
	if _, err := os.Stat(bb); err == nil {
		return bb, nil
	}
	tmp, err := os.MkdirTemp(cache, "busybox-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if _, err := aptIn(tmp, aptDir, "apt-get", "-q", "download", "busybox-static"); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("download busybox-static:%s: %d .deb files", arch, len(debs))
	}
	// /bin/busybox in older packages, /usr/bin/busybox in newer ones.
	sh := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x -C %q --wildcards '*bin/busybox'", debs[0], tmp)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack busybox-static:%s: %v: %s", arch, err, out)
	}
	for _, p := range []string{"usr/bin/busybox", "bin/busybox"} {
		if _, err := os.Stat(filepath.Join(tmp, p)); err == nil {
			return bb, os.Rename(filepath.Join(tmp, p), bb)
		}
	}
	return "", fmt.Errorf("busybox-static:%s has no busybox", arch)
}

// versionLess orders package names by the numbers in them.
func versionLess(a, b string) bool {
	na, nb := numbers(a), numbers(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	return len(na) < len(nb)
}

var digits = regexp.MustCompile(`[0-9]+`)

func numbers(s string) []int {
	var out []int
	for _, d := range digits.FindAllString(s, -1) {
		n := 0
		fmt.Sscan(d, &n)
		out = append(out, n)
	}
	return out
}

// fetch downloads pkg (unless its unpacked kernel is cached) and unpacks
// its /boot.
func fetch(cache, aptDir, name, pkg string) (Kernel, error) {
	dir := filepath.Join(cache, "kernels", pkg)
	k := Kernel{Name: name, Package: pkg}
	if found, err := unpacked(dir, &k); err != nil || found {
		return k, err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return k, err
	}
	if _, err := aptIn(tmp, aptDir, "apt-get", "-q", "download", pkg); err != nil {
		return k, err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return k, fmt.Errorf("download %s: %d .deb files", pkg, len(debs))
	}
	// Only /boot: the image and its config. No module is needed.
	sh := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x -C %q ./boot", debs[0], tmp)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		return k, fmt.Errorf("unpack %s: %v: %s", pkg, err, out)
	}
	os.Remove(debs[0])
	if err := os.Rename(tmp, dir); err != nil {
		return k, err
	}
	found, err := unpacked(dir, &k)
	if err == nil && !found {
		err = fmt.Errorf("%s has no /boot/vmlinuz-*", pkg)
	}
	return k, err
}

// unpacked fills k from an unpacked package directory, if it is there.
func unpacked(dir string, k *Kernel) (bool, error) {
	imgs, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(imgs) == 0 {
		return false, nil
	}
	k.Image = imgs[0]
	k.Release = strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	k.Config = filepath.Join(dir, "boot", "config-"+k.Release)
	if _, err := os.Stat(k.Config); err != nil {
		return false, fmt.Errorf("%s: no config for %s", dir, k.Release)
	}
	return true, nil
}
