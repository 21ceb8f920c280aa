// Command pion is the least a program serving live view with pion/webrtc
// links: a PeerConnection that answers an offer, with a data channel it
// sends on and an H.264 track it writes samples to; nothing of camagent
// (README "Size budget": what blocks 12 MB stripped). It is built, never
// run.
package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

func main() {
	offer, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{
		ICEServers: []webrtc.ICEServer{{URLs: []string{os.Getenv("TURN")}, Username: "u", Credential: "p"}},
	})
	if err != nil {
		panic(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "video", "camagent")
	if err != nil {
		panic(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		panic(err)
	}
	dc, err := pc.CreateDataChannel("frames", nil)
	if err != nil {
		panic(err)
	}
	dc.OnOpen(func() {
		fmt.Println(dc.Send(offer), track.WriteSample(media.Sample{Data: offer, Duration: time.Second / 25}))
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { fmt.Println(s) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		panic(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	<-webrtc.GatheringCompletePromise(pc)
	fmt.Println(pc.LocalDescription().SDP, err, pc.Close())
}
