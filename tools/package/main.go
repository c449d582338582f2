// Command package builds auperf's .deb and .rpm with the nfpm library (no
// external packaging tool), or installs the same files into a directory
// (make install). One file list serves both.
//
//	go run ./tools/package -bin bin/auperf -arch amd64 -version 1.2.3 -out dist
//	go run ./tools/package -bin bin/auperf -install "$DESTDIR" -prefix /usr/local
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

// file is one installed file: its content (from a path or generated),
// where it goes under the prefix or absolute, and its mode.
type file struct {
	dst    string // absolute destination; "PREFIX/..." is under the prefix
	src    string // a file in the tree, or
	data   []byte // generated content
	mode   os.FileMode
	config bool // a conffile: the administrator's edits survive upgrades
}

func main() {
	bin := flag.String("bin", "bin/auperf", "the auperf binary to package")
	docBin := flag.String("docbin", "", "an auperf binary that runs here, to generate the man page and completions (default: -bin)")
	arch := flag.String("arch", "amd64", "package architecture: amd64 or arm64")
	version := flag.String("version", "", "package version (default: from git describe)")
	out := flag.String("out", "dist", "directory for the packages")
	formats := flag.String("formats", "deb,rpm", "package formats")
	install := flag.String("install", "", "install into this DESTDIR instead of packaging (\"/\" for the host)")
	prefix := flag.String("prefix", "/usr/local", "with -install: the prefix of the binary, man page and completions")
	flag.Parse()
	if *docBin == "" {
		*docBin = *bin
	}
	if err := run(*bin, *docBin, *arch, *version, *out, *formats, *install, *prefix); err != nil {
		fmt.Fprintf(os.Stderr, "package: %v\n", err)
		os.Exit(1)
	}
}

func run(bin, docBin, arch, version, out, formats, install, prefix string) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("-bin: %w (make build first)", err)
	}
	if install != "" {
		fs, err := fileList(docBin, prefix, bin)
		if err != nil {
			return err
		}
		return installTo(install, fs)
	}
	if version == "" {
		var err error
		if version, err = gitVersion(); err != nil {
			return err
		}
	}
	fs, err := fileList(docBin, "/usr", bin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "auperf-package")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	info := &nfpm.Info{
		Name:        "auperf",
		Arch:        arch,
		Platform:    "linux",
		Version:     version,
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "auperf developers <auperf@example.invalid>",
		Description: "syscall tracer without eBPF (perf tracepoints and kernel audit)\nTraces memory-management syscalls (msync, mmap, mprotect, mlock, ...) or any\nsyscall from perf syscall tracepoints or the audit subsystem, into\nTracee-compatible JSON, text or syslog, as a systemd service.",
		Vendor:      "auperf",
		Homepage:    "https://github.com/auperf/auperf",
		License:     "Apache-2.0",
		MTime:       time.Unix(0, 0).UTC(),
	}
	info.Overridables.Scripts = nfpm.Scripts{
		PostInstall: "packaging/postinst.sh",
		PreRemove:   "packaging/prerm.sh",
		PostRemove:  "packaging/postrm.sh",
	}
	info.Overridables.Recommends = []string{"logrotate"}
	for _, f := range fs {
		src := f.src
		if f.data != nil {
			src = filepath.Join(tmp, strings.ReplaceAll(strings.TrimPrefix(f.dst, "/"), "/", "_"))
			if err := os.WriteFile(src, f.data, 0o644); err != nil {
				return err
			}
		}
		c := &files.Content{Source: src, Destination: f.dst,
			FileInfo: &files.ContentFileInfo{Mode: f.mode, Owner: "root", Group: "root", MTime: info.MTime}}
		if f.config {
			c.Type = files.TypeConfigNoReplace
		}
		info.Overridables.Contents = append(info.Overridables.Contents, c)
	}
	for _, dir := range []string{"/etc/auperf"} {
		info.Overridables.Contents = append(info.Overridables.Contents, &files.Content{Destination: dir, Type: files.TypeDir,
			FileInfo: &files.ContentFileInfo{Mode: 0o750, Owner: "root", Group: "root", MTime: info.MTime}})
	}
	for _, format := range strings.Split(formats, ",") {
		pk, err := nfpm.Get(format)
		if err != nil {
			return err
		}
		in := *info
		in.Overridables.Contents = append(files.Contents(nil), info.Overridables.Contents...)
		if err := nfpm.PrepareForPackager(&in, format); err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		name := filepath.Join(out, pk.ConventionalFileName(&in))
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		err = pk.Package(nfpm.WithDefaults(&in), f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return fmt.Errorf("%s: %w", format, err)
		}
		fmt.Println(name)
	}
	return nil
}

// fileList is what auperf installs: the binary, the unit (pointing at the
// binary under prefix), the sample config, the logrotate snippet, the man
// page and the completions (generated by docBin).
func fileList(docBin, prefix, bin string) ([]file, error) {
	gen := func(args ...string) ([]byte, error) {
		b, err := exec.Command(docBin, args...).Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", docBin, strings.Join(args, " "), err)
		}
		return b, nil
	}
	man, err := gen("man")
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.ModTime = time.Unix(0, 0)
	zw.Write(man)
	zw.Close()
	bash, err := gen("completion", "bash")
	if err != nil {
		return nil, err
	}
	zsh, err := gen("completion", "zsh")
	if err != nil {
		return nil, err
	}
	unit, err := os.ReadFile("packaging/auperf.service")
	if err != nil {
		return nil, err
	}
	unit = bytes.ReplaceAll(unit, []byte("/usr/bin/auperf"), []byte(filepath.Join(prefix, "bin/auperf")))
	unitDir := "/usr/lib/systemd/system"
	if prefix != "/usr" {
		unitDir = "/etc/systemd/system" // a local install: the administrator's unit directory
	}
	return []file{
		{dst: filepath.Join(prefix, "bin/auperf"), src: bin, mode: 0o755},
		{dst: filepath.Join(unitDir, "auperf.service"), data: unit, mode: 0o644},
		{dst: "/etc/auperf/auperf.yaml", src: "packaging/auperf.yaml", mode: 0o640, config: true},
		{dst: "/etc/logrotate.d/auperf", src: "packaging/auperf.logrotate", mode: 0o644, config: true},
		{dst: filepath.Join(prefix, "share/man/man8/auperf.8.gz"), data: gz.Bytes(), mode: 0o644},
		{dst: filepath.Join(prefix, "share/bash-completion/completions/auperf"), data: bash, mode: 0o644},
		{dst: filepath.Join(prefix, "share/zsh/vendor-completions/_auperf"), data: zsh, mode: 0o644},
		{dst: filepath.Join(prefix, "share/doc/auperf/README.md"), src: "README.md", mode: 0o644},
		{dst: filepath.Join(prefix, "share/doc/auperf/LICENSE"), src: "LICENSE", mode: 0o644},
	}, nil
}

// installTo writes fs under destdir. A config file that exists is kept
// (the administrator's), the new one written beside it as .new.
func installTo(destdir string, fs []file) error {
	for _, f := range fs {
		dst := filepath.Join(destdir, f.dst)
		data := f.data
		if data == nil {
			var err error
			if data, err = os.ReadFile(f.src); err != nil {
				return err
			}
		}
		dirMode := os.FileMode(0o755)
		if strings.HasPrefix(f.dst, "/etc/auperf") {
			dirMode = 0o750
		}
		if err := os.MkdirAll(filepath.Dir(dst), dirMode); err != nil {
			return err
		}
		if f.config {
			if _, err := os.Stat(dst); err == nil {
				dst += ".new"
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(tmp, f.mode); err != nil { // (not subject to the umask)
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
		fmt.Println(dst)
	}
	return nil
}

// gitVersion is the package version from git: the last tag (v dropped,
// "-" as "~"), or 0.0.0~git<hash> before the first tag.
func gitVersion() (string, error) {
	if v, err := exec.Command("git", "describe", "--tags", "--dirty").Output(); err == nil {
		return strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), "-", "~"), nil
	}
	h, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "", fmt.Errorf("-version not given and git describe failed: %w", err)
	}
	return "0.0.0~git" + strings.ReplaceAll(strings.TrimSpace(string(h)), "-", "~"), nil
}
