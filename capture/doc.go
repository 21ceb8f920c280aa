// Package capture turns a camera into a stream of frames for the rest of the
// agent.
//
// A Source (the V4L2 device, and for tests and development a synthetic scene or a
// Y4M file) yields Frames whose pixels live in buffers taken from a fixed Pool, so
// capture allocates nothing per frame once it runs. A Hub fans each frame out to
// its consumers (motion detection, the recorder, live view), each through its own
// bounded Queue that drops its oldest frame when the consumer falls behind:
// capture never waits for a consumer.
package capture
