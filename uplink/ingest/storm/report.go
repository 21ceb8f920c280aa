package storm

import (
	"fmt"
	"strings"
	"time"
)

// Report is the runs side by side as text: the figures, the attempts per
// second over time and the histogram of the cameras' time back.
func Report(runs []*Result, note string) string {
	if len(runs) == 0 {
		return ""
	}
	var b strings.Builder
	r0 := runs[0]
	fmt.Fprintf(&b, "Reconnect storm: %d cameras, cloud down %v, retry backoff base %v cap %v (%s).\n",
		r0.Devices, r0.Outage, r0.Backoff.Base, r0.Backoff.Cap, note)
	b.WriteString("Cloud: the real ingest in its own process, loopback mutual TLS, its owner lookup the faulty cache\n")
	b.WriteString("(answers about other devices); cameras: own P-256 key, dev-CA certificate, signed chained manifests,\n")
	b.WriteString("the real upload client; time back = from the cloud's return to the camera's item stored.\n\n")
	row := func(label string, f func(r *Result) string) {
		fmt.Fprintf(&b, "%-44s", label)
		for _, r := range runs {
			fmt.Fprintf(&b, " %16s", f(r))
		}
		b.WriteByte('\n')
	}
	row("", func(r *Result) string { return name(r) })
	row("cameras through", func(r *Result) string { return fmt.Sprintf("%d/%d", len(r.Back), r.Devices) })
	row("uploads lost", func(r *Result) string { return fmt.Sprint(r.Lost + r.Check.StoredMissing) })
	row("first phase: all connected and uploaded in", func(r *Result) string { return dur(r.ConnectTime) })
	row("time back p50", func(r *Result) string { return dur(r.Percentile(50)) })
	row("time back p95", func(r *Result) string { return dur(r.Percentile(95)) })
	row("time back p99 (99% of cameras back)", func(r *Result) string { return dur(r.Percentile(99)) })
	row("time back max (100% back)", func(r *Result) string { return dur(r.Percentile(100)) })
	row("upload attempts (outage and storm)", func(r *Result) string { return fmt.Sprint(sum(r.Attempts)) })
	row("  of which failed to connect", func(r *Result) string { return fmt.Sprint(sum(r.ConnFailed)) })
	row("  of which the ingest refused (retry)", func(r *Result) string { return fmt.Sprint(sum(r.Refused)) })
	row("    503 overloaded (admission control)", func(r *Result) string {
		return fmt.Sprint(r.Cloud.Ingest.Admission.Overloaded)
	})
	row("  connections closed before the handshake", func(r *Result) string {
		a := r.Cloud.Ingest.Admission
		return fmt.Sprint(a.ConnsRefused + a.HandshakeWaitExpired)
	})
	row("  client-certificate checks / reused", func(r *Result) string {
		a := r.Cloud.Ingest.Admission
		return fmt.Sprintf("%d/%d", a.CertVerified, a.CertReused)
	})
	row("peak attempts/s", func(r *Result) string { return fmt.Sprintf("%.0f", peakRate(r)) })
	row("peak attempts/s after the cloud returned", func(r *Result) string { return fmt.Sprintf("%.0f", peakRateAfter(r)) })
	row("cloud peak heap (live objects, storm)", func(r *Result) string { return mib(r.Cloud.HeapPeak) })
	row("cloud peak RSS (storm)", func(r *Result) string { return mib(r.CloudPeakRSS) })
	row("cloud VmHWM (whole life)", func(r *Result) string { return mib(r.CloudHWM) })
	row("cloud CPU, outage + storm", func(r *Result) string { return fmt.Sprintf("%.2f s", r.CloudCPU.Seconds()) })
	row("cloud CPU after its return", func(r *Result) string {
		return fmt.Sprintf("%.2f s", r.CloudCPUStorm.Seconds())
	})
	row("cloud peak connections", func(r *Result) string { return fmt.Sprint(r.Cloud.ConnsPeak) })
	row("cloud peak goroutines", func(r *Result) string { return fmt.Sprint(r.Cloud.GoroutinesPeak) })
	row("owner lookups", func(r *Result) string { return fmt.Sprint(r.Cloud.LookupCalls) })
	row("  mixed up by the cache / detected", func(r *Result) string {
		return fmt.Sprintf("%d/%d", r.Cloud.LookupFaults, r.Cloud.Ingest.LookupMixups)
	})
	row("  refused lookup-inconsistent (retried)", func(r *Result) string {
		return fmt.Sprint(r.Cloud.Ingest.Refused["lookup-inconsistent"])
	})
	row("items stored, under their signer", func(r *Result) string { return fmt.Sprint(r.Check.Stored) })
	row("objects served and shown by the viewer", func(r *Result) string { return fmt.Sprint(r.Check.Served) })
	row("stranger's device refused", func(r *Result) string {
		return fmt.Sprintf("%d/%d", r.Check.StrangerRefused, r.Check.Strangers)
	})
	row("WRONG ATTRIBUTIONS stored / served", func(r *Result) string {
		return fmt.Sprintf("%d / %d", r.Check.WrongStored(), r.Check.WrongServed())
	})
	b.WriteString("\nMQTT (each camera's real mqtt.Client, its outbox and signed events; a real mosquitto stopped\n")
	b.WriteString("with the cloud and restarted; the cloud's real receiver verifying and storing by signature):\n")
	row("first phase: all connected, 1st event stored", func(r *Result) string { return dur(r.MQTT.ConnectTime) })
	row("client memory per camera (heap+stacks)", func(r *Result) string {
		return fmt.Sprintf("%d KiB", r.MQTT.ClientMem>>10)
	})
	row("client goroutines per camera", func(r *Result) string { return fmt.Sprintf("%.1f", r.MQTT.ClientGoroutines) })
	row("camera worker processes", func(r *Result) string { return fmt.Sprint(r.MQTT.Workers) })
	row("  their peak RSS (sum) / CPU", func(r *Result) string {
		return fmt.Sprintf("%s / %s", mib(r.MQTT.WorkersHWM), dur(r.MQTT.WorkersCPU))
	})
	row("cameras reconnected", func(r *Result) string { return fmt.Sprintf("%d/%d", len(r.MQTT.Back), r.Devices) })
	row("reconnected p50 (from broker restart)", func(r *Result) string { return dur(r.MQTT.Percentile(50)) })
	row("reconnected p99 (99% of cameras)", func(r *Result) string { return dur(r.MQTT.Percentile(99)) })
	row("reconnected max (100%)", func(r *Result) string { return dur(r.MQTT.Percentile(100)) })
	row("all queued events stored by", func(r *Result) string { return dur(r.MQTT.EventsTime) })
	row("connection attempts (outage and storm)", func(r *Result) string { return fmt.Sprint(sum(r.MQTT.Attempts)) })
	row("peak connection attempts/s", func(r *Result) string {
		return fmt.Sprintf("%.0f", peakOf(r.MQTT.Attempts, r.Bucket))
	})
	row("events raised (1 before, 2 during outage)", func(r *Result) string { return fmt.Sprint(r.MQTT.EventsSent) })
	row("events stored exactly once", func(r *Result) string { return fmt.Sprint(r.MQTT.Stored) })
	row("EVENTS LOST / stored twice", func(r *Result) string {
		return fmt.Sprintf("%d / %d", r.MQTT.Lost, r.MQTT.Repeats)
	})
	row("repeats the receiver dropped (by seq)", func(r *Result) string { return fmt.Sprint(r.MQTT.Duplicates) })
	row("receiver refused / dropped", func(r *Result) string {
		return fmt.Sprintf("%d / %d", r.MQTT.ReceiverRefused, r.MQTT.ReceiverDropped)
	})
	row("WRONG ATTRIBUTIONS (device/account)", func(r *Result) string { return fmt.Sprint(r.MQTT.Wrong) })
	row("broker peak RSS after restart", func(r *Result) string { return mib(r.MQTT.BrokerPeakRSS) })
	row("broker VmHWM (restarted process)", func(r *Result) string { return mib(r.MQTT.BrokerHWM) })
	row("broker CPU after restart", func(r *Result) string { return fmt.Sprintf("%.2f s", r.MQTT.BrokerCPU.Seconds()) })

	// Attempts per second over time, at most 48 rows.
	fmt.Fprintf(&b, "\nUpload attempts and MQTT connection attempts per second since the outage began (* = the cloud is back):\n")
	rows := 0
	for _, r := range runs {
		rows = max(rows, len(r.Attempts))
	}
	merge := (rows + 47) / 48
	width := r0.Bucket * time.Duration(merge)
	peak := 0.0
	for _, r := range runs {
		peak = max(peak, peakRate(r), peakOf(r.MQTT.Attempts, r.Bucket))
	}
	fmt.Fprintf(&b, "%9s", "t")
	for _, r := range runs {
		fmt.Fprintf(&b, "  %-8s %-24s", "", name(r)+" upload")
		fmt.Fprintf(&b, "  %-8s %-24s", "", name(r)+" MQTT")
	}
	b.WriteByte('\n')
	for k := 0; k < rows; k += merge {
		at := time.Duration(k) * r0.Bucket
		mark := ' '
		if at >= r0.Outage {
			mark = '*'
		}
		fmt.Fprintf(&b, "%8.2fs%c", at.Seconds(), mark)
		for _, r := range runs {
			for _, xs := range [][]int64{r.Attempts, r.MQTT.Attempts} {
				var n int64
				for j := k; j < k+merge && j < len(xs); j++ {
					n += xs[j]
				}
				rate := float64(n) / width.Seconds()
				fmt.Fprintf(&b, "  %8.0f %-24s", rate, bar(rate, peak, 24))
			}
		}
		b.WriteByte('\n')
	}

	// The time back, 20 bins.
	fmt.Fprintf(&b, "\nCameras by time back (from the cloud's return to their item stored):\n")
	var hi time.Duration
	for _, r := range runs {
		hi = max(hi, r.Percentile(100))
	}
	const bins = 20
	bw := max(hi/bins+1, time.Millisecond)
	counts := make([][bins]int, len(runs))
	cmax := 0
	for i, r := range runs {
		for _, d := range r.Back {
			k := min(int(d/bw), bins-1)
			counts[i][k]++
			cmax = max(cmax, counts[i][k])
		}
	}
	fmt.Fprintf(&b, "%19s", "time back")
	for _, r := range runs {
		fmt.Fprintf(&b, "  %-6s %-24s", "", name(r))
	}
	b.WriteByte('\n')
	for k := range bins {
		fmt.Fprintf(&b, "%8s - %8s", dur(time.Duration(k)*bw), dur(time.Duration(k+1)*bw))
		for i := range runs {
			fmt.Fprintf(&b, "  %6d %-24s", counts[i][k], bar(float64(counts[i][k]), float64(cmax), 24))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func name(r *Result) string {
	if r.NoJitter {
		return "no jitter"
	}
	return "full jitter"
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func mib(n uint64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

func peakRate(r *Result) float64 {
	var p int64
	for _, x := range r.Attempts {
		p = max(p, x)
	}
	return float64(p) / r.Bucket.Seconds()
}

func peakRateAfter(r *Result) float64 {
	var p int64
	for k, x := range r.Attempts {
		if time.Duration(k)*r.Bucket >= r.Outage {
			p = max(p, x)
		}
	}
	return float64(p) / r.Bucket.Seconds()
}

func bar(v, peak float64, width int) string {
	if peak <= 0 || v <= 0 {
		return ""
	}
	n := int(v / peak * float64(width))
	if n == 0 {
		return "."
	}
	return strings.Repeat("#", n)
}
