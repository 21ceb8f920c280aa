package main

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
	"github.com/chromedp/chromedp"
)

// lyingEvents is a cloud that tampers with the events read API's answers
// after its own check: what the page must catch by verifying itself.
type lyingEvents struct {
	mu     sync.Mutex
	change func(*EventList)
}

func (l *lyingEvents) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var list EventList
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		l.mu.Lock()
		if l.change != nil {
			l.change(&list)
		}
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
}

// TestWebPageEventsInChromium: Debian's chromium, headless, shows the
// device's events signed by its key as verified, in plain words, and its
// state from the newest state event; the events a lying cloud changed (a
// payload byte, re-signed by another device's key as this device, signed
// by another device, owned by another account, a signature not in canonical
// low-s form) are refused with the reason
// and not shown; new events arrive while the page is open.
func TestWebPageEventsInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	lie := &lyingEvents{}
	r := newWebRig(t, lie.wrap)
	id := r.id
	bobKey, _, err := identity.OpenDeviceKey(filepath.Join(t.TempDir(), "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	bob := bobKey.DeviceID()

	// The events the camera signed, stored as the cloud's receiver stores them.
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	sign := func(key *identity.DeviceKey, owner string, seq uint64, e event.Event) []byte {
		t.Helper()
		e.Time = t0.Add(time.Duration(seq) * time.Minute)
		b, err := event.Sign(event.Header{Owner: owner, Seq: seq, BootID: "boot-A", ClockTrusted: true}, e, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	store := func(cose ...[]byte) {
		t.Helper()
		dir := filepath.Join(r.data, eventsDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, id+receiver.Suffix), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, b := range cose {
			fmt.Fprintln(f, base64.StdEncoding.EncodeToString(b))
		}
	}
	store(
		sign(r.alice.key, "alice", 1, event.Event{Kind: event.KindOnline, Uptime: 5 * time.Second}),
		sign(r.alice.key, "alice", 2, event.Event{Kind: event.KindMotionStart, ScorePPM: 123000, MotionID: 1}),
		sign(r.alice.key, "alice", 3, event.Event{Kind: event.KindClipSealed, Clip: "clip-3.mp4", Bytes: 1 << 20, Duration: 5 * time.Second}),
		sign(r.alice.key, "alice", 4, event.Event{Kind: event.KindMotionEnd}),
		sign(r.alice.key, "alice", 5, event.Event{Kind: event.KindState, Uptime: 3720 * time.Second, SDFree: 3 << 30, SDTotal: 8 << 30, FPS: 10, Backlog: 2}),
		sign(r.alice.key, "alice", 6, event.Event{Kind: event.KindMotionStart, ScorePPM: 250000, Boxes: []event.Box{{X: 1, Y: 2, W: 30, H: 40}}, MotionID: 2}),
		sign(r.alice.key, "alice", 7, event.Event{Kind: event.KindClipSealed, Clip: "clip-7.mp4", Bytes: 2 << 20, Duration: 8 * time.Second}),
		sign(r.alice.key, "alice", 8, event.Event{Kind: event.KindDayNight, State: "night"}),
	)
	// Signed by the camera, but for another account: the cloud leaves it
	// out, the lie below puts it back.
	mallory := sign(r.alice.key, "mallory", 9, event.Event{Kind: event.KindMotionStart, ScorePPM: 1})
	store(mallory)
	byBob := sign(bobKey, "alice", 4, event.Event{Kind: event.KindMotionEnd})
	// Event 1 with its signature's s replaced by n-s: it still verifies
	// with WebCrypto, but it is not the one canonical form the device signs.
	highS := bytes.Clone(must(os.ReadFile(filepath.Join(r.data, eventsDir, id+receiver.Suffix))))
	highS = must(base64.StdEncoding.DecodeString(string(highS[:bytes.IndexByte(highS, '\n')])))
	sv := new(big.Int).SetBytes(highS[len(highS)-32:])
	new(big.Int).Sub(elliptic.P256().Params().N, sv).FillBytes(highS[len(highS)-32:])
	lie.mu.Lock()
	lie.change = func(l *EventList) {
		for i, it := range l.Items {
			b, err := base64.StdEncoding.DecodeString(it.COSE)
			if err != nil {
				t.Error(err)
				return
			}
			switch it.Seq {
			case 2: // one payload byte changed
				b = bytes.Replace(b, []byte("boot-A"), []byte("boot-B"), 1)
			case 3: // the same payload, re-signed by bob's key, kid and all naming this device
				m, err := envelope.Parse(b, event.ContentType)
				if err != nil {
					t.Error(err)
					return
				}
				if b, err = envelope.Seal(bobKey, event.ContentType, m.KID, m.Payload); err != nil {
					t.Error(err)
					return
				}
			case 4: // bob's own event
				b = byBob
			}
			l.Items[i].COSE = base64.StdEncoding.EncodeToString(b)
		}
		l.Items = append(l.Items, EventItem{Seq: 9, Kind: "motion-start", COSE: base64.StdEncoding.EncodeToString(mallory)},
			EventItem{Seq: 1, Kind: "online", COSE: base64.StdEncoding.EncodeToString(highS)})
	}
	lie.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := openPage(ctx, t, r.hs.URL+"/app/")
	p.do("sign in", chromedp.SendKeys("#account", "alice"), chromedp.SendKeys("#token", r.token), click("#signin"),
		wait("window.camagent.devicesLoaded === true && window.camagent.eventsLoaded >= 1"))

	shown := func(seq int) string {
		return p.eval(fmt.Sprintf(`(() => { const e = document.querySelector('li.event[data-seq="%d"]'); return e ? e.dataset.kind + ': ' + e.textContent : '' })()`, seq))
	}
	for _, c := range []struct {
		seq  int
		want string
	}{
		{1, "online: 2026-12-04 09:01:00Z #1 came online (up 5 s)"},
		{5, "state: 2026-12-04 09:05:00Z #5 status report: SD card 3.0 GiB free of 8.0 GiB, 10.0 frames/s, 2 clip(s) waiting to upload, up 1 h 2 min"},
		{6, "motion-start: 2026-12-04 09:06:00Z #6 motion started (score 25.0%, 1 region(s))"},
		{7, "clip-sealed: 2026-12-04 09:07:00Z #7 clip clip-7.mp4 recorded (2.0 MiB, 8.0 s)"},
		{8, "day-night: 2026-12-04 09:08:00Z #8 switched to night mode"},
	} {
		if got := shown(c.seq); got != c.want {
			t.Errorf("event #%d: the page shows %q, want %q", c.seq, got, c.want)
		}
	}
	for _, seq := range []int{2, 3, 4, 9} {
		if got := shown(seq); got != "" {
			t.Errorf("event #%d was tampered with, yet the page shows it: %q", seq, got)
		}
	}
	stateLine := func() string {
		return p.eval(fmt.Sprintf(`document.querySelector('.state[data-device="%s"]').textContent`, id))
	}
	if got, want := stateLine(), "State (verified, 2026-12-04 09:05:00Z): online; SD card 3.0 GiB free of 8.0 GiB, 10.0 frames/s, 2 clip(s) waiting to upload, up 1 h 2 min; clock synchronised"; got != want {
		t.Errorf("state: the page shows %q, want %q", got, want)
	}
	log := p.eval(`document.getElementById('log').textContent`)
	for _, want := range []string{
		fmt.Sprintf("REFUSED event #2 (motion-start) of %s: the signature does not verify with %s's pinned key", id, id),
		fmt.Sprintf("REFUSED event #3 (clip-sealed) of %s: the signature does not verify with %s's pinned key", id, id),
		fmt.Sprintf("REFUSED event #4 (motion-end) of %s: signed as %s, not %s", id, bob, id),
		fmt.Sprintf(`REFUSED event #9 (motion-start) of %s: owned by "mallory", not by alice`, id),
		fmt.Sprintf("REFUSED event #1 (online) of %s: signature s is not low", id),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the refusals do not say %q:\n%s", want, log)
		}
	}
	p.screenshot("events.png")

	// A new event while the page is open: the camera went offline.
	store(sign(r.alice.key, "alice", 10, event.Event{Kind: event.KindOffline}))
	p.do("see the new event", wait(`document.querySelector('li.event[data-seq="10"]') !== null`))
	if got := shown(10); got != "offline: 2026-12-04 09:10:00Z #10 went offline" {
		t.Errorf("event #10: the page shows %q", got)
	}
	if got := stateLine(); !strings.HasPrefix(got, "State (verified, 2026-12-04 09:10:00Z): offline; SD card 3.0 GiB free") {
		t.Errorf("state after going offline: %q", got)
	}
	if n := strings.Count(p.eval(`document.getElementById('log').textContent`), "REFUSED event #2 "); n != 1 {
		t.Errorf("event #2 is refused %d times in the list, want once", n)
	}

	// The read API itself, without the lie: limit keeps the newest.
	lie.mu.Lock()
	lie.change = nil
	lie.mu.Unlock()
	for _, c := range []struct {
		query  string
		status int
		seqs   string
	}{
		{"", 200, "1 2 3 4 5 6 7 8 10"}, // 9 is mallory's: the cloud leaves it out
		{"?limit=2", 200, "8 10"},
		{"?after=6&limit=20", 200, "7 8 10"},
		{"?limit=0", 400, ""},
		{"?limit=x", 400, ""},
	} {
		status, l := eventsAPI(t, r, c.query)
		var seqs []string
		for _, it := range l.Items {
			seqs = append(seqs, fmt.Sprint(it.Seq))
		}
		if status != c.status || strings.Join(seqs, " ") != c.seqs {
			t.Errorf("events%s: %d %q, want %d %q", c.query, status, strings.Join(seqs, " "), c.status, c.seqs)
		}
	}
}

// eventsAPI gets the read API's answer for one device as the viewer.
func eventsAPI(t *testing.T, r *webRig, query string) (int, EventList) {
	t.Helper()
	req, err := http.NewRequest("GET", r.hs.URL+fmt.Sprintf(PathEventsFmt, r.id)+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := r.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l EventList
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, l
}
