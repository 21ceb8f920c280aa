// Command base is the comparison point of scripts/livesize.sh: the camagent
// packages live view builds on, plus net/http and crypto/tls, without pion.
package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/jpegframe"
	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

// The agent already links net/http and crypto/tls (upload, control socket).
func main() {
	var p jpegframe.Picture
	_, err := envelope.Parse([]byte(os.Args[0]), "x")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	_, gerr := c.Get(os.Args[0])
	fmt.Println(identity.ValidDeviceID(os.Args[0]), p.Bounds(), &capture.Hub{}, fmp4.IsKeyframe(nil), err, gerr)
	_ = http.ListenAndServe(os.Args[0], nil)
}
