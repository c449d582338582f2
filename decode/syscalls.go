package decode

import "strconv"

//go:generate go run ./internal/gen -o zsyscalls.go ../testdata/decode

// syscallNames returns a's table: names by number, "" for a hole.
func syscallNames(a Arch) []string {
	switch a {
	case ArchX86_64:
		return syscallsX86_64[:]
	case ArchI386:
		return syscallsI386[:]
	case ArchARM64:
		return syscallsARM64[:]
	case ArchARM:
		return syscallsARM[:]
	}
	return nil
}

// SyscallName returns the name of syscall nr in arch a, as the kernel's
// table spells it.
func SyscallName(a Arch, nr int) (string, bool) {
	t := syscallNames(a)
	if nr < 0 || nr >= len(t) || t[nr] == "" {
		return "", false
	}
	return t[nr], true
}

var syscallNumbers = func() [archCount]map[string]int {
	var m [archCount]map[string]int
	for a := Arch(1); a < archCount; a++ {
		t := syscallNames(a)
		m[a] = make(map[string]int, len(t))
		for nr, name := range t {
			if name != "" {
				m[a][name] = nr
			}
		}
	}
	return m
}()

// SyscallNumber returns the number of the syscall called name in arch a.
func SyscallNumber(a Arch, name string) (int, bool) {
	if a == ArchUnknown || a >= archCount {
		return 0, false
	}
	nr, ok := syscallNumbers[a][name]
	return nr, ok
}

// unknownName is the event name of a syscall number a's table lacks.
func unknownName(nr int32) string { return "syscall_" + strconv.Itoa(int(nr)) }
