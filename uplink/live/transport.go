package live

import "context"

// Topic suffixes of live-view signaling, under the device's own MQTT prefix
// camagent/v1/<device-id>/. Every candidate travels inside the signed SDP
// (offers and answers are sent once ICE gathering is complete), so no
// separate, unsigned candidate topic is needed.
const (
	TopicOffer  = "live/offer"
	TopicAnswer = "live/answer"
)

// Transport carries signed signaling bytes for ONE device: topics are the
// suffixes above, relative to that device's prefix. The MQTT client
// implements it for the device (subscribe to offers, publish answers); a
// cloud relay implements it per device for viewers (publish offers,
// subscribe to answers). The transport authenticates nothing: every message
// is verified by its receiver from its signature alone.
type Transport interface {
	// Publish sends payload on topic; it returns when the transport has
	// taken it, or when ctx ends.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe calls handle with every payload that arrives on topic until
	// stop is called or ctx ends. handle must not block for long and must
	// not keep payload after it returns.
	Subscribe(ctx context.Context, topic string, handle func(payload []byte)) (stop func(), err error)
}
