package shell

import (
	"context"
)

// Agent is what the shell needs of the running agent: control.Client's Get
// and Post (the shell's tests give it a fake).
type Agent interface {
	Get(ctx context.Context, path string, out any) error
	Post(ctx context.Context, path string, in, out any) error
}
