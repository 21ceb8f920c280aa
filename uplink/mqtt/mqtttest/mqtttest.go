package mqtttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	"github.com/camagent/camagent/uplink/upload"
)

// ServiceName is the service identity the tests' cloud side uses.
const ServiceName = "camcloud-service"

// Env is a running broker and the CA around it.
type Env struct {
	t      testing.TB
	CA     *devca.CA
	Dir    string
	CAFile string
	Broker *mosquitto.Broker
	cfg    mosquitto.Config
}

// Device is a device identity with its certificate on disk.
type Device struct {
	Key      *ecdsa.PrivateKey
	ID       string
	CertPath string
	TLS      *tls.Config
}

// Start starts mosquitto for t; it is stopped at the end of the test.
func Start(t testing.TB) *Env {
	t.Helper()
	if _, err := mosquitto.Find(); err != nil {
		t.Fatalf("%v", err)
	}
	dir := t.TempDir()
	ca, err := devca.New("mqtttest CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{t: t, CA: ca, Dir: dir, CAFile: filepath.Join(dir, "ca.crt")}
	write(t, e.CAFile, ca.CertPEM())
	srv, err := ca.ServerCertificate([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate[0]}))
	der, err := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	e.cfg = mosquitto.Config{Dir: filepath.Join(dir, "broker"), Listen: "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		CAFile: e.CAFile, CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		Services: []string{ServiceName}}
	e.StartBroker()
	t.Cleanup(func() { e.StopBroker() })
	return e
}

// URL is the broker's URL.
func (e *Env) URL() string { return "tls://" + e.cfg.Listen }

// StartBroker (re)starts the broker on the same port and persistence.
func (e *Env) StartBroker() {
	e.t.Helper()
	b, err := mosquitto.Start(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.Broker = b
}

// StopBroker stops the broker (it saves its sessions).
func (e *Env) StopBroker() {
	if e.Broker != nil {
		_ = e.Broker.Stop()
		e.Broker = nil
	}
}

// NewDevice makes a device key and certificate.
func (e *Env) NewDevice() *Device {
	e.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.Device(key)
}

// Device issues a certificate for key, in a directory of its own.
func (e *Env) Device(key *ecdsa.PrivateKey) *Device {
	e.t.Helper()
	id, err := identity.DeviceID(key.Public())
	if err != nil {
		e.t.Fatal(err)
	}
	cert, err := e.CA.IssueDevice(key.Public(), e.CA.Certificate().NotBefore, e.CA.Certificate().NotAfter)
	if err != nil {
		e.t.Fatal(err)
	}
	d := filepath.Join(e.Dir, id)
	if err := os.MkdirAll(d, 0o700); err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(d, identity.CertFile)
	write(e.t, p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	tc, err := upload.TLSConfig(key, p, e.CA.CertPEM(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return &Device{Key: key, ID: id, CertPath: p, TLS: tc}
}

// ServiceTLS is the client TLS configuration of service identity name.
func (e *Env) ServiceTLS(name string) *tls.Config {
	e.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	cert, err := e.CA.IssueService(key.Public(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return &tls.Config{RootCAs: e.CA.Pool(), MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}}
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
