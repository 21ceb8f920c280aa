package shell

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", MaxLine+1)
	for _, tc := range []struct {
		name  string
		input string
		want  []string // "!" marks ErrLineTooLong
	}{
		{"lines", "status\nlog 5\n", []string{"status", "log 5"}},
		{"crlf", "status\r\nnet\r\n", []string{"status", "net"}},
		{"no final newline", "status\nid", []string{"status", "id"}},
		{"empty lines", "\n\nstatus\n", []string{"", "", "status"}},
		{"too long", long + "\nstatus\n", []string{"!", "status"}},
		{"too long at the end", "status\n" + long, []string{"status", "!"}},
		{"longest", strings.Repeat("y", MaxLine) + "\n", []string{strings.Repeat("y", MaxLine)}},
	} {
		for _, reader := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"bytewise", iotest.OneByteReader}, {"halves", iotest.HalfReader}} {
			t.Run(tc.name+"/"+reader.name, func(t *testing.T) {
				in := newInput(reader.wrap(strings.NewReader(tc.input)))
				defer in.stop()
				var got []string
				for {
					line, err := in.readLine(nil)
					if errors.Is(err, io.EOF) {
						break
					}
					if errors.Is(err, ErrLineTooLong) {
						got = append(got, "!")
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, line)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Fatalf("lines = %.60q, want %.60q", got, tc.want)
				}
			})
		}
	}
}

func TestReadGivesUpAndResumes(t *testing.T) {
	checkGoroutines(t)
	pr, pw := io.Pipe()
	in := newInput(pr)
	defer pw.Close()
	defer in.stop()
	cancel := make(chan struct{})
	close(cancel)
	if _, err := in.readLine(cancel); !errors.Is(err, errStopped) {
		t.Fatalf("readLine with a closed cancel = %v", err)
	}
	// The read asked for stays pending and its bytes are not lost.
	go func() { _, _ = pw.Write([]byte("status\n")) }()
	if line, err := in.readLine(nil); err != nil || line != "status" {
		t.Fatalf("readLine = %q, %v", line, err)
	}
	in.unread([]byte("net\n"))
	if line, err := in.readLine(nil); err != nil || line != "net" {
		t.Fatalf("after unread: %q, %v", line, err)
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory(3)
	for _, l := range []string{"a", "", "b", "b", strings.Repeat("r", maxHistoryLine+1), "c", "d"} {
		h.Add(l)
	}
	if got := strings.Join(h.Entries(), ","); got != "b,c,d" || h.Len() != 3 || h.At(0) != "d" || h.At(2) != "b" {
		t.Fatalf("history = %q (len %d)", got, h.Len())
	}
	if h.At(3) != "" || h.At(-1) != "" {
		t.Error("At out of range is not empty")
	}
}
