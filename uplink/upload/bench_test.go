package upload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
)

// wire counts the bytes on a client's TLS connections and its requests.
type wire struct {
	bytes    atomic.Int64
	requests atomic.Int64
}

func (w *wire) transport(cfg *http.Transport) http.RoundTripper {
	cfg.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countConn{Conn: c, n: &w.bytes}, nil
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		w.requests.Add(1)
		return cfg.RoundTrip(r)
	})
}

func (w *wire) reset() { w.bytes.Store(0); w.requests.Store(0) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkUploadOverhead: what the signed, resumable upload of one clip
// (a 1 MiB clip and its 16 KiB thumbnail, over an established mutual-TLS
// connection) costs on the wire and in round trips, against plain HTTP PUTs
// of the same bytes to a server that just reads them.
func BenchmarkUploadOverhead(b *testing.B) {
	clip, thumb := bytes.Repeat([]byte("c"), 1<<20), bytes.Repeat([]byte("t"), 16<<10)
	clip[0], thumb[0] = 1, 2
	objs := []upload.Object{
		{Object: manifest.Object{Role: manifest.RoleClip, MediaType: "video/mp4", Size: uint64(len(clip)), SHA256: sha256.Sum256(clip)}, Data: clip},
		{Object: manifest.Object{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Size: uint64(len(thumb)), SHA256: sha256.Sum256(thumb)}, Data: thumb},
	}
	payload := float64(len(clip) + len(thumb))
	report := func(b *testing.B, w *wire, base float64) {
		b.StopTimer()
		bytesPer := float64(w.bytes.Load()) / float64(b.N)
		b.ReportMetric(bytesPer, "wireB/clip")
		b.ReportMetric(float64(w.requests.Load())/float64(b.N), "roundtrips/clip")
		b.ReportMetric(bytesPer-base, "overheadB/clip")
	}

	b.Run("camagent", func(b *testing.B) {
		env := ingesttest.Start(b, ingesttest.Options{})
		d := env.NewDevice(b, "bench")
		var w wire
		tr := &http.Transport{TLSClientConfig: d.TLS(env.Roots())}
		b.Cleanup(tr.CloseIdleConnections)
		cl, _ := upload.NewClient(upload.ClientConfig{URL: env.URL, Transport: w.transport(tr)})
		send := func() {
			cose, m := d.NextObjects(b, objs[0].Object, objs[1].Object)
			it := upload.Item{Manifest: cose, Seq: m.Seq, Objects: objs}
			if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
				b.Fatalf("send: %v", err)
			}
		}
		send() // the TLS handshake
		b.Logf("first clip with the mutual-TLS handshake: %d bytes, %d requests", w.bytes.Load(), w.requests.Load())
		w.reset()
		b.SetBytes(int64(payload))
		b.ResetTimer()
		for range b.N {
			send()
		}
		report(b, &w, payload)
	})

	for _, withThumb := range []bool{false, true} {
		b.Run(fmt.Sprintf("plain-PUT/thumbnail=%v", withThumb), func(b *testing.B) {
			env := ingesttest.Start(b, ingesttest.Options{}) // for the CA and a device certificate
			d := env.NewDevice(b, "bench")
			cert, err := env.CA.ServerCertificate([]string{"127.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte("{}\n"))
			}))
			hs.TLS = ingest.TLSConfig(cert)
			hs.StartTLS()
			b.Cleanup(hs.Close)
			var w wire
			tr := &http.Transport{TLSClientConfig: d.TLS(env.Roots())}
			b.Cleanup(tr.CloseIdleConnections)
			hc := &http.Client{Transport: w.transport(tr)}
			put := func(body []byte) {
				req, _ := http.NewRequest(http.MethodPut, hs.URL+"/clip", bytes.NewReader(body))
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			put(thumb) // the TLS handshake
			w.reset()
			base := float64(len(clip))
			if withThumb {
				base = payload
			}
			b.SetBytes(int64(base))
			b.ResetTimer()
			for range b.N {
				put(clip)
				if withThumb {
					put(thumb)
				}
			}
			report(b, &w, base)
		})
	}
}
