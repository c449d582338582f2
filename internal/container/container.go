// Package container tells which container a process runs in, from what
// every kernel has: the cgroup paths of /proc/PID/cgroup (the container
// runtimes name their cgroups after the container) and the process's pid
// and mount namespaces. Kernels have no audit container id, so on legacy
// hosts this is how an event gets one. Host processes have none.
package container

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/host"
)

// FromCgroup returns the container a /proc/PID/cgroup file (r) names, or
// nil for a host process. Every line is looked at (cgroup v1 lists one
// per hierarchy, v2 one "0::PATH"), each path from its last element up:
//
//	docker-ID.scope, /docker/ID              docker
//	cri-containerd-ID.scope                  containerd
//	crio-ID.scope                            cri-o
//	libpod-ID.scope, /libpod-ID              podman
//	/kubepods.../ID (64 hex, cgroupfs driver) kubernetes
//	machine-NAME.scope (machine.slice)       systemd-nspawn (the id is NAME)
//	lxc.payload.NAME, /lxc/NAME              lxc
func FromCgroup(r io.Reader) *event.Container {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		_, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		_, path, ok := bytes.Cut(rest, []byte(":"))
		if !ok {
			continue
		}
		if c := fromPath(string(path)); c != nil {
			return c
		}
	}
	return nil
}

// scopes are the systemd scope names runtimes give a container's cgroup.
var scopes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"libpod-", "podman"},
}

func fromPath(path string) *event.Container {
	elems := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(elems) - 1; i >= 0; i-- {
		e := elems[i]
		parent := ""
		if i > 0 {
			parent = elems[i-1]
		}
		if id, ok := strings.CutSuffix(e, ".scope"); ok {
			for _, s := range scopes {
				if rest, ok := strings.CutPrefix(id, s.prefix); ok && isID(rest) {
					return &event.Container{ID: rest, Runtime: s.runtime}
				}
			}
			if name, ok := strings.CutPrefix(id, "machine-"); ok && parent == "machine.slice" && name != "" {
				return &event.Container{ID: unescapeUnit(name), Runtime: "systemd-nspawn"}
			}
		}
		if name, ok := strings.CutPrefix(e, "lxc.payload."); ok && name != "" {
			return &event.Container{ID: name, Runtime: "lxc"}
		}
		if isID(e) {
			switch {
			case parent == "docker":
				return &event.Container{ID: e, Runtime: "docker"}
			case strings.HasPrefix(elems[0], "kubepods"):
				return &event.Container{ID: e, Runtime: "kubernetes"}
			}
		}
		if rest, ok := strings.CutPrefix(e, "libpod-"); ok && isID(rest) {
			return &event.Container{ID: rest, Runtime: "podman"}
		}
		if parent == "lxc" && e != "" && i == 1 {
			return &event.Container{ID: e, Runtime: "lxc"}
		}
	}
	return nil
}

// isID reports whether s is a container id: 64 lowercase hex digits.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// unescapeUnit undoes systemd's unit name escaping (\x2d for '-').
func unescapeUnit(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// nsInode is the inode of a /proc/PID/ns link ("pid:[4026531836]").
func nsInode(link string) uint64 {
	_, rest, ok := strings.Cut(link, ":[")
	if !ok {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return v
}

// Cache looks containers up per process and keeps the answer (a host
// process's nil too) for a while: a pid is looked up once per TTL, not
// once per event. It is bounded: past Max entries it starts over. It is
// not safe for concurrent use: the pipeline calls it under its own lock.
type Cache struct {
	Paths host.Paths
	TTL   time.Duration // 0: 30s
	Max   int           // 0: 16384

	m       map[int32]entry
	Lookups uint64 // /proc reads
	Resets  uint64 // times the cache was full and started over
}

type entry struct {
	c    *event.Container
	gone bool // no /proc entry
	at   time.Time
}

// Of returns pid's container (nil: a host process) at time t (the
// event's). A process already gone (a short one: its event is handled
// after it exited) gets its parent's, ppid, when that is known and still
// there: a process is most often in its parent's container. The Container
// returned is shared: it must not be changed.
func (c *Cache) Of(pid, ppid int32, t time.Time) *event.Container {
	ct, gone := c.of(pid, t)
	if gone && ppid > 0 {
		ct, _ = c.of(ppid, t)
	}
	return ct
}

func (c *Cache) of(pid int32, t time.Time) (ct *event.Container, gone bool) {
	if pid <= 0 {
		return nil, true
	}
	ttl, max := c.TTL, c.Max
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	if max == 0 {
		max = 16384
	}
	if e, ok := c.m[pid]; ok && t.Sub(e.at) < ttl {
		return e.c, e.gone
	}
	if c.m == nil || len(c.m) >= max {
		if c.m != nil {
			c.Resets++
		}
		c.m = make(map[int32]entry, 256)
	}
	c.Lookups++
	ct, gone = c.read(pid)
	c.m[pid] = entry{ct, gone, t}
	return ct, gone
}

func (c *Cache) read(pid int32) (*event.Container, bool) {
	p := strconv.Itoa(int(pid))
	f, err := os.Open(c.Paths.Proc(p, "cgroup"))
	if err != nil {
		return nil, true
	}
	ct := FromCgroup(f)
	f.Close()
	if ct == nil {
		// An exited process not reaped yet (a zombie) may show its
		// cgroups no more: as good as gone.
		return nil, exited(c.Paths.Proc(p, "stat"))
	}
	// An exiting process loses its namespaces before its cgroups: half
	// an answer is none, as good as gone (its parent's is whole).
	l, err := os.Readlink(c.Paths.Proc(p, "ns", "pid"))
	if err != nil {
		return nil, true
	}
	ct.PidNS = nsInode(l)
	if l, err = os.Readlink(c.Paths.Proc(p, "ns", "mnt")); err != nil {
		return nil, true
	}
	ct.MntNS = nsInode(l)
	return ct, false
}

// exited reports whether the process of a /proc/PID/stat file has exited
// (zombie or dead) or is gone.
func exited(stat string) bool {
	b, err := os.ReadFile(stat)
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')') // comm may hold anything, even ") Z"
	if i < 0 || i+2 >= len(b) {
		return true
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}
