package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// The MQTT rig's pairing and service helpers, shared by the MQTT tests and
// the live-view test (which a nolive build leaves out).

// pair pairs the rig's device: the cloud signs an owner binding naming a
// new owner key, which it returns.
func (r *mqttRig) pair(t *testing.T) *ecdsa.PrivateKey {
	_, owner := r.pairAs(t, "owner@example.com")
	return owner
}

// pairAs pairs the rig's device to account: it returns the cloud's pairing
// key (identity.cloud_key) and the owner key the binding names.
func (r *mqttRig) pairAs(t *testing.T, account string) (cloud, owner *ecdsa.PrivateKey) {
	cloud, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	binding, owner := signBinding(t, r.key.DeviceID(), account, time.Now(), cloud)
	os.WriteFile(identity.BindingPath(r.keyPath), binding, 0o600)
	cloudPEM, _ := identity.PublicKeyPEM(cloud.Public())
	r.cloudKey = r.dir + "/cloud.pub"
	os.WriteFile(r.cloudKey, cloudPEM, 0o644)
	return cloud, owner
}

// signBinding is an owner binding of device to account, issued at issued,
// naming a new owner key (returned), signed by the cloud's pairing key.
func signBinding(t *testing.T, device, account string, issued time.Time, cloud *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	owner, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ownerDER, err := identity.PublicKeyDER(owner.Public())
	if err != nil {
		t.Fatal(err)
	}
	binding, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: device, OwnerAccount: account,
		OwnerKey: ownerDER, Issued: issued}, cloud)
	if err != nil {
		t.Fatal(err)
	}
	return binding, owner
}

// connected waits until the started daemon's MQTT client is connected and
// returns the cloud's service client, a control client of the daemon and a
// context that ends after the test's patience.
func (r *mqttRig) connected(t *testing.T) (paho.Client, *control.Client, context.Context) {
	svc := r.service(t)
	client := &control.Client{Socket: r.sock}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	t.Cleanup(cancel)
	waitFor(t, "mqtt connected", func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.MQTT != nil && st.MQTT.Connected
	})
	return svc, client, ctx
}

// service connects the cloud service identity to the rig's broker.
func (r *mqttRig) service(t *testing.T) paho.Client {
	svc := paho.NewClient(paho.NewClientOptions().AddBroker(r.env.URL()).SetClientID(mqtttest.ServiceName).
		SetTLSConfig(r.env.ServiceTLS(mqtttest.ServiceName)).SetConnectTimeout(patience))
	if tok := svc.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("service connect: %v", tok.Error())
	}
	t.Cleanup(func() { svc.Disconnect(0) })
	return svc
}
