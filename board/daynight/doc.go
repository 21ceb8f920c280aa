// Package daynight decides when the camera switches between day mode (IR-cut
// filter in front of the sensor, IR LEDs off) and night mode (filter out, IR
// LEDs on), drives the two outputs, and tells the rest of the agent — above
// all the motion detector, which must re-learn its background instead of
// reporting the switch as motion.
//
// The input is a light level: the mean scene luma of a frame, 0..255 (the
// motion detector reports it with each frame's result, for every format it
// reads, MJPEG included, so this package needs no frames), or a light
// sensor's reading (ReadSensor parses an IIO illuminance file); thresholds
// are in the same unit as the input. The decision:
//
//   - the level is smoothed by an exponential moving average with time
//     constant Smoothing, so single frames (a passing headlight) do not count;
//   - hysteresis: day turns to night below NightBelow, night turns to day
//     above DayAbove (DayAbove > NightBelow);
//   - dwell: the smoothed level must stay past the threshold for Hold
//     before the switch;
//   - anti-flap: when the level goes back past the other threshold within
//     FlapWindow of a switch, the hold of the coming switch is doubled (up to
//     MaxHoldFactor times), because the switch itself changes the picture:
//     the IR LEDs light the scene, and the camera's auto-exposure pulls the
//     luma back up. The factor returns to 1 once a mode holds for FlapWindow
//     before the level turns.
//
// Observe takes the sample's own time (the frame's capture time), so the
// controller has no clock of its own and tests drive it with any timeline.
// Force pins a mode (the shell's or a command's "day"/"night"); Release
// returns to automatic.
//
// Luma is a poor light meter while auto-exposure runs: at night with the IR
// LEDs on, auto-exposure can bring the mean luma back to daytime values. Set
// DayAbove above the luma the IR LEDs alone produce (watch Status().Level at
// night), prefer a light sensor where the board has one, and rely on the
// anti-flap hold for the rest.
package daynight
