// Capabilities: the effective set from /proc/self/status, by name.

package selector

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capability numbers (include/uapi/linux/capability.h).
const (
	CapAuditWrite   = 29
	CapAuditControl = 30
	CapSysAdmin     = 21
	CapAuditRead    = 37 // since 3.16
	CapPerfmon      = 38 // since 5.8
)

var capNames = []struct {
	bit  uint
	name string
}{
	{CapSysAdmin, "CAP_SYS_ADMIN"}, {CapPerfmon, "CAP_PERFMON"},
	{CapAuditControl, "CAP_AUDIT_CONTROL"}, {CapAuditRead, "CAP_AUDIT_READ"},
}

// Caps is an effective capability set (CapEff of /proc/self/status).
type Caps uint64

// Has reports whether capability bit is in c.
func (c Caps) Has(bit uint) bool { return c&(1<<bit) != 0 }

// status reads the fields of ProcFS/self/status that the probes use.
func readStatus(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}

func parseCaps(status map[string]string) (Caps, error) {
	v, ok := status["CapEff"]
	if !ok {
		return 0, fmt.Errorf("no CapEff line")
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("parse CapEff %q: %w", v, err)
	}
	return Caps(n), nil
}
