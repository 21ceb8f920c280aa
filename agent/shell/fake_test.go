package shell

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/agent/control"
)

// fakeAgent answers the shell's requests from a table: the handler of the
// longest path prefix (the query included in path) answers.
type fakeAgent struct {
	mu       sync.Mutex
	handlers map[string]func(ctx context.Context, method, path string, in any) (any, error)
	calls    []string
	bodies   []any
}

func (a *fakeAgent) handle(prefix string, h func(ctx context.Context, method, path string, in any) (any, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handlers == nil {
		a.handlers = make(map[string]func(context.Context, string, string, any) (any, error))
	}
	a.handlers[prefix] = h
}

// answer makes path answer v.
func (a *fakeAgent) answer(prefix string, v any) {
	a.handle(prefix, func(context.Context, string, string, any) (any, error) { return v, nil })
}

// refuse makes path answer an error status with msg.
func (a *fakeAgent) refuse(prefix string, code int, msg string) {
	a.handle(prefix, func(_ context.Context, method, path string, _ any) (any, error) {
		return nil, &control.APIError{Method: method, Path: path, StatusCode: code, Message: msg}
	})
}

func (a *fakeAgent) Get(ctx context.Context, path string, out any) error {
	return a.do(ctx, http.MethodGet, path, nil, out)
}

func (a *fakeAgent) Post(ctx context.Context, path string, in, out any) error {
	return a.do(ctx, http.MethodPost, path, in, out)
}

func (a *fakeAgent) do(ctx context.Context, method, path string, in, out any) error {
	a.mu.Lock()
	a.calls = append(a.calls, method+" "+path)
	a.bodies = append(a.bodies, in)
	var h func(context.Context, string, string, any) (any, error)
	best := -1
	for p, f := range a.handlers {
		if strings.HasPrefix(path, p) && len(p) > best {
			h, best = f, len(p)
		}
	}
	a.mu.Unlock()
	if h == nil {
		return &control.APIError{Method: method, Path: path, StatusCode: 404, Message: "no such endpoint: " + path}
	}
	v, err := h(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out == nil || v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("fake: %w", err)
	}
	return json.Unmarshal(b, out)
}

func (a *fakeAgent) called() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
