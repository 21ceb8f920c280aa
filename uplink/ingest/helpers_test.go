package ingest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/upload"
)

// deviceHTTP is an HTTP client presenting d's certificate (nil d: none).
func deviceHTTP(t testing.TB, env *ingesttest.Env, d *ingesttest.Device) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: env.Roots(), MinVersion: tls.VersionTLS12}
	if d != nil {
		cfg = d.TLS(env.Roots())
	}
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// uploadClient is the real upload client of device d.
func uploadClient(t testing.TB, env *ingesttest.Env, d *ingesttest.Device) *upload.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: d.TLS(env.Roots()), MaxIdleConnsPerHost: 2}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := upload.NewClient(upload.ClientConfig{URL: env.URL, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// answer is a decoded HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    protocol.ErrorAnswer
}

func (a answer) code() string {
	if a.status == http.StatusOK {
		return ""
	}
	return a.err.Code
}

func do(t testing.TB, hc *http.Client, method, url string, body io.Reader, length int64, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = length
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.StatusCode != http.StatusOK && method != http.MethodHead {
		if err := json.Unmarshal(b, &a.err); err != nil || a.err.Code == "" {
			t.Fatalf("%s %s: %d answer is not a JSON error with a code: %q", method, url, resp.StatusCode, b)
		}
	}
	return a
}

func postManifest(t testing.TB, env *ingesttest.Env, hc *http.Client, cose []byte) (answer, protocol.ManifestAnswer) {
	t.Helper()
	a := do(t, hc, http.MethodPost, env.URL+protocol.PathManifests, bytes.NewReader(cose), int64(len(cose)), nil)
	var m protocol.ManifestAnswer
	if a.status == http.StatusOK {
		var err error
		if m, err = protocol.DecodeManifestAnswer(bytes.NewReader(a.body)); err != nil {
			t.Fatalf("manifest answer: %v", err)
		}
	}
	return a, m
}

func put(t testing.TB, env *ingesttest.Env, hc *http.Client, sum [32]byte, off string, body []byte, chunked bool) answer {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	n := int64(len(body))
	if chunked {
		r, n = io.MultiReader(bytes.NewReader(body)), -1
	}
	return do(t, hc, http.MethodPut, env.URL+protocol.PathObjectPrefix+protocol.FormatSHA256(sum)+"?offset="+off, r, n, nil)
}

// viewerGet fetches a read-API path as the viewer with token.
func viewerGet(t testing.TB, env *ingesttest.Env, hc *http.Client, path, token string) answer {
	t.Helper()
	return do(t, hc, http.MethodGet, env.URL+path, nil, 0, map[string]string{"Authorization": "Bearer " + token})
}

// servedManifest decodes the manifest header of a served object.
func servedManifest(t testing.TB, a answer) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(a.header.Get(protocol.HeaderManifest))
	if err != nil || len(b) == 0 {
		t.Fatalf("served object without a manifest header: %v", err)
	}
	return b
}
