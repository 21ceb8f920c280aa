package ingest_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
)

// BenchmarkIngestVerified measures verified ingest throughput on loopback
// mutual TLS: each op is one item (a manifest, a 1 MiB clip and a 16 KiB
// thumbnail) posted, verified (certificate, signature, chain, owner lookup,
// SHA-256 of each object) and stored. objects/s counts the clip and the
// thumbnail. "sync" keeps every fsync (the ingest's durable default);
// "nosync" shows the cost of the verification and the protocol alone.
func BenchmarkIngestVerified(b *testing.B) {
	// A few distinct clips and thumbnails, hashed once: the loop measures
	// the ingest (and the client's sending), not the camera hashing.
	const variants = 4
	var objs [variants][2]upload.Object
	for v := range variants {
		c, th := blob(1, v, 0, 1<<20), blob(1, v, 1, 16<<10)
		objs[v][0] = upload.Object{Object: manifest.Object{Role: manifest.RoleClip, MediaType: "video/mp4", Size: uint64(len(c)), SHA256: sha256.Sum256(c)}, Data: c}
		objs[v][1] = upload.Object{Object: manifest.Object{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Size: uint64(len(th)), SHA256: sha256.Sum256(th)}, Data: th}
	}
	for _, durable := range []bool{true, false} {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("sync=%v/devices=%d", durable, par), func(b *testing.B) {
				opt := ingesttest.Options{Sync: durable}
				if durable {
					opt.Root = b.TempDir() // on disk: fsync costs what it costs
				}
				env := ingesttest.Start(b, opt)
				b.SetBytes(int64(objs[0][0].Size + objs[0][1].Size))
				devs := make([]*ingesttest.Device, par)
				clients := make([]*upload.Client, par)
				for i := range devs {
					devs[i] = env.NewDevice(b, "bench")
					tr := &http.Transport{TLSClientConfig: devs[i].TLS(env.Roots())}
					b.Cleanup(tr.CloseIdleConnections)
					clients[i], _ = upload.NewClient(upload.ClientConfig{URL: env.URL, Transport: tr})
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				for i := range par {
					wg.Add(1)
					go func() {
						defer wg.Done()
						d, cl := devs[i], clients[i]
						for n := i; n < b.N; n += par {
							o := objs[n%variants]
							cose, m := d.NextObjects(b, o[0].Object, o[1].Object)
							it := upload.Item{Manifest: cose, Seq: m.Seq, Objects: o[:]}
							if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
								b.Errorf("send: %v", err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "objects/s")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
			})
		}
	}
}

// BenchmarkIngestManifests measures verified manifests per second, the
// ingest's throughput for small items: each op is one manifest (naming a
// 1 KiB thumbnail) posted over loopback mutual TLS, verified (certificate,
// signature, chain, owner lookup) and stored; its object is not sent, so
// the figure is the ingest's per-item cost without the bytes. Manifests are
// signed before the timer starts: the loop measures the ingest and the
// client's HTTP, not the cameras' signing. "verify" is the bound: the
// signature check alone (manifest.VerifySelf) on one core.
func BenchmarkIngestManifests(b *testing.B) {
	b.Run("verify", func(b *testing.B) {
		env := ingesttest.Start(b, ingesttest.Options{})
		d := env.NewDevice(b, "bench")
		cose, _ := d.Next(b, ingesttest.Thumb(blob(1, 1, 1, 1024)))
		b.ResetTimer()
		for range b.N {
			if _, _, err := manifest.VerifySelf(cose); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "manifests/s")
	})
	th := blob(1, 1, 1, 1024)
	obj := manifest.Object{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Size: uint64(len(th)), SHA256: sha256.Sum256(th)}
	type variant struct {
		durable, perRequest bool
		par                 int
	}
	var variants []variant
	for _, durable := range []bool{false, true} {
		for _, par := range []int{1, 4, 16} {
			variants = append(variants, variant{durable, false, par})
			if !durable { // the comparison: the certificate chain checked on every request, as before
				variants = append(variants, variant{durable, true, par})
			}
		}
	}
	for _, v := range variants {
		durable, par := v.durable, v.par
		name := fmt.Sprintf("sync=%v/devices=%d", durable, par)
		if v.perRequest {
			name = fmt.Sprintf("sync=%v/cert-per-request/devices=%d", durable, par)
		}
		b.Run(name, func(b *testing.B) {
			opt := ingesttest.Options{Sync: durable, CertPerRequest: v.perRequest}
			if durable {
				opt.Root = b.TempDir() // on disk: fsync costs what it costs
			}
			env := ingesttest.Start(b, opt)
			devs := make([]*ingesttest.Device, par)
			clients := make([]*upload.Client, par)
			signed := make([][][]byte, par)
			for i := range devs {
				devs[i] = env.NewDevice(b, "bench")
				tr := &http.Transport{TLSClientConfig: devs[i].TLS(env.Roots())}
				b.Cleanup(tr.CloseIdleConnections)
				clients[i], _ = upload.NewClient(upload.ClientConfig{URL: env.URL, Transport: tr})
				for n := i; n < b.N; n += par {
					cose, _ := devs[i].NextObjects(b, obj)
					signed[i] = append(signed[i], cose)
				}
			}
			b.SetBytes(int64(len(signed[0][0])))
			cpu0 := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range par {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, cose := range signed[i] {
						if _, err := clients[i].PostManifest(context.Background(), cose); err != nil {
							b.Errorf("post: %v", err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "manifests/s")
			// CPU of the whole process (ingest and clients) per manifest.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
