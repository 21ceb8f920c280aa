// Package synth generates camera footage with known ground truth, so the motion
// detector can be scored and the rest of the agent run without a camera.
//
// A Source renders one of a few scenes (Scenes) frame by frame as a
// capture.Source: a textured background with per-pixel sensor noise, and, per
// scene, moving objects, sudden light changes, an IR day/night switch, rolling
// flicker, swaying foliage, camera shake, slow illumination drift, travelling
// soft shadows and light spill, or snow, rain and insects near the lens under
// the IR lamp. The nuisance (shadows, spill, particles) is static in the truth:
// it is not motion an owner wants to hear about. Everything is computed from
// Config.Seed, so a seed always yields the same bytes.
//
// After each Next, Truth gives the frame's motion mask in the CDnet convention
// (255 moving object, 0 static, 170 "unknown": object borders and excluded
// zones), Spans gives the motion events of the whole scene up front, and
// ExcludeZones gives the zones a camera owner would draw around the foliage.
//
// WriteScene stores a scene as a Y4M file plus a truth file; ReadTruth reads the
// latter back. The truth file format is documented on WriteScene.
package synth
