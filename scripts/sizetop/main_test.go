package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPkgOfAndModuleOf(t *testing.T) {
	tests := []struct{ sym, pkg, mod string }{
		{"net/http.(*Client).Do", "net/http", "std"},
		{"type:*crypto/tls.Conn", "crypto/tls", "std"},
		{"github.com/pion/webrtc/v4.(*PeerConnection).AddTrack", "github.com/pion/webrtc/v4", "github.com/pion/..."},
		{"github.com/pion/sctp.(*Association).run.func1", "github.com/pion/sctp", "github.com/pion/..."},
		{"github.com/camagent/camagent/capture.(*Hub).Run", "github.com/camagent/camagent/capture", "camagent"},
		{"main.main", "main", "camagent"},
		{"golang.org/x/sys/unix.Syscall", "golang.org/x/sys/unix", "golang.org/x/sys"},
		{"go:func.*", "(linker tables: go:func.*, pclntab, ...)", "(linker tables: go:func.*, pclntab, ...)"},
		{"runtime.pclntab", "(linker tables: go:func.*, pclntab, ...)", "(linker tables: go:func.*, pclntab, ...)"},
	}
	for _, tc := range tests {
		p := pkgOf(tc.sym)
		if p != tc.pkg {
			t.Errorf("pkgOf(%q) = %q, want %q", tc.sym, p, tc.pkg)
		}
		if m := moduleOf(p); m != tc.mod {
			t.Errorf("moduleOf(%q) = %q, want %q", p, m, tc.mod)
		}
	}
}

// sizetop on an unstripped build of itself: its own package and the runtime
// are in it, and what it counts fits in the file (.bss is not counted).
func TestBySectionOnItself(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "sizetop")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sizes, total, err := bySection(exe)
	if err != nil {
		t.Fatal(err)
	}
	if sizes["runtime"] == 0 || sizes["main"] == 0 || sizes["debug/elf"] == 0 || total == 0 {
		t.Errorf("runtime %d, main %d, debug/elf %d, total %d bytes: want all > 0", sizes["runtime"], sizes["main"],
			sizes["debug/elf"], total)
	}
	st, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	if total > uint64(st.Size()) {
		t.Errorf("counted %d bytes in a file of %d: .bss counted?", total, st.Size())
	}
}
