package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
		{"type:.eq.github.com/pion/mdns/v2.Config", "github.com/pion/mdns/v2", "github.com/pion/..."},
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
	// Everything the program loads is counted once: the function tables
	// per function (no fallback group), the rest per symbol or section.
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var loaded uint64
	for _, sec := range f.Sections {
		if sec.Flags&elf.SHF_ALLOC != 0 && sec.Type != elf.SHT_NOBITS {
			loaded += sec.Size
		}
	}
	if total > loaded || total < loaded*97/100 {
		t.Errorf("counted %d bytes of %d loaded: want within 3%% below", total, loaded)
	}
	if _, lump := sizes["(.gopclntab: function tables of all packages)"]; lump {
		t.Error("function tables counted as one group: the pclntab layout was not read")
	}
	pcln, gofunc, err := pclnShares(f, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pcln["runtime"] == 0 || pcln["main"] == 0 || len(gofunc) != 0 {
		t.Errorf("function tables: runtime %d, main %d bytes, funcdata %v without go:func.*: want runtime, main > 0, none",
			pcln["runtime"], pcln["main"], gofunc)
	}
}

// dumpdep builds src (a main package) with -ldflags=-dumpdep and returns
// the linker's reachability tree.
func dumpdep(t *testing.T, src string) *depTree {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-ldflags=-dumpdep", "-o", filepath.Join(dir, "x"), ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tree, err := readDeps(strings.NewReader(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// A program that looks a method up by a name the compiler cannot see is
// reported, with the chain from main; one that does not is not; and -why
// finds the chain that keeps a symbol.
func TestWhyAndReflectMethod(t *testing.T) {
	const withLookup = `package main

import ("os"; "reflect")

type T struct{}

func (T) Hello() {}

func main() { reflect.ValueOf(T{}).MethodByName(os.Args[0]) }
`
	tree := dumpdep(t, withLookup)
	var b strings.Builder
	reportReflect(&b, tree)
	if strings.Contains(b.String(), "reachable: none") || !strings.Contains(b.String(), "main.main <- runtime.main_main") {
		t.Errorf("lookup by a runtime name: got\n%s", b.String())
	}
	if chain, n := tree.why(regexp.MustCompile(`^main\.T\.Hello$`)); n != 1 || len(chain) < 2 {
		t.Errorf("T.Hello: %d kept, chain %q; want it kept (every exported method is)", n, chain)
	}

	tree = dumpdep(t, "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n")
	b.Reset()
	reportReflect(&b, tree)
	if !strings.Contains(b.String(), "reflect method lookups reachable: none") {
		t.Errorf("no lookup: got\n%s", b.String())
	}
	chain, n := tree.why(regexp.MustCompile(`^fmt\.Fprintln$`))
	if n != 1 || len(chain) < 2 || chain[0] != "fmt.Fprintln" || !slices.Contains(chain, "main.main") {
		t.Errorf("fmt.Fprintln: %d kept, chain %q; want fmt.Fprintln <- ... main.main <- ...", n, chain)
	}
	b.Reset()
	if err := printWhy(&b, tree, []string{`^text/template\.`}); err != nil || !strings.Contains(b.String(), "not linked") {
		t.Errorf("text/template: %v\n%s", err, b.String())
	}
}
