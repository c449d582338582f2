// Package event is auperf's one event schema and its encodings.
//
// Every source (perf tracepoints, kernel audit, audit log files) ends in an
// Event; every sink (stdout, files, syslog) starts from one. The JSON keys
// follow Tracee's event so that consumers of Tracee JSON can read auperf's
// output; the argument names and C types follow the syscall's manual page.
//
// A field a source cannot know is omitted (see Fields), an argument it cannot
// know keeps its place with a null value (ArgNull); nothing is ever made up.
//
// Events are borrowed, not owned: a Handler may read an Event only during the
// call, so that sources can reuse one Event per record and the hot path does
// not allocate. What must outlive the call is encoded or copied.
//
// This package does not decode raw syscall words (package decode does) and
// does not write anywhere (package output does).
//
// # JSON
//
// AppendJSON writes one object per line, keys in this order, a key absent
// when its Fields bit is clear (or, for strings, when empty):
//
//	timestamp        ns since the Unix epoch (always)
//	processorId      HasProcessor
//	processId        HasProcess
//	threadId         HasThread
//	parentProcessId  HasParent
//	userId           HasUser
//	groupId          HasGroup
//	loginUserId      HasLoginUser (audit auid)
//	sessionId        HasSession (audit ses)
//	processName      non-empty
//	executable       {"path": ...} when non-empty
//	hostName         non-empty
//	container        Container != nil: {"id","runtime"[,"pidNs"][,"mntNs"]}
//	file             File != nil: {"path","device":"MAJ:MIN","inode","from"}, {"from":"gone"}
//	eventId          HasEventID, the syscall number as a string
//	eventName        always
//	syscall, arch    non-empty
//	argsNum          always, len(Args)
//	returnValue      HasReturn; a number, always
//	returnAddress    "0x...", when ReturnPointer and not an errno
//	errno            non-empty
//	args             always, [{"name","type","value"[,"decoded"]}...]
//	                 (ArgsObject: "args":{NAME: value...}, then
//	                 "argsDecoded":{NAME: text...} when any has a text)
//	source           non-empty
//	durationNs       HasDuration
//
// Every path has one JSON type in every event (indexes such as
// Elasticsearch map a field by the first type they see): an argument's
// value is a number that fits int64 (ArgInt, ArgUint and ArgPointer; an
// unsigned value of 2^63 or more as its two's complement) or null
// (ArgNull, and ArgString, whose text is in "decoded"). "decoded" is the
// text form: the Decoder's, a pointer's "0x...", a string, escaped.
//
// A returnValue in [-4095, -1] is an errno (Event.IsError): no
// returnAddress then, even when ReturnPointer is set.
//
// # Text
//
// AppendText writes one strace-like line:
//
//	10:39:08.283123 python3[6188/6190] mmap(addr=NULL, length=8192, prot=PROT_READ|PROT_WRITE, flags=MAP_SHARED, fd=3, off=4096) = 0x7f6b0f98c000 <0.000005>
//	10:39:08.283123 python3[6188/6190] mprotect(addr=0x7f6b0f98e000, len=4096, prot=PROT_READ|PROT_EXEC|0x10000) = -22 EINVAL <0.000005>
//	10:39:08.283000 dbwriter[7001] mmap(addr=NULL, length=4096, prot=PROT_READ, flags=MAP_PRIVATE, fd=?, off=?) = 0x7fd2c4a1f000
//
// The time of day is UTC, always: servers run in different zones, logs are
// compared across hosts, and the JSON timestamp is UTC too; the local zone
// would also make the output depend on the host's configuration. Values
// are decoded where a decoder exists, a null pointer is NULL, a pointer
// 0x..., an argument the source cannot know (or a return value it has not
// seen) is ?, a string is quoted. The thread id is shown only when known
// (audit has none: comm[pid]); the duration <seconds> only when known.
// With colour the time is dim and a failing call's result red.
//
// # auperf's own events
//
// They have source "auperf", no eventId or syscall, and their data in args:
//
//	auperf_lost   (NewLost)  args: source (string), cpu (int, null when the
//	                         source has no CPU, as audit), lost (u64),
//	                         cause (string); processorId = cpu when known.
//	auperf_stats  (NewStats) args: one per Counter, name "<Source>.<Name>"
//	                         (e.g. "perf.received"), type "u64", in order.
//
// In text:
//
//	10:39:08.283123 auperf_lost: 42 events lost (source=perf cpu=1 cause=ring)
//	10:39:08.283123 auperf_stats: perf.received=1200 perf.emitted=1158
//
// # Escaping
//
// Process names, executable paths and string arguments come from the traced
// process and may hold anything. Every string the encoders write, trusted
// or not, goes through the same escaping, so that no value can end a line,
// forge a key, or break a syslog frame.
//
// JSON (AppendJSONString): '"' and '\\' are backslashed; \n \r \t by name;
// every other byte below 0x20, and DEL, as \u00XX. Valid UTF-8 is kept,
// except runes that are legal JSON but dangerous to the tools that read it:
// C1 controls (U+0080..U+009F), the line and paragraph separators
// U+2028/U+2029, the bidirectional marks and overrides (U+061C, U+200E,
// U+200F, U+202A..U+202E, U+2066..U+2069) and U+FEFF, which are written as
// \uXXXX: the decoded string is unchanged, only its spelling is. Each byte
// that is not part of valid UTF-8 is replaced by U+FFFD (\ufffd), as
// encoding/json does. That loses the byte's value, on purpose: writing it
// as \u00XX would turn it into a different, valid character (0xff would
// read back as "ÿ"), so a consumer could not tell a forged name from a
// real one. The output is always valid UTF-8 with no control byte.
//
// Text (AppendEscaped, used by AppendText): lossless, strace-like. '"' and
// '\\' are backslashed, \n \r \t \v \f \a \b by name, every other control
// byte, DEL, each byte of invalid UTF-8 and each byte of the suspect runes
// above as \xNN. Valid printable UTF-8 is kept as is.
//
// Decoder output is expected to be plain ASCII; it is checked anyway and
// escaped the same way if it is not.
package event
