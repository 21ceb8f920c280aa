package live

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// ViewerConfig wires Dial, the owner's side of live view in Go (the CLI and
// the tests; the web page does the same in JavaScript).
type ViewerConfig struct {
	DeviceID string
	// DeviceKey is the device key pinned at pairing; the answer must verify
	// with it.
	DeviceKey *ecdsa.PublicKey
	// Owner is the owner's key, the one named in the device's owner binding.
	Owner     crypto.Signer
	Transport Transport // bound to DeviceID's topics
	// TTL is the offer's lifetime (default 1 min).
	TTL             time.Duration
	ICEServers      []ICEServer
	IncludeLoopback bool
	// GatherWait bounds ICE gathering for the offer (default 5 s).
	GatherWait time.Duration
	Now        func() time.Time // nil means time.Now
}

// Viewer is one live session seen from the owner's side.
type Viewer struct {
	PC     *webrtc.PeerConnection
	Answer Answer
	// Pictures receives whole JPEG pictures (MediaJPEG); when the reader is
	// slow, pictures are dropped, never queued without bound.
	Pictures <-chan []byte
	// Tracks receives the video track (MediaH264).
	Tracks <-chan *webrtc.TrackRemote
	// Closed is closed when the peer connection fails or closes.
	Closed <-chan struct{}
}

// Close ends the session.
func (v *Viewer) Close() error { return v.PC.Close() }

// Dial signs an offer for cfg.DeviceID with the owner's key, sends it, waits
// for the device's answer, refuses it unless it verifies against the pinned
// device key and carries this offer's nonce, and connects.
func Dial(ctx context.Context, cfg ViewerConfig) (*Viewer, error) {
	if cfg.TTL == 0 {
		cfg.TTL = time.Minute
	}
	if cfg.GatherWait == 0 {
		cfg.GatherWait = DefaultGatherWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeviceKey == nil || cfg.Owner == nil || cfg.Transport == nil {
		return nil, errors.New("live: dial: device key, owner key and transport are required")
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: pionICE(cfg.ICEServers)})
	if err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	v, err := dial(ctx, cfg, pc)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return v, nil
}

func dial(ctx context.Context, cfg ViewerConfig, pc *webrtc.PeerConnection) (*Viewer, error) {
	pictures := make(chan []byte, 4)
	tracks := make(chan *webrtc.TrackRemote, 1)
	closed := make(chan struct{})
	var closeOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			closeOnce.Do(func() { close(closed) })
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case tracks <- t:
		default:
		}
	})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	dc, err := pc.CreateDataChannel(DataChannelLabel, nil)
	if err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	var partial []byte
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if len(m.Data) == 0 || len(partial)+len(m.Data) > 16<<20 {
			partial = partial[:0]
			return
		}
		partial = append(partial, m.Data[1:]...)
		if m.Data[0]&ChunkLast == 0 {
			return
		}
		pic := bytes.Clone(partial)
		partial = partial[:0]
		select {
		case pictures <- pic:
		default: // the reader is behind: drop this picture
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	t := time.NewTimer(cfg.GatherWait)
	select {
	case <-gathered:
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return nil, ctx.Err()
	}
	t.Stop()
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	now := cfg.Now()
	signed, err := SealOffer(Offer{DeviceID: cfg.DeviceID, Nonce: nonce, Issued: now,
		Expires: now.Add(cfg.TTL), SDP: pc.LocalDescription().SDP}, cfg.Owner)
	if err != nil {
		return nil, fmt.Errorf("live: dial: %w", err)
	}
	answers := make(chan []byte, 4)
	stop, err := cfg.Transport.Subscribe(ctx, TopicAnswer, func(b []byte) {
		select {
		case answers <- bytes.Clone(b):
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("live: dial: subscribe %s: %w", TopicAnswer, err)
	}
	defer stop()
	if err := cfg.Transport.Publish(ctx, TopicOffer, signed); err != nil {
		return nil, fmt.Errorf("live: dial: publish %s: %w", TopicOffer, err)
	}
	a, err := awaitAnswer(ctx, answers, cfg, nonce)
	if err != nil {
		return nil, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
		return nil, fmt.Errorf("live: dial: remote description: %w", err)
	}
	return &Viewer{PC: pc, Answer: a, Pictures: pictures, Tracks: tracks, Closed: closed}, nil
}

// awaitAnswer returns the first answer for this offer's nonce. Answers for
// other viewers' offers (another nonce) are ignored; an answer claiming this
// nonce that does not verify against the pinned key ends the dial: it is
// refused, not skipped.
func awaitAnswer(ctx context.Context, answers <-chan []byte, cfg ViewerConfig, nonce []byte) (Answer, error) {
	for {
		select {
		case <-ctx.Done():
			return Answer{}, fmt.Errorf("live: dial: waiting for the answer: %w", ctx.Err())
		case b := <-answers:
			unverified, _, err := ParseAnswer(b)
			if err == nil && !bytes.Equal(unverified.Nonce, nonce) {
				continue // another viewer's answer
			}
			a, err := VerifyAnswer(b, cfg.DeviceKey, cfg.DeviceID, nonce)
			if err != nil {
				return a, fmt.Errorf("live: dial: answer refused: %w", err)
			}
			return a, nil
		}
	}
}
