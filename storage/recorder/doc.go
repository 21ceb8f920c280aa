// Package recorder turns motion events into clips on the SD card: it is the
// part of the agent that takes frames from its own capture queue, keeps the
// pre-roll, and writes a clip per event through the storage.Store.
//
// # Pipeline
//
// Run owns three goroutines. The intake takes frames from the capture.Queue
// (which drops its oldest frame rather than stall capture), keeps one frame
// per clip frame interval (Config.FPS) of raw and MJPEG sources, checks MJPEG
// frames (SOI and EOI markers) and finds H.264 keyframes. Raw frames (YUYV,
// NV12, GREY) are converted into one of a few reusable pictures and handed to
// the encoder goroutine, which JPEG-encodes them; when no picture is free by
// the time the next frame of the clip rate is due, the encoder is behind and
// the frame is dropped and counted (a shorter stall, as a busy CPU at
// start-up causes on a slow camera, only delays the frame). Not at start,
// though: until the writer has handled its first sample (after its card
// check and crash recovery, and the encoder's first, slower picture) the
// intake waits for a picture or buffer rather than count a drop that says
// nothing about the steady state; its capture queue, which drops its oldest
// frame, absorbs the wait. The writer
// goroutine keeps the pre-roll ring and the clip state, and does all the card
// I/O. Every queue between them is bounded, and no buffer is allocated per
// frame in the steady state (image/jpeg allocates a little per picture).
//
// # Clips
//
// The daemon reports motion events with Notify (start, and again at the
// end). Frame capture times drive everything, so a slow card or a late event
// changes nothing: a clip opens at the first sample at or after an event's
// start, beginning PreRoll before it (from the ring, which holds at least
// PreRoll plus EventLag of samples when PreRollBytes allows, and for H.264
// starts on a keyframe); it runs while an event is going on and PostRoll
// after the last one ended; an event that starts before the clip closed
// extends it; a clip longer than MaxClip is sealed and continued in a new one
// (part 2, 3, ...), at a keyframe for H.264. If no frame comes for IdleSeal,
// the open clip is sealed.
//
// The thumbnail is made from the frame with the highest motion score offered
// through Peak during the clip (the recorder keeps one copy of it); without
// one, from the clip's first frame of the event (MJPEG clips only).
//
// # The card
//
// Before opening a clip the recorder checks the card (mount table and free
// space, storage.Store.Check) and runs retention; every CheckEvery of frame
// time it checks again and every RetentionEvery it runs retention. When the
// card is missing, read-only, full beyond what retention can free, or a
// write fails, the open clip is sealed or left to recovery, frames keep
// being taken (the pre-roll stays current), and each CheckEvery the card is
// checked again: once it is writable, Recover seals what was left, and
// recording resumes by itself.
package recorder
