package live_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/storage/fmp4/fmp4test"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/live"
	"github.com/camagent/camagent/uplink/live/livetest"
	"github.com/pion/webrtc/v4"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func deviceID(t testing.TB, k *ecdsa.PrivateKey) string {
	t.Helper()
	id, err := identity.DeviceID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// rig is one paired device running a live Server on an in-process bus, fed
// by a paced source through a capture.Hub, as the daemon will wire it.
type rig struct {
	dev, owner, cloud *ecdsa.PrivateKey
	// more are the owner's further keys (a browser's) the binding names.
	more    []*ecdsa.PrivateKey
	binding atomic.Pointer[[]byte] // the signed owner binding the device holds
	id      string
	bus     *livetest.Bus
	hub     *capture.Hub
	srv     *live.Server
	format  capture.Format
	pool    atomic.Pointer[capture.Pool] // the frame pool of the source the pump plays now
	stop    func()                       // ends the server and the pump and waits for them
}

// pump plays the source at 10 frames/s, opening it again (the next loop,
// with later timestamps) at its end, and publishes every frame with the
// source's own timestamp, as a camera's capture loop does.
func pump(ctx context.Context, src capture.Source, open func(loop int) (capture.Source, error), hub *capture.Hub,
	pool *atomic.Pointer[capture.Pool]) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for loop := 1; ; loop++ {
		for {
			f, err := src.Next(ctx)
			if err != nil {
				break
			}
			pool.Store(f.Pool())
			hub.Publish(f)
			f.Release()
			select {
			case <-ctx.Done():
				src.Close()
				return
			case <-tick.C:
			}
		}
		src.Close()
		if ctx.Err() != nil {
			return
		}
		var err error
		if src, err = open(loop); err != nil {
			return
		}
	}
}

type rigOpts struct {
	source func(loop int) (capture.Source, error)
	tweak  func(*live.Config)
	// moreOwnerKeys is how many further owner keys the binding names.
	moreOwnerKeys int
}

// bind gives the device a new owner binding, signed by the cloud, naming keys.
func (r *rig) bind(t testing.TB, keys ...*ecdsa.PrivateKey) {
	t.Helper()
	var ders [][]byte
	for _, k := range keys {
		der, err := identity.PublicKeyDER(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		ders = append(ders, der)
	}
	b, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: r.id, OwnerAccount: "dev@example.com",
		OwnerKey: ders[0], MoreOwnerKeys: ders[1:], Issued: time.Now()}, r.cloud)
	if err != nil {
		t.Fatal(err)
	}
	r.binding.Store(&b)
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	r := &rig{dev: newKey(t), owner: newKey(t), cloud: newKey(t), bus: &livetest.Bus{}, hub: &capture.Hub{}}
	r.id = deviceID(t, r.dev)
	for range o.moreOwnerKeys {
		r.more = append(r.more, newKey(t))
	}
	r.bind(t, append([]*ecdsa.PrivateKey{r.owner}, r.more...)...)
	first, err := o.source(0)
	if err != nil {
		t.Fatal(err)
	}
	r.format = first.Format()
	cfg := live.Config{
		DeviceID: r.id, Signer: r.dev, Hub: r.hub, Transport: r.bus.For(r.id),
		Owner: func() (identity.OwnerBinding, error) {
			return identity.VerifyOwnerBinding(*r.binding.Load(), r.cloud.Public(), r.id)
		},
		Format:          func() capture.Format { return r.format },
		IncludeLoopback: true,
		FPS:             10,
	}
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	r.srv, err = live.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srvDone, pumpDone := make(chan error, 1), make(chan struct{})
	go func() { srvDone <- r.srv.Run(ctx) }()
	go func() {
		defer close(pumpDone)
		pump(ctx, first, o.source, r.hub, &r.pool)
	}()
	var stopped bool
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-srvDone; err != nil {
			t.Errorf("server Run: %v", err)
		}
		<-pumpDone
	}
	t.Cleanup(r.stop)
	return r
}

// epoch is the capture time of the tests' first frame.
var epoch = time.Unix(1e9, 0)

func synthSource(t testing.TB, w, h int) func(int) (capture.Source, error) {
	return func(loop int) (capture.Source, error) {
		return synth.New(synth.Config{Width: w, Height: h, FPS: 10, Frames: 100, Seed: 7,
			Start: epoch.Add(time.Duration(loop) * 10 * time.Second)})
	}
}

func h264Source(t testing.TB) func(int) (capture.Source, error) {
	data := fmp4test.H264Fixture(t, "320x240", 30, "-pix_fmt", "yuv420p", "-profile:v", "baseline")
	return func(loop int) (capture.Source, error) {
		return livetest.NewAnnexB(data, 10, epoch.Add(time.Duration(loop)*3*time.Second))
	}
}

func (r *rig) viewerConfig() live.ViewerConfig {
	return live.ViewerConfig{DeviceID: r.id, DeviceKey: &r.dev.PublicKey, Owner: r.owner,
		Transport: r.bus.For(r.id), IncludeLoopback: true}
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or ctx ends: waiting, not a timed
// assertion (the bound is only the test's overall deadline).
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// offerSDP returns a real SDP offer (as the viewer makes it) from a
// PeerConnection closed right away: it never connects.
func offerSDP(t testing.TB) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel(live.DataChannelLabel, nil); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

func nonce(t testing.TB) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// goroutinesSettle waits until the goroutine count is back at base.
func goroutinesSettle(ctx context.Context, t *testing.T, base int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > base {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		case <-tick.C:
		}
	}
}

func isErr(err, target error) bool { return errors.Is(err, target) }
