// Package shell is camagent's serial debug shell: the interactive command line
// a technician gets on a camera's serial console (`camagent shell`). It is
// only the terminal: the paths and types it speaks, and the unlock protocol,
// are package control's; the state it shows lives in the daemon.
//
// It exists because a camera in the field has no screen and often no network
// that works: the serial console is the one way in, over a raw line at
// 115200 baud that knows nothing of window sizes. The shell must stay usable
// there (line editing, history and tab completion through
// golang.org/x/term, redrawing only the current line), must never hang or
// crash on what is typed or pasted (every line is parsed with limits, see
// Parse, and every wait on the agent has a bound or a key that ends it), and
// must not make the console a back door: commands that change the device
// (config set, reboot, format-sd, factory-reset) are refused until the shell
// is unlocked.
//
// # Talking to the agent
//
// The shell is a client of the running agent's control socket (package
// control): it holds no device state of its own and works the same whether
// it runs on the console or over ssh. Paths and JSON types of the shell's
// routes are package control's (shell.go there); the agent's handlers live
// with the daemon. When stdin is a terminal the shell puts it in raw mode and edits
// lines with x/term; otherwise (a pipe, a test, a script) it reads plain
// lines, prints a prompt and no escape sequences.
//
// # The agent's log on the console
//
// On a camera the agent logs to the serial console, the line the shell
// runs on, so its lines would land in the middle of what is typed. On a
// terminal the shell therefore follows the agent's log itself, asking the
// agent to keep the lines off the console while it does (and a few seconds
// after: control.LogHoldConsole), and prints each new line above the input
// line, which x/term redraws whole with the prompt and what was typed so
// far. While a command prints its answer, new lines wait for the next
// prompt. In plain-line mode (a pipe, a script) nothing changes: the
// agent's log goes on reaching the console directly.
//
// # Unlock
//
// Unlocking is a challenge and response (control.Unlocker): `unlock` asks the
// agent for a challenge naming the device ID, a fresh 128-bit nonce and an
// expiry; the technician signs it on their own machine with
// `camagent sign-challenge -key KEY.pem CHALLENGE` (the vendor's service key,
// or the owner's key named by the device's owner binding) and pastes the
// response back. The response is a COSE_Sign1 (package envelope) with its own
// content type, so no other signature made by those keys (a manifest, a
// binding) can unlock a shell. The agent accepts a response once, before its
// expiry, for the device it names, and answers with a session token that the
// shell sends with each privileged request; the token expires after
// SessionTTL and dies with `lock`, the shell's exit, or the agent's restart.
// Every refusal says why.
package shell
