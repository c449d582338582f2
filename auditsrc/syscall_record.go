// The SYSCALL and MMAP records' fields: a fast one-pass parser for the
// kernel's fixed head of a SYSCALL record, the general key=value parser,
// and the MMAP record's fd and flags. Pure, allocation-free.

package auditsrc

// syscallRecord is what a SYSCALL record says.
type syscallRecord struct {
	arch    uint32
	nr      int32
	hasNr   bool
	exit    int64
	hasExit bool
	// sawResult: the record has success= or exit=. The kernel writes
	// neither for a call that never returns (exit, exit_group: logged
	// at the task's end), which is well formed without a result.
	sawResult bool
	args      [4]uint64
	known     uint8 // bits 0-3: a0..a3 present
	ppid      int32
	pid       int32
	uid       uint32
	gid       uint32
	auid      uint32
	ses       uint32
	has       uint8 // hasPPid, hasPid, ...
	comm      []byte
	exe       []byte
	key       []byte
}

const (
	hasPPid = 1 << iota
	hasPid
	hasUID
	hasGID
	hasAUID
	hasSes
	hasComm
	hasExe
)

// parseSyscall fills s from a SYSCALL record's body, reusing s's buffers.
// Unknown keys are skipped; a malformed value leaves its field unknown.
func parseSyscall(s *syscallRecord, b []byte) {
	comm, exe, key := s.comm[:0], s.exe[:0], s.key[:0]
	*s = syscallRecord{comm: comm, exe: exe, key: key}
	if rest, ok := parseSyscallHead(s, b); ok {
		parseSyscallFields(s, rest)
		return
	}
	*s = syscallRecord{comm: comm, exe: exe, key: key}
	parseSyscallFields(s, b)
}

// syscallHead is the order of the numeric fields that open a SYSCALL
// record as audit_log_exit and audit_log_task_info write them (every
// kernel since 3.x: arch syscall success exit a0..a3 items, then the task's
// ids, tty and ses); comm, exe, subj and key follow.
var syscallHead = [...]string{"arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3", "items",
	"ppid", "pid", "auid", "uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid", "tty", "ses"}

// parseSyscallHead parses the head of the record in one pass, each number
// as its digits are scanned, where parseSyscallFields would look for each
// key and scan each value before parsing it: the head is most of the
// record. It returns the rest of the record, or false when anything
// differs from what the kernel writes (another order, "per=", a missing
// success/exit, a value that is not plain digits, one space between
// fields): parseSyscall then parses the whole record the general way,
// and the result is the same (FuzzParseSyscallHead).
func parseSyscallHead(s *syscallRecord, b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && b[i] == ' ' { // the space after "audit(...):"
		i++
	}
	for f, key := range syscallHead {
		if len(b)-i < len(key)+3 || string(b[i:i+len(key)]) != key || b[i+len(key)] != '=' {
			return nil, false
		}
		i += len(key) + 1
		start := i
		var v uint64
		switch f {
		case 0, 4, 5, 6, 7: // arch, a0..a3: hex
			for i < len(b) && digitVal[b[i]] < 16 && i-start < 16 {
				v = v<<4 | uint64(digitVal[b[i]])
				i++
			}
		case 1, 3, 9, 10, 11, 12, 13, 21: // syscall, exit, ppid, pid, auid, uid, gid, ses
			digits := 10 // ids: up to 4294967295
			if f == 3 {
				digits = 19 // exit: an address or -errno; 19 digits cannot overflow
			}
			neg := f == 3 && b[i] == '-'
			if neg {
				i++
			}
			first := i
			for i < len(b) && b[i]-'0' < 10 && i-first < digits {
				v = v*10 + uint64(b[i]-'0')
				i++
			}
			if f == 3 {
				if i == first || v > 1<<63 || !neg && v == 1<<63 {
					return nil, false
				}
				s.exit, s.hasExit, s.sawResult = int64(v), true, true
				if neg {
					s.exit = -s.exit
				}
			}
		default: // success, items, the other ids, tty: not read
			for i < len(b) && b[i] != ' ' && b[i] != '"' && b[i] != '\'' {
				i++
			}
		}
		// A value ends at the one space before the next field.
		if i == start || i+1 >= len(b) || b[i] != ' ' || b[i+1] == ' ' {
			return nil, false
		}
		i++
		switch f {
		case 0:
			if v > 0xffffffff {
				return nil, false
			}
			s.arch = uint32(v)
		case 1:
			if v >= 1<<31 {
				return nil, false
			}
			s.nr, s.hasNr = int32(v), true
		case 4, 5, 6, 7:
			s.args[f-4] = v
			s.known |= 1 << (f - 4)
		case 9, 10, 11, 12, 13, 21:
			if v > 0xffffffff {
				return nil, false
			}
			switch f {
			case 9:
				s.ppid, s.has = int32(v), s.has|hasPPid
			case 10:
				s.pid, s.has = int32(v), s.has|hasPid
			case 11:
				s.auid, s.has = uint32(v), s.has|hasAUID
			case 12:
				s.uid, s.has = uint32(v), s.has|hasUID
			case 13:
				s.gid, s.has = uint32(v), s.has|hasGID
			case 21:
				s.ses, s.has = uint32(v), s.has|hasSes
			}
		}
	}
	return b[i:], true
}

// parseSyscallFields parses "key=value" fields in any order into s.
func parseSyscallFields(s *syscallRecord, b []byte) {
	for {
		k, v, rest, quoted, ok := nextField(b)
		if !ok {
			return
		}
		b = rest
		switch string(k) {
		case "arch":
			if n, ok := parseUint(v, 16); ok && n <= 0xffffffff {
				s.arch = uint32(n)
			}
		case "syscall":
			if n, ok := parseInt(v); ok && n >= 0 && n < 1<<31 {
				s.nr, s.hasNr = int32(n), true
			}
		case "exit":
			s.exit, s.hasExit = parseInt(v)
			s.sawResult = true
		case "success":
			s.sawResult = true
		case "a0", "a1", "a2", "a3":
			if n, ok := parseUint(v, 16); ok {
				i := k[1] - '0'
				s.args[i] = n
				s.known |= 1 << i
			}
		case "ppid":
			s.ppid = int32(parseID(v, &s.has, hasPPid))
		case "pid":
			s.pid = int32(parseID(v, &s.has, hasPid))
		case "uid":
			s.uid = parseID(v, &s.has, hasUID)
		case "gid":
			s.gid = parseID(v, &s.has, hasGID)
		case "auid":
			s.auid = parseID(v, &s.has, hasAUID)
		case "ses":
			s.ses = parseID(v, &s.has, hasSes)
		case "comm":
			var ok bool
			if s.comm, ok = appendUntrusted(s.comm, v, quoted); ok {
				s.has |= hasComm
			}
		case "exe":
			var ok bool
			if s.exe, ok = appendUntrusted(s.exe, v, quoted); ok {
				s.has |= hasExe
			}
		case "key":
			s.key, _ = appendUntrusted(s.key, v, quoted)
		}
	}
}

func parseID(v []byte, has *uint8, bit uint8) uint32 {
	n, ok := parseUint(v, 10)
	if !ok || n > 0xffffffff {
		return 0
	}
	*has |= bit
	return uint32(n)
}

// mmapRecord is what an MMAP record says: the fd and flags of a file mmap
// (arguments 4 and 3 of mmap/mmap2, which SYSCALL gives only up to a3).
type mmapRecord struct {
	fd       int64
	flags    uint64
	hasFd    bool
	hasFlags bool
}

func parseMmap(b []byte) (m mmapRecord) {
	for {
		k, v, rest, _, ok := nextField(b)
		if !ok {
			return m
		}
		b = rest
		switch string(k) {
		case "fd":
			m.fd, m.hasFd = parseInt(v)
		case "flags":
			m.flags, m.hasFlags = parseUint(v, 16)
		}
	}
}

// wellFormed reports whether the record has what every SYSCALL record the
// kernel writes has: arch, syscall, exit (but for a call that never
// returns: no success= and no exit= at all), a0..a3 and pid (a log line
// that was cut or garbled lacks some).
func (s *syscallRecord) wellFormed() bool {
	return s.arch != 0 && s.hasNr && (s.hasExit || !s.sawResult) && s.known&0xf == 0xf && s.has&hasPid != 0
}
