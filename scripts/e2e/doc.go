// Package e2e holds the end-to-end test of the QEMU cameras: it boots the
// initramfs that scripts/image.sh builds (the arm64 or mipsle agent, the kernel's vivid
// driver as the camera, a disk image as the SD card) with scripts/qemu.sh, talks
// to the agent through the serial console, powers the camera off and checks the
// SD card from the host. It exists so that one command (make e2e) shows that
// the agent captures, detects motion, records, signs, survives a power cut and
// shuts down cleanly on a real kernel, which no unit test on the host can show.
//
// Before each card's first boot the test provisions it for the dev cloud
// (scripts/flash.sh and scripts/cloud.sh flash: the flash partition with the
// device key, certificate, owner binding for account
// "dev", the cloud's CA and pairing key), against a `camcloud serve` it runs
// on a free loopback port that the guest reaches as 10.0.2.100:8443, with
// its mosquitto on another free loopback port that the guest reaches as
// 10.0.2.100:8883.
//
// The vfat card (a consumer SD card) carries the long checks:
//
//   - a still scene (vivid's movement and clock off) for 60 s of stream time:
//     no motion event, no clip;
//   - vivid's movement switched on for 6 s through `camagent ctl control`: an
//     event starts within 1 s of stream time (the agent's log times of the
//     control change and the event), and ends after the event gap once the
//     movement stops; its clip is sealed and signed;
//   - the clip is uploaded: `camcloud list -account dev` shows it and its
//     thumbnail (fetched with the manifest and verified again), and a second
//     account sees nothing of the camera (the read API answers forbidden);
//   - MQTT (mqtt_test.go): the camera's signed motion event reaches the
//     cloud's mosquitto (camcloud serve -mqtt, the guest's 10.0.2.100:8883
//     forwarded to it) and `camcloud events -account dev` shows it,
//     verified, while the other account's viewer gets "no such device"
//     for the camera's events; config patches signed by a new key and by
//     the other account's owner key are refused by the camera (its log
//     says unsigned); the owner's patch sent with `camcloud cmd` comes back
//     as the camera's signed result "done", and the running agent reloads
//     its config with the new motion threshold; the owner's snapshot
//     command makes a JPEG signed with the camera's next manifest, which
//     `camcloud list` shows verified (the MIPS camera runs this step too);
//   - live view (live_test.go, arm64 vfat card): headless chromium opens the
//     dev cloud's page, signs in as the owner and registers its WebCrypto
//     key; the binding the cloud signs for it (naming the CLI key too)
//     reaches the camera over MQTT, which verifies and installs it on its
//     flash; the page's signed offer reaches the camera over
//     mosquitto, the page verifies the camera's signed answer against the
//     pinned device key, and vivid's 640x480 pictures arrive as JPEG over a
//     WebRTC data channel, through the dev cloud's TURN server (camcloud
//     serve -turn, pion/turn, as make run starts it; TCP through a
//     forwarded port: QEMU's restricted network carries nothing else), set
//     in [live] of scripts/qemu/camagent.toml; the qemu-virt budget's live
//     allowance admits the viewer without a config patch;
//   - after a clean power-off, from the host: the clip, thumbnail, metadata
//     and manifest copied out with mtools, probed and decoded with ffprobe and
//     ffmpeg, and verified with a host build of `camagent verify`;
//   - a second boot records and seals a short clip, starts another and is
//     killed (SIGKILL to QEMU, a power cut) while that one is a .part with
//     whole fragments; a third boot must recover it; from the host the
//     recovered clip and both clips sealed before the cut must probe and
//     verify.
//
// The ext4 card only boots, answers and powers off cleanly.
//
// TestPowerCut (powercut_test.go) cuts the power (SIGKILL of QEMU) of a
// camera recording motion at random moments, CAMAGENT_POWERCUTS times per
// file system (3 in make e2e, 20 in make powercut), on a new vfat and a new
// ext4 card, booting again each time; then it boots once more so the agent
// recovers and uploads its backlog, powers off cleanly, and checks from the
// host: every boot's card check (camagent-sd-check in /init) found the card
// clean or repaired it, the card checks clean, every sealed clip probes and
// decodes, no sequence number repeats, the manifest chain never forks, and
// the dev cloud holds every manifest of the card once, byte for byte, and
// nothing else. Its consoles are in out/powercut-<fs>/.
//
// The MIPS camera (mipsle, -M malta) runs a shorter path on a vfat card:
// boot to first frame, a 10 s still scene, the motion event and its clip,
// the upload, the MQTT step, and the clip checked from the host (no power
// cut). Each
// camera's run logs the agent's CPU, RSS and capture rate in its guest.
//
// Each camera reaches a time server (NTP over TCP, board/timesync) that the
// test runs on the host's loopback, as 10.0.2.100:123.
//
// Console logs are saved in out/e2e-console-*.log. The test runs only with
// CAMAGENT_E2E=1 (make e2e sets it), since it needs the built image and QEMU.
package e2e
