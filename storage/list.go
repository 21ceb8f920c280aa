package storage

import (
	"os"
	"time"
)

// Clips lists the clips on the card, oldest first: sealed ones (with what
// their metadata says), the ones being written (as of their last fragment),
// and any left by a crash that Recover has not handled yet.
func (s *Store) Clips() ([]ClipInfo, error) {
	days, err := s.days()
	if err != nil {
		return nil, err
	}
	var out []ClipInfo
	for _, day := range days {
		names, files, _, err := s.dayClips(day)
		if err != nil {
			return out, err
		}
		for _, name := range names {
			have := files[name]
			switch {
			case have&hasClip != 0:
				out = append(out, s.sealedInfo(name, have))
			case have&hasPart != 0:
				out = append(out, s.partInfo(name))
			}
		}
	}
	return out, nil
}

func (s *Store) sealedInfo(name string, have int) ClipInfo {
	info := ClipInfo{Name: name, Path: s.path(name, ExtClip), State: ClipIncomplete}
	if cn, err := ParseClipName(name); err == nil {
		info.Start, info.Events = cn.Start, []uint64{cn.Event}
	}
	if st, err := os.Stat(info.Path); err == nil {
		info.Size = st.Size()
	}
	if have&hasMetadata != 0 {
		mp := s.path(name, ExtMetadata)
		if f, err := os.Open(mp); err == nil {
			m, err := ReadMetadata(f)
			f.Close()
			if err == nil {
				info.State, info.Metadata = ClipSealed, mp
				info.Start, info.EventTime, info.Events, info.Part = m.Start, m.EventTime, m.Events, m.Part
				info.Duration, info.Frames = time.Duration(m.DurationMS)*time.Millisecond, m.Frames
				info.Codec, info.Width, info.Height, info.SHA256 = m.Codec, m.Width, m.Height, m.SHA256
				info.PeakScore, info.PeakBoxes, info.Recovered = m.PeakScore, m.PeakBoxes, m.Recovered
				if m.Thumbnail != "" {
					info.Thumbnail = s.path(name, ExtThumbnail)
					info.ThumbnailSize, info.ThumbnailSHA256 = m.ThumbnailSize, m.ThumbnailSHA256
				}
			}
		}
	}
	if have&hasSidecar != 0 {
		if exists(s.path(name, ExtManifest)) {
			info.Manifest = s.path(name, ExtManifest)
		}
		if info.State == ClipSealed && exists(s.path(name, ExtUploaded)) {
			info.State = ClipUploaded
		}
	}
	return info
}

func (s *Store) partInfo(name string) ClipInfo {
	info := ClipInfo{Name: name, Path: s.path(name, ExtClip+ExtPart), State: ClipPartial}
	if cn, err := ParseClipName(name); err == nil {
		info.Start, info.Events = cn.Start, []uint64{cn.Event}
	}
	s.mu.Lock()
	p := s.open[name]
	if p != nil {
		info.State, info.Start, info.Events = ClipRecording, p.start, []uint64{p.event}
		info.Frames, info.Duration, info.Size = p.frames, p.duration, p.size
	}
	s.mu.Unlock()
	if p == nil {
		if st, err := os.Stat(info.Path); err == nil {
			info.Size = st.Size()
		}
	}
	return info
}
