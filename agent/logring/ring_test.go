package logring

import (
	"fmt"
	"reflect"
	"testing"
)

func texts(ls []Line) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.Text)
	}
	return out
}

func TestRing(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		writes  []string
		tail    int
		want    []string
		since   uint64
		sinceN  int
		wantSin []string
	}{
		{"empty", 3, nil, 5, []string{}, 0, 5, []string{}},
		{"under capacity", 3, []string{"a\n", "b\n"}, 5, []string{"a", "b"}, 1, 5, []string{"b"}},
		{"wraps", 3, []string{"a\n", "b\n", "c\n", "d\n"}, 5, []string{"b", "c", "d"}, 0, 2, []string{"b", "c"}},
		{"tail limits", 3, []string{"a\n", "b\n", "c\n"}, 2, []string{"b", "c"}, 3, 5, []string{}},
		{"multi-line write", 4, []string{"a\nb\nc\n"}, 4, []string{"a", "b", "c"}, 2, 9, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.size)
			for _, w := range tc.writes {
				fmt.Fprint(r, w)
			}
			if got := texts(r.Tail(tc.tail)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Tail(%d) = %q, want %q", tc.tail, got, tc.want)
			}
			got, _ := r.Since(tc.since, tc.sinceN)
			if !reflect.DeepEqual(texts(got), tc.wantSin) {
				t.Errorf("Since(%d,%d) = %q, want %q", tc.since, tc.sinceN, texts(got), tc.wantSin)
			}
		})
	}
}

func TestFollow(t *testing.T) {
	r := New(10)
	fmt.Fprintln(r, "one")
	lines, changed := r.Since(0, 10)
	if len(lines) != 1 || lines[0].Seq != 1 {
		t.Fatalf("lines = %+v", lines)
	}
	select {
	case <-changed:
		t.Fatal("changed closed before a new line")
	default:
	}
	fmt.Fprintln(r, "two")
	<-changed // closed by the write
	lines, _ = r.Since(lines[0].Seq, 10)
	if len(lines) != 1 || lines[0].Text != "two" || lines[0].Seq != 2 {
		t.Errorf("after follow: %+v", lines)
	}
}
