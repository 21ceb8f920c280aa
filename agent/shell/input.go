package shell

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errStopped is returned by a read that the shell gave up waiting for.
var errStopped = errors.New("shell: read stopped")

// keyClearLine stands in for Ctrl-C in the terminal: x/term ends ReadLine on
// Ctrl-C, but at the prompt Ctrl-C should only clear the line. Ctrl-G (BEL)
// is not a key x/term knows, so it reaches the AutoCompleteCallback.
const keyClearLine = 0x07

// input reads the shell's stdin on one goroutine, one Read at a time and only
// when the shell asks for input, so that a wait for input can be abandoned
// (to follow the log while watching for Ctrl-C, or when the context ends)
// and picked up again later without losing what was typed. Its methods are
// used by one goroutine at a time.
//
// The goroutine is started by newInput and ends when stop is called and it
// is idle, or when its Read returns after that, or at the end of input. A
// Read in progress on a terminal cannot be interrupted, so after stop the
// goroutine may stay blocked in it until a key is pressed or the process
// exits; it then returns without touching anything.
type input struct {
	req  chan struct{}
	res  chan chunk
	done chan struct{}

	waiting bool   // a read was asked for and its result not taken yet
	pending []byte // bytes taken but not consumed yet
	err     error  // the error that ended input, after its data

	// readLine's state.
	line    []byte
	discard bool // the current line went over MaxLine: drop it to its end
}

type chunk struct {
	data []byte
	err  error
}

func newInput(r io.Reader) *input {
	in := &input{req: make(chan struct{}, 1), res: make(chan chunk, 1), done: make(chan struct{})}
	go in.loop(r)
	return in
}

func (in *input) loop(r io.Reader) {
	buf := make([]byte, 512)
	for {
		select {
		case <-in.req:
		case <-in.done:
			return
		}
		n, err := r.Read(buf)
		c := chunk{data: bytes.Clone(buf[:n]), err: err}
		select {
		case in.res <- c:
		case <-in.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// stop ends the reading goroutine (see input).
func (in *input) stop() { close(in.done) }

// read returns the next bytes of input, or the error that ended it, or
// errStopped when cancel is closed first.
func (in *input) read(cancel <-chan struct{}) ([]byte, error) {
	if len(in.pending) > 0 {
		p := in.pending
		in.pending = nil
		return p, nil
	}
	if in.err != nil {
		return nil, in.err
	}
	if !in.waiting {
		in.req <- struct{}{}
		in.waiting = true
	}
	select {
	case c := <-in.res:
		in.waiting = false
		in.err = c.err
		if len(c.data) > 0 || c.err == nil {
			return c.data, nil
		}
		return nil, c.err
	case <-cancel:
		return nil, errStopped
	}
}

// unread puts p back in front of what read returns next.
func (in *input) unread(p []byte) {
	if len(p) > 0 {
		in.pending = append(bytes.Clone(p), in.pending...)
	}
}

// readLine returns the next line without its line ending (\n or \r\n). A
// last line without a newline is returned before io.EOF. A line longer than
// MaxLine is dropped, up to its end, and reported as ErrLineTooLong.
func (in *input) readLine(cancel <-chan struct{}) (string, error) {
	for {
		data, err := in.read(cancel)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			in.unread(data[i+1:])
			data = data[:i]
			discarded := in.discard || len(in.line)+len(data) > MaxLine
			line := append(in.line, data...)
			in.line, in.discard = in.line[:0], false
			if discarded {
				return "", fmt.Errorf("%w (at most %d bytes); the line was ignored", ErrLineTooLong, MaxLine)
			}
			return string(bytes.TrimSuffix(line, []byte{'\r'})), nil
		}
		if !in.discard {
			if len(in.line)+len(data) > MaxLine {
				in.line, in.discard = in.line[:0], true
			} else {
				in.line = append(in.line, data...)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (len(in.line) > 0 || in.discard) {
				discarded := in.discard
				line := string(bytes.TrimSuffix(in.line, []byte{'\r'}))
				in.line, in.discard = in.line[:0], false
				if discarded {
					return "", fmt.Errorf("%w (at most %d bytes); the line was ignored", ErrLineTooLong, MaxLine)
				}
				return line, nil
			}
			return "", err
		}
	}
}

// ttyConn is the terminal x/term edits lines on: it reads through the input
// (so that a read can be given up when cancel closes) and writes to out.
type ttyConn struct {
	in     *input
	out    io.Writer
	cancel <-chan struct{}
}

func (c *ttyConn) Read(p []byte) (int, error) {
	data, err := c.in.read(c.cancel)
	if len(data) == 0 {
		return 0, err
	}
	for i, b := range data {
		if b == 0x03 { // Ctrl-C: clear the line (see keyClearLine)
			data[i] = keyClearLine
		}
	}
	n := copy(p, data)
	c.in.unread(data[n:])
	return n, nil
}

func (c *ttyConn) Write(p []byte) (int, error) { return c.out.Write(p) }
