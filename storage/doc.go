// Package storage is the camera's SD card: where event clips are written, how
// they survive power loss, and how the card's health is watched.
//
// A card can be missing, mounted read-only after the kernel saw errors, full,
// or failing with I/O errors; the agent must notice each, report it, keep
// detecting motion, and resume recording by itself when a writable card is
// back. Card probes the mount table (never writing to a mount point that is not
// mounted, which would fill the root filesystem instead) and statfs for space;
// read-only is believed from any of the mount options ("ro", or "emergency_ro",
// which newer kernels show beside "rw" for an ext4 that failed), the statfs
// ST_RDONLY flag, or a write probe (a small file created and removed at the
// card's root at most once a minute) that the filesystem refuses; Store.Check adds what the last write said (StateIOError after EIO; StateOf
// maps write errors to states).
//
// Every file the agent writes on the card is written crash-safe: to a temporary
// name in the same directory, synced, renamed, and the directory synced
// (storage/atomicfile), so a power cut leaves either the old or the new file.
//
// # Clips
//
// Store is the clip store. Store.Create starts a clip as <base>.mp4.part: the
// init segment, then (ClipWriter.AddSample) one fragment of about
// DefaultFragmentDuration per write, each followed by fdatasync, so a power
// cut costs at most the fragment being written; writes are batched per
// fragment, never per frame. ClipWriter.Seal writes the last fragment, signs
// the video with Content Credentials when StoreConfig.Credentials is set,
// renames it to <base>.mp4 and syncs the folder: the clip is sealed
// and its video is never modified again (only retention deletes it). Then the
// clip is completed, in this order:
//
// Signing in place. An SD card wears with every byte written, and a slow
// one takes as long to write a copy as the clip took to record; so a clip is
// not copied to be signed. With SlotCredentials (package c2pa's Signer) the
// clip is created with a C2PA manifest box reserved right after ftyp, sized
// for the most fragments the clip can reach (ClipSpec.MaxFragments, which
// the recorder derives from its longest clip), and each fragment is
// followed, in the same fdatasync, by its C2PA Merkle box; the BMFF hashes
// of the init segment and of each fragment are taken from the bytes as they
// are written. The seal signs the manifest and writes it into the reserved
// box (the store padded to its size inside the COSE signature's unprotected
// header), one write and one fdatasync before the rename, then reads the
// file once for its SHA-256. A power cut before that sync leaves an unsigned
// .part (or one with a torn manifest), which Recover cuts back to its last
// whole fragment, gives back its last Merkle box if the cut took it, and
// signs in place. A clip with more fragments than its reservation, or one
// written without a reservation, is signed as before: a signed copy written
// to a temporary file, synced and renamed over the .part (a crash leaves the
// unsigned .part or the signed one, both whole). BenchmarkSealClip: for a 10
// s 640x480 MJPEG clip of 6.1 MB in 5 fragments, the seal writes 9.4 KB in
// place against 6.1 MB for the copy (so a clip costs the card 6.2 MB, not
// 12.3 MB); the reservation for 192 fragments costs 6.4 KB per clip.
//
//  1. the thumbnail <base>.jpg (write-temp, fsync, rename, folder fsync);
//  2. StoreConfig.OnSeal, which writes the signed manifest <base>.manifest
//     (it gets the ClipInfo with the SHA-256 and size of the video and the
//     thumbnail);
//  3. the metadata <base>.json, written last: a clip whose metadata exists is
//     complete, and only complete clips are uploaded. The store announces
//     each complete clip to its subscribers (Store.Subscribe; also
//     StoreConfig.OnComplete) and lists the complete clips not uploaded yet
//     (Store.Pending), so the upload queue never looks at the card's
//     folders itself.
//
// Store.Recover runs at start-up and whenever the card comes back: each .part
// that is not being written is cut back to its last whole fragment (fmp4.Scan
// checks every box and each fragment's checksum) and sealed, or removed when
// it holds none (and signed, with its rebuilt thumbnail, when Credentials is
// set); each sealed clip without metadata is completed (OnSeal is
// called again, so it must accept a clip it has seen); sidecars without a
// clip and temporary files are removed; the counts are logged and returned.
//
// # Layout on the card, under the mount point
//
//	camagent/state.json   the agent's run record: boot ID, start time, whether
//	                      the previous run shut down cleanly, frames captured
//	camagent/clips/YYYY/MM/DD/HHMMSS-e<event>[-<n>].<ext>
//	                      one clip's files, named by the UTC capture time of
//	                      its first frame and the motion event that opened it
//	                      (-2, -3, ... when that name is taken: event numbers
//	                      restart with the agent):
//	  .mp4.part           the clip being written (or left by a crash)
//	  .mp4                the sealed clip: fragmented MP4, H.264 (avc1) or
//	                      MJPEG (mp4v, object type 0x6C)
//	  .jpg                its thumbnail, about 320 pixels wide
//	  .manifest           its signed manifest (written by the OnSeal hook)
//	  .json               its metadata (Metadata): events, times, frames,
//	                      codec, size, SHA-256 of the video and thumbnail
//	  .uploaded           the upload marker (Store.MarkUploaded): the time the
//	                      upload finished
//
// # Retention
//
// Store.Enforce keeps the free space above Retention.FreeFloor and the clips
// below Retention.Quota by deleting the oldest clips that are already
// uploaded; clips not uploaded yet are deleted, oldest first, only while the
// free space is below Retention.CriticalFloor. A clip being written is never
// deleted. A deletion removes the video first and then its sidecars, so a
// crash in between leaves only sidecars, which Recover removes. Each deletion
// is logged and reported to StoreConfig.OnDelete. The recorder runs retention
// before opening each clip and every minute while it records.
//
// The owner's snapshots (the folder SnapshotsDir beside the clips': a signed
// NAME.jpg, its NAME.manifest and, once sent, NAME.uploaded) fill the same
// card, so they are under the same retention and the same rules: counted in
// the quota, uploaded ones deleted oldest first for the free floor and the
// quota, ones not uploaded only below the critical floor. Clips and
// snapshots are taken together by time (a clip's start, a snapshot's time in
// its name): the older of the oldest clip and the oldest snapshot that may go
// is deleted first. Deletion{Snapshot: true} reports one.
//
// Store.Clips lists the clips for `camagent ctl clips`: recording, sealed,
// uploaded, incomplete (sealed video, metadata not written yet) or partial
// (a .part Recover has not handled yet).
package storage
