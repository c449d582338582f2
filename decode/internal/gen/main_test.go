package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestGeneratedUpToDate fails when decode/zsyscalls.go is not what the
// generator makes of testdata/decode (edited by hand, or a .tbl changed
// without `go generate ./decode`).
func TestGeneratedUpToDate(t *testing.T) {
	want, err := generate("../../../testdata/decode")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zsyscalls.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("decode/zsyscalls.go is stale: run go generate ./decode")
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := dir + "/x.tbl"
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	names, entries, err := parse(write("# c\n0\tcommon\tread\tsys_read\n2 64 open sys_open # x\n3\tx32\tioctl\tcompat\n\n"), []string{"common", "64"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "read,,open" || entries[2] != "sys_open" {
		t.Errorf("names %q entries %q", names, entries)
	}
	for _, bad := range []string{"x common read\n", "1 common\n", "1 common a\n1 common b\n", "1 common a\n2 common a\n", "5000 common a\n"} {
		if _, _, err := parse(write(bad), []string{"common"}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
