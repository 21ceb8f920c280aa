// Command sizetop lists the packages that take the most room in a Go
// binary's file: the sizes of its ELF symbols (an unstripped build) in
// sections that occupy the file (not .bss/.noptrbss), grouped by package.
// Runtime tables the linker makes (go:func.*, pclntab and the like) are one
// group, and so is .gopclntab (the function tables, shared by all). Percentages
// are of the sum of all groups. make size (scripts/size.sh) runs it.
//
//	sizetop [-n 10] BINARY
//	go build -ldflags=-dumpdep ... 2>&1 | sizetop -why [PATTERN...]
//
// With -why it answers why a symbol is linked at all (why.go): for each
// PATTERN, the chain of references from the entry point that keeps it; and
// it says whether any reachable function looks methods up by reflection.
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	n := flag.Int("n", 10, "how many packages to list")
	why := flag.Bool("why", false, "read `go build -ldflags=-dumpdep` output on stdin and print, for each "+
		"PATTERN (a regexp on symbol names), the chain that keeps it; and any reflect method lookup")
	flag.Parse()
	if *why {
		t, err := readDeps(os.Stdin)
		if err == nil {
			err = printWhy(os.Stdout, t, flag.Args())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sizetop:", err)
			os.Exit(1)
		}
		reportReflect(os.Stdout, t)
		return
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sizetop [-n 10] BINARY\n       go build -ldflags=-dumpdep ... 2>&1 | sizetop -why [PATTERN...]")
		os.Exit(2)
	}
	sizes, total, err := bySection(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sizetop:", err)
		os.Exit(1)
	}
	type row struct {
		pkg  string
		size uint64
	}
	var rows []row
	for p, s := range sizes {
		rows = append(rows, row{p, s})
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].size > rows[j].size || rows[i].size == rows[j].size && rows[i].pkg < rows[j].pkg
	})
	for i, r := range rows {
		if i == *n {
			break
		}
		fmt.Printf("%8.0f KB %5.1f%%  %s\n", float64(r.size)/1024, 100*float64(r.size)/float64(total), r.pkg)
	}
	// By module: the standard library, the agent, and each dependency.
	mods := map[string]uint64{}
	for p, s := range sizes {
		mods[moduleOf(p)] += s
	}
	var ms []row
	for m, s := range mods {
		ms = append(ms, row{m, s})
	}
	sort.Slice(ms, func(i, j int) bool {
		return ms[i].size > ms[j].size || ms[i].size == ms[j].size && ms[i].pkg < ms[j].pkg
	})
	var b strings.Builder
	for i, r := range ms {
		if i == 6 {
			break
		}
		fmt.Fprintf(&b, "%s%s %.0f KB", map[bool]string{true: "", false: ", "}[i == 0], r.pkg, float64(r.size)/1024)
	}
	fmt.Printf("  by module: %s\n", b.String())
}

// moduleOf groups a package: "std" for the standard library (and the
// linker's tables), the first three path elements of a github.com path
// (github.com/pion/webrtc/v4 and github.com/pion/sctp both count as
// github.com/pion/...: one project's modules together).
func moduleOf(pkg string) string {
	if strings.HasPrefix(pkg, "github.com/camagent/camagent") || pkg == "main" {
		return "camagent"
	}
	parts := strings.Split(pkg, "/")
	if !strings.Contains(parts[0], ".") {
		return "std"
	}
	if parts[0] == "github.com" && len(parts) >= 2 {
		return "github.com/" + parts[1] + "/..."
	}
	if len(parts) >= 3 {
		return strings.Join(parts[:3], "/")
	}
	return pkg
}

// bySection sums the file-backed symbol sizes of path by package.
func bySection(path string) (map[string]uint64, uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w (build it without -s -w)", path, err)
	}
	sizes := map[string]uint64{}
	var total uint64
	var gofuncAddr, gofuncSize uint64
	for _, s := range syms {
		if s.Name == "go:func.*" {
			gofuncAddr, gofuncSize = s.Value, s.Size
		}
	}
	// Each function's share of the function tables and of go:func.*.
	pcln, gofunc, perr := pclnShares(f, gofuncAddr, gofuncSize)
	for _, s := range syms {
		if s.Size == 0 || int(s.Section) <= 0 || int(s.Section) >= len(f.Sections) {
			continue
		}
		if f.Sections[s.Section].Type == elf.SHT_NOBITS {
			continue // .bss, .noptrbss: not in the file
		}
		if perr == nil && (s.Name == "go:func.*" && len(gofunc) > 0 || f.Sections[s.Section].Name == ".gopclntab") {
			continue // counted per package below
		}
		sizes[pkgOf(s.Name)] += s.Size
		total += s.Size
	}
	// Bytes of a section no symbol covers: in .rodata the type descriptors
	// and string literals (the linker gives them no symbol of their own).
	covered := map[elf.SectionIndex]uint64{}
	for _, s := range syms {
		if int(s.Section) > 0 && int(s.Section) < len(f.Sections) {
			covered[s.Section] += s.Size
		}
	}
	for i, sec := range f.Sections {
		if sec.Flags&elf.SHF_ALLOC == 0 || sec.Type == elf.SHT_NOBITS || sec.Name == ".gopclntab" {
			continue
		}
		if c := covered[elf.SectionIndex(i)]; c < sec.Size && sec.Size-c >= 4096 {
			name := "(" + sec.Name + " without symbols)"
			if sec.Name == ".rodata" {
				name = "(.rodata without symbols: type descriptors, string literals)"
			}
			sizes[name] += sec.Size - c
			total += sec.Size - c
		}
	}
	if perr == nil {
		for p, n := range pcln {
			sizes[p] += n
			total += n
		}
		if len(gofunc) > 0 {
			for p, n := range gofunc {
				sizes[p] += n
				total += n
			}
		}
		return sizes, total, nil
	}
	// Another pclntab layout: the function tables as one group.
	fmt.Fprintf(os.Stderr, "sizetop: %v: function tables counted as one group\n", perr)
	if sec := f.Section(".gopclntab"); sec != nil {
		sizes["(.gopclntab: function tables of all packages)"] += sec.Size
		total += sec.Size
	}
	return sizes, total, nil
}

// pkgOf returns the package path of a Go symbol name: "net/http.(*Client).Do"
// is net/http, "type:*crypto/tls.Conn" crypto/tls.
func pkgOf(name string) string {
	name = strings.TrimPrefix(name, "type:")
	name = strings.TrimPrefix(name, ".eq.") // a type's generated equality function
	name = strings.TrimLeft(name, "*")
	if strings.HasPrefix(name, "go:") || strings.HasPrefix(name, "runtime.pclntab") ||
		strings.HasPrefix(name, "runtime.findfunctab") || !strings.Contains(name, ".") {
		return "(linker tables: go:func.*, pclntab, ...)"
	}
	slash := strings.LastIndexByte(name, '/')
	if dot := strings.IndexByte(name[slash+1:], '.'); dot >= 0 {
		return name[:slash+1+dot]
	}
	return name
}
