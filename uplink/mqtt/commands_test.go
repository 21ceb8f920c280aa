package mqtt_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
)

type cmdEnv struct {
	env                 *mqtttest.Env
	cl                  *cloud
	d                   *device
	h                   *handler
	owner, vendor, evil *ecdsa.PrivateKey
	dir                 string
	dev                 *mqtttest.Device
}

func setupCommands(t *testing.T) *cmdEnv {
	env := mqtttest.Start(t)
	ce := &cmdEnv{env: env, cl: startCloud(t, env), h: newHandler(), owner: newKey(t), vendor: newKey(t),
		evil: newKey(t), dir: t.TempDir(), dev: env.NewDevice()}
	ce.cl.pin(ce.dev.ID, ce.dev.Key.Public(), "alice")
	ce.startDevice(t)
	ce.cl.next(t, "state") // online
	return ce
}

func (ce *cmdEnv) startDevice(t *testing.T) {
	keys := func() (command.Keys, error) {
		return command.Keys{Owners: []crypto.PublicKey{ce.owner.Public()}, OwnerAccount: "alice", Vendor: ce.vendor.Public()}, nil
	}
	ce.d = newDevice(t, ce.env, ce.dev, ce.dir, devOpts{keys: keys, handler: ce.h, owner: "alice"})
	ce.d.start(t)
}

func (ce *cmdEnv) send(t *testing.T, c command.Command, key *ecdsa.PrivateKey) {
	t.Helper()
	b, err := command.Sign(c, key)
	if err != nil {
		t.Fatal(err)
	}
	ce.sendRaw(t, b)
}

func (ce *cmdEnv) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	if err := ce.cl.r.Send(context.Background(), ce.dev.ID, b); err != nil {
		t.Fatal(err)
	}
}

func (ce *cmdEnv) cmd(op command.Op) command.Command {
	return command.New(ce.dev.ID, op, time.Now(), 5*time.Minute)
}

// result waits for the next command result.
func (ce *cmdEnv) result(t *testing.T) event.Message {
	t.Helper()
	m := ce.cl.next(t, "cmd/result")
	if m.Kind != event.KindCommandResult || m.DeviceID != ce.dev.ID {
		t.Fatalf("result: %+v", m)
	}
	t.Log(event.Render(m))
	return m
}

// barrier sends a valid upload-now and waits for its result: every command
// sent before it has been handled (one worker, in order).
func (ce *cmdEnv) barrier(t *testing.T) {
	t.Helper()
	c := ce.cmd(command.OpUploadNow)
	ce.send(t, c, ce.owner)
	for {
		m := ce.result(t)
		if string(m.Nonce) == string(c.Nonce) {
			if m.State != event.ResultDone {
				t.Fatalf("barrier refused: %s", m.Reason)
			}
			return
		}
	}
}

func (ce *cmdEnv) refusals(code string) uint64 { return ce.d.c.Status().RefusalsByReason[code] }

func TestCommands(t *testing.T) {
	ce := setupCommands(t)

	// A valid config patch applies through the handler, validated by the
	// real configuration parser.
	good := ce.cmd(command.OpConfigPatch)
	good.Patch = "[motion]\nthreshold = 20\n"
	ce.send(t, good, ce.owner)
	if m := ce.result(t); m.State != event.ResultDone || string(m.Nonce) != string(good.Nonce) || m.Op != "config-patch" {
		t.Fatalf("valid patch: %+v", m.Event)
	}
	if ce.h.cfg.Motion.Threshold != 20 || ce.h.counts()[0] != 1 {
		t.Fatalf("patch not applied: threshold %d", ce.h.cfg.Motion.Threshold)
	}

	// A bad patch is refused with the validator's reason, and changes nothing.
	bad := ce.cmd(command.OpConfigPatch)
	bad.Patch = "[motion]\nthreshold = 999\n"
	ce.send(t, bad, ce.owner)
	m := ce.result(t)
	if m.State != event.ResultRefused || !strings.Contains(m.Reason, "threshold: 999") {
		t.Fatalf("bad patch: state %s reason %q", m.State, m.Reason)
	}
	if ce.h.cfg.Motion.Threshold != 20 || ce.h.counts()[0] != 1 {
		t.Fatal("a refused patch changed the configuration")
	}

	before := ce.h.counts()
	// Forged: signed by a key that is neither the owner's nor the vendor's
	// (another owner's). No result is published for it.
	ce.send(t, ce.cmd(command.OpReboot), ce.evil)
	// Garbage.
	ce.sendRaw(t, []byte("\xd2\x84garbage"))
	// Misaddressed: the owner's signature, another device.
	other := ce.cmd(command.OpReboot)
	other.DeviceID = ce.env.NewDevice().ID
	ce.send(t, other, ce.owner)
	// Expired: answered with a refusal (it is the owner's).
	old := command.New(ce.dev.ID, command.OpReboot, time.Now().Add(-time.Hour), time.Minute)
	ce.send(t, old, ce.owner)
	if m := ce.result(t); m.State != event.ResultRefused || !strings.Contains(m.Reason, "expired") {
		t.Fatalf("expired: %s %q", m.State, m.Reason)
	}
	// The vendor may reboot but may not change settings.
	vp := ce.cmd(command.OpConfigPatch)
	vp.Patch = "[motion]\nthreshold = 30\n"
	ce.send(t, vp, ce.vendor)
	if m := ce.result(t); m.State != event.ResultRefused || !strings.Contains(m.Reason, "vendor") {
		t.Fatalf("vendor patch: %s %q", m.State, m.Reason)
	}
	// Replayed: the valid patch again.
	b, _ := command.Sign(good, ce.owner)
	ce.sendRaw(t, b)
	ce.barrier(t)
	after := ce.h.counts()
	after[1]-- // the barrier's upload-now
	if after != before {
		t.Fatalf("refused commands reached the handler: before %v after %v", before, after)
	}
	for code, want := range map[string]uint64{"unsigned": 1, "malformed": 1, "misaddressed": 1, "expired": 1,
		"not-permitted": 1, "replay": 1} {
		if got := ce.refusals(code); got != want {
			t.Errorf("refusals %q = %d, want %d (all: %v)", code, got, want, ce.d.c.Status().RefusalsByReason)
		}
	}
	if ce.h.cfg.Motion.Threshold != 20 {
		t.Fatal("configuration changed")
	}

	// Vendor reboot is a service op: obeyed.
	ce.send(t, ce.cmd(command.OpReboot), ce.vendor)
	if m := ce.result(t); m.State != event.ResultDone || ce.h.counts()[2] != 1 {
		t.Fatalf("vendor reboot: %s %q", m.State, m.Reason)
	}

	// Replay after a restart: the cache is on disk.
	ce.d.stop()
	ce.startDevice(t)
	ce.cl.nextKind(t, event.KindOnline)
	ce.sendRaw(t, b)
	ce.barrier(t)
	if ce.refusals("replay") != 1 || ce.h.counts()[0] != 1 {
		t.Fatalf("replay after restart: refusals %v, patches %d", ce.d.c.Status().RefusalsByReason, ce.h.counts()[0])
	}
}

// TestFormatSDNeedsConfirmation: format-sd only answers with a challenge;
// the owner's second command with it formats; a wrong one does not.
func TestFormatSDNeedsConfirmation(t *testing.T) {
	ce := setupCommands(t)
	ce.send(t, ce.cmd(command.OpFormatSD), ce.owner)
	m := ce.result(t)
	if m.State != event.ResultConfirm || len(m.Challenge) == 0 || ce.h.counts()[3] != 0 {
		t.Fatalf("format-sd: %+v", m.Event)
	}
	wrong := ce.cmd(command.OpFormatSDConfirm)
	wrong.Confirm = []byte("not the challenge")
	ce.send(t, wrong, ce.owner)
	if r := ce.result(t); r.State != event.ResultRefused || ce.h.counts()[3] != 0 {
		t.Fatalf("wrong confirmation: %s", r.State)
	}
	// The vendor cannot confirm it either.
	vc := ce.cmd(command.OpFormatSDConfirm)
	vc.Confirm = m.Challenge
	ce.send(t, vc, ce.vendor)
	if r := ce.result(t); r.State != event.ResultRefused || ce.h.counts()[3] != 0 {
		t.Fatalf("vendor confirmation: %s", r.State)
	}
	ok := ce.cmd(command.OpFormatSDConfirm)
	ok.Confirm = m.Challenge
	ce.send(t, ok, ce.owner)
	if r := ce.result(t); r.State != event.ResultDone || ce.h.counts()[3] != 1 {
		t.Fatalf("confirmed format: %s %q", r.State, r.Reason)
	}
	// The challenge is spent.
	again := ce.cmd(command.OpFormatSDConfirm)
	again.Confirm = m.Challenge
	ce.send(t, again, ce.owner)
	if r := ce.result(t); r.State != event.ResultRefused || ce.h.counts()[3] != 1 {
		t.Fatalf("second confirmation: %s", r.State)
	}
}
