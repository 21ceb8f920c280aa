package daemon

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/mqtt"
)

// TestDaemonOwnerChange: the cloud re-pairs the running camera to another
// account (a binding over MQTT, signed by the pairing key). From then on
// what the camera signs names the new account — command results (events)
// and a snapshot's manifest — and the old owner's key is refused; what was
// signed before keeps the old account. No restart.
func TestDaemonOwnerChange(t *testing.T) {
	const oldAccount, newAccount = "old@example.com", "new@example.com"
	r := newMQTTRig(t)
	cloud, oldOwner := r.pairAs(t, oldAccount)
	r.start(t, "")
	svc, client, ctx := r.connected(t)
	// snapshot has key's holder ask for a snapshot; it returns the result
	// and, when one was taken, its verified manifest.
	var beforePath string
	snapshot := func(key *ecdsa.PrivateKey) (event.Message, *manifest.Manifest) {
		t.Helper()
		m := r.sendCommand(t, ctx, svc, key, command.New(r.key.DeviceID(), command.OpSnapshot, time.Now(), time.Minute))
		sm := regexp.MustCompile(`^(\S+)\.jpg signed`).FindStringSubmatch(m.Reason)
		if m.State != event.ResultDone || sm == nil {
			return m, nil
		}
		if beforePath == "" {
			beforePath = sm[1]
		}
		cose, err := os.ReadFile(sm[1] + ".manifest")
		if err != nil {
			t.Fatal(err)
		}
		man, err := manifest.Verify(cose, r.key.Public())
		if err != nil {
			t.Fatalf("the snapshot's manifest: %v", err)
		}
		return m, &man
	}

	before, beforeMan := snapshot(oldOwner)
	if beforeMan == nil || before.Owner != oldAccount || beforeMan.Owner != oldAccount {
		t.Fatalf("before the change: result %s %q from owner %q, manifest %+v; want both naming %s",
			before.State, before.Reason, before.Owner, beforeMan, oldAccount)
	}

	binding, newOwner := signBinding(t, r.key.DeviceID(), newAccount, time.Now().Add(time.Second), cloud)
	if tok := svc.Publish(mqtt.TopicsFor(r.key.DeviceID()).Binding, 1, true, binding); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish the binding: %v", tok.Error())
	}
	waitFor(t, "the new owner in the status", func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.Identity != nil && st.Identity.Owner == newAccount
	})

	after, afterMan := snapshot(newOwner)
	if afterMan == nil || after.Owner != newAccount || afterMan.Owner != newAccount {
		t.Fatalf("after the change: result %s %q from owner %q, manifest %+v; want both naming %s",
			after.State, after.Reason, after.Owner, afterMan, newAccount)
	}
	if afterMan.Seq <= beforeMan.Seq {
		t.Errorf("manifest sequence %d after %d", afterMan.Seq, beforeMan.Seq)
	}
	// The old owner's key is not in the new binding: its command is
	// refused without an answer (nobody else can make the camera publish).
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refusedBefore := st.MQTT.CommandsRefused
	b, err := command.Sign(command.New(r.key.DeviceID(), command.OpSnapshot, time.Now(), time.Minute), oldOwner)
	if err != nil {
		t.Fatal(err)
	}
	if tok := svc.Publish(mqtt.TopicsFor(r.key.DeviceID()).Command, 1, false, b); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish command: %v", tok.Error())
	}
	waitFor(t, "the old owner's command refused", func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.MQTT.CommandsRefused > refusedBefore
	})
	// What was signed before the change keeps the account it names.
	if cose, err := os.ReadFile(beforePath + ".manifest"); err != nil {
		t.Error(err)
	} else if m, err := manifest.Verify(cose, r.key.Public()); err != nil || m.Owner != oldAccount {
		t.Errorf("the first snapshot's manifest after the change: %v, owner %q, want %s", err, m.Owner, oldAccount)
	}
}

// TestOwnerAt: a clip names the owner of its first frame, across changes.
func TestOwnerAt(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	id := &deviceIdentity{owner: "a"}
	id.setOwner("b", t0.Add(10*time.Second))
	id.setOwner("b", t0.Add(15*time.Second)) // the same account again: no change
	id.setOwner("c", t0.Add(20*time.Second))
	tests := []struct {
		at   time.Duration
		want string
	}{
		{0, "a"}, {9 * time.Second, "a"}, {10 * time.Second, "b"}, {19 * time.Second, "b"},
		{20 * time.Second, "c"}, {time.Hour, "c"},
	}
	for _, tc := range tests {
		if got := id.OwnerAt(t0.Add(tc.at)); got != tc.want {
			t.Errorf("OwnerAt(+%v) = %q, want %q", tc.at, got, tc.want)
		}
	}
	if id.Owner() != "c" {
		t.Errorf("Owner() = %q", id.Owner())
	}
	for i := range 2 * maxOwnerChanges {
		id.setOwner(fmt.Sprint(i), t0.Add(time.Hour+time.Duration(i)*time.Second))
	}
	if len(id.changes) != maxOwnerChanges {
		t.Errorf("%d changes kept, want at most %d", len(id.changes), maxOwnerChanges)
	}
}
