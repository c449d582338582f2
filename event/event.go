package event

// Fields is the set of optional fields an Event actually knows. A field whose
// bit is clear is omitted from every encoding.
type Fields uint16

const (
	HasProcessor Fields = 1 << iota // ProcessorID (perf only)
	HasProcess                      // ProcessID
	HasThread                       // ThreadID (perf only: audit has no tid)
	HasParent                       // ParentProcessID
	HasUser                         // UserID
	HasGroup                        // GroupID
	HasLoginUser                    // LoginUserID (audit auid)
	HasSession                      // SessionID (audit ses)
	HasEventID                      // EventID (syscall events only)
	HasReturn                       // ReturnValue (absent for a syscall still running)
	HasDuration                     // DurationNs (perf only: enter to exit)
)

// ArgKind says how an argument's value is written.
type ArgKind uint8

const (
	ArgNull    ArgKind = iota // the source cannot know it: "value": null
	ArgInt                    // signed integer: int64(Value)
	ArgUint                   // unsigned integer: Value
	ArgPointer                // address: "0x..." from Value
	ArgString                 // Str, escaped
)

// Decoder renders a raw value symbolically (PROT_READ|PROT_WRITE,
// MADV_DONTNEED, ...). Implementations live in package decode; they append
// to dst so that encoding does not allocate.
type Decoder interface {
	AppendDecoded(dst []byte, v uint64) []byte
}

// Arg is one syscall argument (or one counter of a special event).
type Arg struct {
	Name    string
	Type    string // C type as in the manual page: "void*", "size_t", "int", ...
	Kind    ArgKind
	Value   uint64  // already truncated and sign-extended by the C type
	Str     string  // for ArgString
	Decoder Decoder // nil: no "decoded" key
	// JSONHead, when set, is ArgJSONHead(Name, Type): decode sets it
	// from its constant specs so that AppendJSON does not escape the
	// same name and type for every event. "" (generic arguments, names
	// from tracefs): they are escaped.
	JSONHead string
}

// Event names of auperf's own events. They share the schema with syscall
// events so that loss is part of the stream, not only of a log.
const (
	NameStats = "auperf_stats" // periodic and final counters
	NameLost  = "auperf_lost"  // a gap: how many, from which source/CPU, when
)

// Source names as written in the "source" field.
const (
	SourcePerf   = "perf"
	SourceAudit  = "audit"
	SourceAuperf = "auperf" // auperf's own events
)

// Event is one syscall (or one auperf_stats / auperf_lost record).
type Event struct {
	Known Fields

	Timestamp       int64 // nanoseconds since the Unix epoch
	ProcessorID     int32
	ProcessID       int32
	ThreadID        int32
	ParentProcessID int32
	UserID          uint32
	GroupID         uint32
	LoginUserID     uint32
	SessionID       uint32
	ProcessName     string // attacker-controlled
	ExecutablePath  string // attacker-controlled
	HostName        string
	// Container is the process's container (nil: a host process, or
	// not known). Shared between events: never changed through it.
	Container *Container
	// File is the file an mmap mapped, or the one a finding is about
	// (nil: none, or not looked up). Shared: never changed through it.
	File *File

	EventID   int32  // syscall number for Arch, written as a string
	EventName string // "msync", or NameStats / NameLost
	Syscall   string // empty for auperf's own events
	Arch      string // "x86_64", "i386", "aarch64"

	Args []Arg // argsNum is len(Args)

	ReturnValue   int64
	ReturnPointer bool   // mmap/mremap success: write as "0x..."
	Errno         string // "ENOMEM" when ReturnValue is a negative errno

	Source     string
	DurationNs int64

	argStore [6]Arg
}

// Container is the container a process runs in, as its cgroup paths name
// it (internal/container), and the process's namespaces.
type Container struct {
	ID      string // the runtime's container id (64 hex), or a machine name
	Runtime string // docker, containerd, cri-o, podman, kubernetes, systemd-nspawn, lxc
	PidNS   uint64 // pid namespace inode (0: not known)
	MntNS   uint64 // mount namespace inode (0: not known)
}

// File identifies a mapped file: resolved when the event was handled,
// best effort (From says how, "gone" when the mapping and the fd were
// already gone).
type File struct {
	Path  string // as the kernel names it ("/memfd:NAME (deleted)" for a memfd)
	Dev   uint64 // st_dev (0 with "gone")
	Inode uint64
	From  string // "map": the mapping itself; "fd": the fd at that time (maybe reused); "gone"
}

// Reset clears e for reuse. Its argument storage stays inside e, cleared
// too (SetArgs clears what it hands out anyway): copying the storage out
// and back cost more than the whole clear.
func (e *Event) Reset() {
	*e = Event{}
}

// SetArgs makes e.Args n long, backed by storage inside e (no allocation for
// n <= 6), and returns it. The arguments are zeroed.
func (e *Event) SetArgs(n int) []Arg {
	if n <= len(e.argStore) {
		e.Args = e.argStore[:n]
	} else {
		e.Args = make([]Arg, n)
	}
	clear(e.Args)
	return e.Args
}

// Handler receives events. The Event is valid only during the call.
// Handlers are called from one goroutine at a time.
type Handler func(*Event)

// Counter is one named count of a pipeline stage, reported in auperf_stats.
type Counter struct {
	Source string // "perf", "audit", "output:json:/var/log/x", ...
	Name   string // "received", "emitted", "lost_ring", "dropped", ...
	Value  uint64
}

// Process is what a source knows of the process (and thread) that made a
// call. Known says which fields are known, with the same bits as
// Event.Known (HasProcess, HasThread, HasParent, HasUser, HasGroup,
// HasLoginUser, HasSession); Comm and Exe are known when not empty.
type Process struct {
	Known     Fields
	PID, TID  int32
	PPID      int32
	UID, GID  uint32
	AUID, SES uint32
	Comm, Exe string // attacker-controlled
}

// processFields are the bits of Known that a Process sets.
const processFields = HasProcess | HasThread | HasParent | HasUser | HasGroup | HasLoginUser | HasSession

// SetProcess copies p into e: the known fields and their bits (the other
// process bits of e are cleared), the name and the executable.
func (e *Event) SetProcess(p *Process) {
	k := p.Known & processFields
	e.Known = e.Known&^processFields | k
	e.ProcessID, e.ThreadID, e.ParentProcessID = p.PID, p.TID, p.PPID
	e.UserID, e.GroupID, e.LoginUserID, e.SessionID = p.UID, p.GID, p.AUID, p.SES
	e.ProcessName, e.ExecutablePath = p.Comm, p.Exe
}

// LostCount is the count of an auperf_lost event (see NewLost), and false
// for any other event.
func (e *Event) LostCount() (uint64, bool) {
	if e.EventName != NameLost || len(e.Args) < 3 || e.Args[2].Name != "lost" {
		return 0, false
	}
	return e.Args[2].Value, true
}
