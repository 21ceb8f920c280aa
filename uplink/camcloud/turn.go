package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/pion/turn/v5"
)

// The dev cloud's TURN server (camcloud serve -turn): a camera behind NAT,
// or the QEMU camera whose user network carries only forwarded TCP, reaches
// a viewer through it. TCP on the given address (the host's loopback for
// make run; the guest reaches it through QEMU's forward), relaying UDP from
// the host's own address, where a browser on the host gathers its
// candidates. One long-term credential for TURNUser, kept in the data
// folder (TURNCredFile, 0600); scripts/cloud.sh flash copies it onto the
// camera's flash for [live] turn_credential_file, and the page gets it from
// GET /app/api/ice after sign-in. It relays bytes only: both ends of a live
// session check signatures, so the relay can neither forge nor read them.
const (
	TURNUser     = "camera"
	TURNRealm    = "camagent-dev"
	TURNCredFile = "turn.cred"
)

// turnCred returns the TURN credential of the data folder, making it on
// first use.
func (c *cloud) turnCred() (string, error) {
	p := filepath.Join(c.dir, TURNCredFile)
	b, err := atomicfile.ReadFileMax(p, 1<<10)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("turn: credential: %w", err)
	}
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	cred := hex.EncodeToString(r[:])
	if err := storage.WriteFileAtomic(p, []byte(cred+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("turn: credential: %w", err)
	}
	return cred, nil
}

// relayIP is the address the TURN server relays from: the host's first
// global unicast IPv4 address (a browser on the host offers candidates
// there, not on the loopback), else the loopback.
func relayIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.To4()
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// startTURN starts the TURN server on listen (TCP); close stops it.
func (c *cloud) startTURN(listen string) (*turn.Server, net.Addr, error) {
	cred, err := c.turnCred()
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen: %w", err)
	}
	key := turn.GenerateAuthKey(TURNUser, TURNRealm, cred)
	ip := relayIP()
	s, err := turn.NewServer(turn.ServerConfig{
		Realm: TURNRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == TURNUser
		},
		ListenerConfigs: []turn.ListenerConfig{{Listener: ln,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: ip.String()}}},
	})
	if err != nil {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("turn: %w", err)
	}
	c.turnURL = "turn:" + ln.Addr().String() + "?transport=tcp"
	return s, ln.Addr(), nil
}

// iceServer is one entry of the page's RTCPeerConnection iceServers.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// apiICE answers GET /app/api/ice: the ICE servers the signed-in page
// uses (the TURN server when serve runs one; none otherwise).
func (c *cloud) apiICE(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.viewerAccount(w, r); !ok {
		return
	}
	out := struct {
		ICEServers []iceServer `json:"ice_servers"`
	}{ICEServers: []iceServer{}}
	if c.turnURL != "" {
		cred, err := c.turnCred()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.ICEServers = append(out.ICEServers, iceServer{URLs: []string{c.turnURL}, Username: TURNUser, Credential: cred})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
