// A reader of the fragmented MP4 clips camagent writes: one video track,
// samples in moof/mdat fragments. It returns each sample's bytes and time.

// boxes lists the boxes in b[start, end) (ISO BMFF framing, also JUMBF's).
export function boxes(b, start, end) {
  const out = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = start;
  while (i + 8 <= end) {
    let size = dv.getUint32(i);
    const type = String.fromCharCode(b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
    let hdr = 8;
    if (size === 1) { size = Number(dv.getBigUint64(i + 8)); hdr = 16; }
    if (size === 0) size = end - i;
    if (size < hdr || i + size > end) throw new Error(`mp4: box ${type} overruns its parent`);
    out.push({ type, start: i, body: i + hdr, end: i + size });
    i += size;
  }
  return out;
}
const child = (b, box, type) => boxes(b, box.body, box.end).find((x) => x.type === type);

export function parseFMP4(b) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const top = boxes(b, 0, b.length);
  const moov = top.find((x) => x.type === 'moov');
  if (!moov) throw new Error('mp4: no moov');
  const mdia = child(b, child(b, moov, 'trak'), 'mdia');
  const mdhd = child(b, mdia, 'mdhd');
  const timescale = b[mdhd.body] === 1 ? dv.getUint32(mdhd.body + 20) : dv.getUint32(mdhd.body + 12);
  const stsd = child(b, child(b, child(b, mdia, 'minf'), 'stbl'), 'stsd');
  const entry = boxes(b, stsd.body + 8, stsd.end)[0];
  const codec = entry.type;
  let codecString = codec;
  if (codec === 'avc1') {
    const avcC = boxes(b, entry.body + 78, entry.end).find((x) => x.type === 'avcC');
    codecString = 'avc1.' + [1, 2, 3].map((k) => b[avcC.body + k].toString(16).padStart(2, '0')).join('');
  }
  const samples = [];
  for (const moof of top.filter((x) => x.type === 'moof')) {
    const traf = child(b, moof, 'traf');
    const tfhd = child(b, traf, 'tfhd');
    const tf = dv.getUint32(tfhd.body) & 0xffffff;
    let p = tfhd.body + 8;
    let base = moof.start, defDur = 0, defSize = 0;
    if (tf & 0x01) { base = Number(dv.getBigUint64(p)); p += 8; }
    if (tf & 0x02) p += 4;
    if (tf & 0x08) { defDur = dv.getUint32(p); p += 4; }
    if (tf & 0x10) { defSize = dv.getUint32(p); p += 4; }
    const tfdt = child(b, traf, 'tfdt');
    let t = 0;
    if (tfdt) t = b[tfdt.body] === 1 ? Number(dv.getBigUint64(tfdt.body + 4)) : dv.getUint32(tfdt.body + 4);
    for (const trun of boxes(b, traf.body, traf.end).filter((x) => x.type === 'trun')) {
      const fl = dv.getUint32(trun.body) & 0xffffff;
      const n = dv.getUint32(trun.body + 4);
      let q = trun.body + 8, off = base;
      if (fl & 0x01) { off = base + dv.getInt32(q); q += 4; }
      if (fl & 0x04) q += 4;
      for (let k = 0; k < n; k++) {
        let dur = defDur, size = defSize;
        if (fl & 0x100) { dur = dv.getUint32(q); q += 4; }
        if (fl & 0x200) { size = dv.getUint32(q); q += 4; }
        if (fl & 0x400) q += 4;
        if (fl & 0x800) q += 4;
        if (off + size > b.length) throw new Error('mp4: sample outside the file');
        samples.push({ time: t, data: b.subarray(off, off + size) });
        off += size; t += dur;
      }
    }
  }
  if (samples.length === 0) throw new Error('mp4: no samples');
  const t0 = samples[0].time;
  samples.forEach((s) => { s.time -= t0; });
  return { codec, codecString, timescale, samples };
}
