package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// The linker keeps a symbol because something reachable refers to it.
// `go build -ldflags=-dumpdep` prints, for every symbol it keeps, the edge
// by which it first reached it ("from -> to", flags such as <ReflectMethod>
// after a name). Those edges form a tree from the entry point; the path up
// that tree says why a package is in the binary at all.

// depTree is the linker's reachability tree: each kept symbol's parent, and
// the symbols the compiler flagged <ReflectMethod> (a reflect method lookup
// by a name the compiler could not see; one reachable such function makes
// the linker keep every exported method of every reachable type).
type depTree struct {
	parent  map[string]string
	order   []string // symbols in the order they were reached
	reflect []string // reachable functions flagged <ReflectMethod>
}

func readDeps(r io.Reader) (*depTree, error) {
	t := &depTree{parent: map[string]string{}}
	seenReflect := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " -> ")
		if !ok {
			continue
		}
		for _, s := range []string{from, to} {
			if strings.Contains(s, "<ReflectMethod>") {
				if n := depName(s); !seenReflect[n] {
					seenReflect[n] = true
					t.reflect = append(t.reflect, n)
				}
			}
		}
		from, to = depName(from), depName(to)
		if _, ok := t.parent[to]; !ok {
			t.parent[to] = from
			t.order = append(t.order, to)
		}
	}
	return t, sc.Err()
}

// depName strips the linker's flags from a -dumpdep name.
func depName(s string) string {
	if i := strings.Index(s, " <"); i >= 0 {
		return s[:i]
	}
	return s
}

// why returns the chain from the first kept symbol matching re up to the
// entry point, and how many kept symbols match.
func (t *depTree) why(re *regexp.Regexp) (chain []string, n int) {
	for _, s := range t.order {
		if !re.MatchString(s) {
			continue
		}
		if n++; n > 1 {
			continue
		}
		for c := s; c != "" && c != "_" && len(chain) < 200; c = t.parent[c] {
			chain = append(chain, c)
		}
	}
	return chain, n
}

// printWhy writes the answer for each pattern.
func printWhy(w io.Writer, t *depTree, patterns []string) error {
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return err
		}
		chain, n := t.why(re)
		if n == 0 {
			fmt.Fprintf(w, "%s: not linked\n", p)
			continue
		}
		fmt.Fprintf(w, "%s: %d symbols kept; the first reached, and why:\n", p, n)
		for _, c := range chain {
			fmt.Fprintf(w, "  %s\n", c)
		}
		if len(chain) > 0 && strings.HasSuffix(chain[len(chain)-1], "..inittask") ||
			len(chain) > 1 && chain[len(chain)-1] == "go:main.inittasks" {
			fmt.Fprintln(w, "  (kept by its package's initialization: `go list -deps -f '{{.ImportPath}}: {{.Imports}}'` says who imports it)")
		}
	}
	return nil
}

// reportReflect says whether the linker had to keep every exported method.
func reportReflect(w io.Writer, t *depTree) {
	if len(t.reflect) == 0 {
		fmt.Fprintln(w, "reflect method lookups reachable: none (the linker keeps only the methods in use)")
		return
	}
	fmt.Fprintf(w, "reflect method lookups reachable: %d (every exported method of every reachable type is kept):\n",
		len(t.reflect))
	for _, r := range t.reflect {
		chain, _ := t.why(regexp.MustCompile("^" + regexp.QuoteMeta(r) + "$"))
		fmt.Fprintf(w, "  %s\n", strings.Join(chain, " <- "))
	}
}
