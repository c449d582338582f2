package decode

import "github.com/auperf/auperf/event"

// SyscallSpec describes one syscall's arguments, as its manual page names
// and types them.
type SyscallSpec struct {
	Name        string
	Args        []ArgSpec
	RetPointer  bool   // success value is an address
	Description string // one line, our own words
}

// ArgSpec is one argument of a SyscallSpec.
type ArgSpec struct {
	Name, Type string        // "addr", "void*"
	Kind       event.ArgKind // ArgPointer / ArgInt / ArgUint
	// Bits is the width of the C type on a 64-bit arch: 32 for int, 64 for
	// pointers, size_t, long, off_t. On i386 every argument is at most 32
	// bits wide.
	Bits        int
	Decoder     event.Decoder // nil if none (x86_64's decoder; Decode picks the arch's)
	DecoderName string        // "prot", "mmap_flags", ... for the catalog

	jsonHead string // event.ArgJSONHead(Name, Type), made once
}

// DefaultEvents are the events auperf traces when not told otherwise: the
// memory family.
var DefaultEvents = []string{"msync", "mmap", "munmap", "mprotect", "mremap", "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "madvise"}

// Decoder names, as the catalog shows them.
const (
	decProt          = "prot"
	decMmapFlags     = "mmap_flags"
	decMsyncFlags    = "msync_flags"
	decMlockFlags    = "mlock_flags"
	decMlockallFlags = "mlockall_flags"
	decMremapFlags   = "mremap_flags"
	decMadvise       = "madvise_advice"
)

// decoderFor returns the decoder called name for arch a (nil if none).
func decoderFor(a Arch, name string) event.Decoder {
	switch name {
	case decProt:
		if a == ArchARM64 {
			return ProtARM64
		}
		return ProtX86 // (arm's PROT_* are x86's: asm-generic)
	case decMmapFlags:
		if a == ArchARM64 || a == ArchARM {
			return MmapFlagsARM64 // asm-generic: no MAP_32BIT
		}
		return MmapFlagsX86
	case decMsyncFlags:
		return MsyncFlags
	case decMlockFlags:
		return MlockFlags
	case decMlockallFlags:
		return MlockallFlags
	case decMremapFlags:
		return MremapFlags
	case decMadvise:
		return MadviseAdvice
	}
	return nil
}

// Argument constructors by C type.
func argPtr(name, ctype string) ArgSpec {
	return ArgSpec{Name: name, Type: ctype, Kind: event.ArgPointer, Bits: 64}
}
func argULong(name, ctype string) ArgSpec {
	return ArgSpec{Name: name, Type: ctype, Kind: event.ArgUint, Bits: 64}
}
func argLong(name, ctype string) ArgSpec {
	return ArgSpec{Name: name, Type: ctype, Kind: event.ArgInt, Bits: 64}
}
func argInt(name string) ArgSpec {
	return ArgSpec{Name: name, Type: "int", Kind: event.ArgInt, Bits: 32}
}
func argFlags(name, decoder string) ArgSpec {
	return ArgSpec{Name: name, Type: "int", Kind: event.ArgInt, Bits: 32,
		Decoder: decoderFor(ArchX86_64, decoder), DecoderName: decoder}
}

// specs are the memory family, with the argument names and C types of
// their manual pages (mmap(2), msync(2), mlock(2), mremap(2), madvise(2),
// mincore(2), remap_file_pages(2), pkey_mprotect in mprotect(2)).
var specs = []*SyscallSpec{
	{Name: "msync", Description: "flush changes made to a file mapping back to the file",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("length", "size_t"), argFlags("flags", decMsyncFlags)}},
	{Name: "mmap", RetPointer: true, Description: "map a file or anonymous memory into the address space",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("length", "size_t"), argFlags("prot", decProt),
			argFlags("flags", decMmapFlags), argInt("fd"), argLong("off", "off_t")}},
	{Name: "munmap", Description: "remove the mappings of an address range",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("length", "size_t")}},
	{Name: "mprotect", Description: "change the access protection of an address range",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("len", "size_t"), argFlags("prot", decProt)}},
	{Name: "pkey_mprotect", Description: "change the access protection of a range and tag it with a protection key",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("len", "size_t"), argFlags("prot", decProt), argInt("pkey")}},
	{Name: "mremap", RetPointer: true, Description: "grow, shrink or move an existing mapping",
		Args: []ArgSpec{argPtr("old_address", "void*"), argULong("old_size", "size_t"), argULong("new_size", "size_t"),
			argFlags("flags", decMremapFlags), argPtr("new_address", "void*")}},
	{Name: "mlock", Description: "lock the pages of an address range into RAM",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("len", "size_t")}},
	{Name: "mlock2", Description: "lock the pages of a range into RAM, optionally only once they fault in",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("len", "size_t"), argFlags("flags", decMlockFlags)}},
	{Name: "mlockall", Description: "lock all current and/or future mappings of the process into RAM",
		Args: []ArgSpec{argFlags("flags", decMlockallFlags)}},
	{Name: "munlock", Description: "let the pages of an address range be swapped out again",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("len", "size_t")}},
	{Name: "munlockall", Description: "unlock every mapping of the process",
		Args: []ArgSpec{}},
	{Name: "remap_file_pages", Description: "rearrange the file pages behind a shared mapping (deprecated; emulated since 4.0)",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("size", "size_t"), argFlags("prot", decProt),
			argULong("pgoff", "size_t"), argFlags("flags", decMmapFlags)}},
	{Name: "madvise", Description: "advise the kernel how an address range will be used",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("length", "size_t"), argFlags("advice", decMadvise)}},
	{Name: "mincore", Description: "report which pages of an address range are resident in RAM",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("length", "size_t"), argPtr("vec", "unsigned char*")}},
	{Name: "mmap2", RetPointer: true, Description: "map a file or anonymous memory, file offset counted in 4096-byte units (32-bit ABIs)",
		Args: []ArgSpec{argPtr("addr", "void*"), argULong("length", "size_t"), argFlags("prot", decProt),
			argFlags("flags", decMmapFlags), argInt("fd"), argULong("pgoffset", "unsigned long")}},
}

// oldMmapI386 is i386's syscall 90, which the table calls mmap but which
// takes one pointer to a struct holding mmap's six arguments (sys_old_mmap,
// arch/x86/kernel/sys_ia32.c and mm/mmap.c); 32-bit libcs call mmap2.
var oldMmapI386 = &SyscallSpec{Name: "mmap", RetPointer: true,
	Description: "i386's original mmap: its six arguments in a struct in memory",
	Args:        []ArgSpec{argPtr("arg", "struct mmap_arg_struct*")}}

var specByName = func() map[string]*SyscallSpec {
	m := make(map[string]*SyscallSpec, len(specs))
	for _, s := range append(specs, oldMmapI386) {
		for i := range s.Args {
			a := &s.Args[i]
			a.jsonHead = event.ArgJSONHead(a.Name, a.Type)
		}
		if s != oldMmapI386 {
			m[s.Name] = s
		}
	}
	return m
}()

// Spec returns the argument spec of a memory-family syscall by name (the
// same for every arch; i386's syscall 90 "mmap" is decoded with its own
// one-pointer spec).
func Spec(name string) (*SyscallSpec, bool) {
	s, ok := specByName[name]
	return s, ok
}

// archSpec returns the spec Decode uses for (a, name): the arch's decoders
// and widths, or nil.
func archSpec(a Arch, name string) *SyscallSpec {
	if a == ArchI386 && name == "mmap" {
		return forArch(a, oldMmapI386)
	}
	s, ok := specByName[name]
	if !ok {
		return nil
	}
	return forArch(a, s)
}

// forArch copies s with a's decoders and argument widths.
func forArch(a Arch, s *SyscallSpec) *SyscallSpec {
	c := *s
	c.Args = make([]ArgSpec, len(s.Args))
	for i, arg := range s.Args {
		if arg.DecoderName != "" {
			arg.Decoder = decoderFor(a, arg.DecoderName)
		}
		if arg.Bits > a.wordBits() {
			arg.Bits = a.wordBits()
		}
		c.Args[i] = arg
	}
	return &c
}
