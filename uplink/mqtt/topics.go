package mqtt

import (
	"fmt"
	"net/url"
	"strings"
)

// TopicRoot is the prefix of every camagent topic.
const TopicRoot = "camagent/v1/"

// Topics are one device's topics.
type Topics struct {
	State, Events, Command, Result, Live string
	// Binding carries the owner binding the cloud signed for the device
	// (retained, so a device offline at pairing gets it when it connects).
	Binding string
}

// TopicsFor returns the topics of device id.
func TopicsFor(id string) Topics {
	p := TopicRoot + id + "/"
	return Topics{State: p + "state", Events: p + "events", Command: p + "cmd", Result: p + "cmd/result",
		Live: p + "live", Binding: p + "binding"}
}

// SplitTopic returns the device ID and the rest of a camagent topic
// ("state", "events", "cmd", "cmd/result", "live/...", "binding"). The ID is only a
// routing hint: who sent a message is what its signature says.
func SplitTopic(topic string) (device, rest string, ok bool) {
	s, ok := strings.CutPrefix(topic, TopicRoot)
	if !ok {
		return "", "", false
	}
	device, rest, ok = strings.Cut(s, "/")
	return device, rest, ok && device != "" && rest != ""
}

func (t Topics) forRoute(r byte) string {
	switch r {
	case routeState:
		return t.State
	case routeResult:
		return t.Result
	}
	return t.Events
}

// checkBroker accepts tls://, ssl:// and mqtts:// URLs with a host and port.
func checkBroker(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: broker %q: %v", ErrConfig, s, err)
	}
	switch u.Scheme {
	case "tls", "ssl", "mqtts":
	default:
		return fmt.Errorf("%w: broker %q: want tls://HOST:PORT (mutual TLS only)", ErrConfig, s)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("%w: broker %q: want tls://HOST:PORT", ErrConfig, s)
	}
	return nil
}
