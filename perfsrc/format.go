// Tracepoint format files: tracefs's description of a tracepoint's binary
// record (field names, offsets, sizes, signedness), parsed for any kernel
// layout (__syscall_nr or the older nr, whatever common fields).

package perfsrc

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Field is one field of a tracepoint's binary record, as its format file
// describes it.
type Field struct {
	Name   string // "common_pid", "__syscall_nr", "addr"
	Type   string // C declaration without the name: "unsigned long", "__data_loc char[]"
	Offset int
	Size   int
	Signed bool
	Common bool // a field every tracepoint shares (before the blank line)
}

// Format is a parsed tracefs format file.
type Format struct {
	Name   string
	ID     uint64
	Fields []Field
}

// Field returns the field called name, or nil.
func (f *Format) Field(name string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// SyscallNr is the field that holds the syscall number: __syscall_nr on
// kernels since 4.x, nr before. nil if neither is there.
func (f *Format) SyscallNr() *Field {
	if fl := f.Field("__syscall_nr"); fl != nil {
		return fl
	}
	return f.Field("nr")
}

// Args returns the non-common fields after the syscall number field, in
// record order: the syscall's arguments for sys_enter_*, ret for sys_exit_*.
func (f *Format) Args() []Field {
	nr := f.SyscallNr()
	var out []Field
	for _, fl := range f.Fields {
		if fl.Common || (nr != nil && fl.Name == nr.Name) {
			continue
		}
		out = append(out, fl)
	}
	return out
}

// ParseFormat parses a tracefs "format" file. It is strict about what it
// uses (name, ID, each field's name, offset and size) and tolerant of the
// rest (__data_loc and array fields, unknown lines, the print fmt).
func ParseFormat(data []byte) (*Format, error) {
	f := &Format{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	common := true
	inFormat := false
	haveID := false
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "name:"):
			f.Name = strings.TrimSpace(line[len("name:"):])
		case strings.HasPrefix(line, "ID:"):
			id, err := strconv.ParseUint(strings.TrimSpace(line[len("ID:"):]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse format ID %q: %w", line, err)
			}
			f.ID, haveID = id, true
		case strings.HasPrefix(line, "format:"):
			inFormat = true
		case strings.HasPrefix(line, "print fmt:"):
			inFormat = false
		case inFormat && trimmed == "":
			if len(f.Fields) > 0 {
				common = false
			}
		case inFormat && strings.HasPrefix(trimmed, "field:"):
			fl, err := parseField(trimmed)
			if err != nil {
				return nil, err
			}
			fl.Common = common
			f.Fields = append(f.Fields, fl)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read format: %w", err)
	}
	if !haveID {
		return nil, fmt.Errorf("parse format %q: no ID line", f.Name)
	}
	if len(f.Fields) == 0 {
		return nil, fmt.Errorf("parse format %q: no fields", f.Name)
	}
	return f, nil
}

// parseField parses "field:unsigned long addr;\toffset:16;\tsize:8;\tsigned:0;".
func parseField(line string) (Field, error) {
	var fl Field
	haveOff, haveSize := false, false
	for _, part := range strings.Split(line, ";") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, ":")
		if !ok {
			continue
		}
		switch key {
		case "field":
			decl := strings.TrimSpace(val)
			// Arrays: "char comm[16]", "__data_loc char[] filename".
			name := decl
			if i := strings.LastIndexAny(decl, " \t*"); i >= 0 {
				name = decl[i+1:]
				fl.Type = strings.TrimSpace(decl[:i+1])
			}
			if j := strings.IndexByte(name, '['); j >= 0 {
				fl.Type += name[j:]
				name = name[:j]
			}
			fl.Name = name
		case "offset":
			n, err := strconv.Atoi(val)
			if err != nil {
				return fl, fmt.Errorf("parse format field %q: offset: %w", line, err)
			}
			fl.Offset, haveOff = n, true
		case "size":
			n, err := strconv.Atoi(val)
			if err != nil {
				return fl, fmt.Errorf("parse format field %q: size: %w", line, err)
			}
			fl.Size, haveSize = n, true
		case "signed":
			fl.Signed = val == "1"
		}
	}
	if fl.Name == "" || !haveOff || !haveSize || fl.Offset < 0 || fl.Size < 0 {
		return fl, fmt.Errorf("parse format field %q: missing name, offset or size", line)
	}
	return fl, nil
}
