package main

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// The function tables (.gopclntab) are about a third of a Go binary and the
// funcdata blob (the go:func.* symbol: stack maps, inlining trees) another
// few percent; neither has a symbol per function. pclnShares reads both and
// gives each function's bytes to its package: its name, its _func record
// with its pcdata and funcdata offsets, the pc-value tables it points to
// (a table the linker shares between functions counts once, for the first
// function that uses it) and the funcdata it points to (the span up to the
// next funcdata, likewise counted once). What is left over (the header,
// file and compilation-unit tables, the function index, the names of
// inlined functions) is one group.
//
// The layout is the one the Go 1.20+ linker writes (magic 0xfffffff1) and
// the runtime reads (runtime/symtab.go: pcHeader, _func); another layout is
// an error, and sizetop then falls back to one group for the whole section.

const (
	pclnMagic  = 0xfffffff1
	funcFixed  = 44 // bytes of _func before its pcdata and funcdata offsets
	noFuncdata = ^uint32(0)
)

// pclnShares returns bytes per package within .gopclntab, and per package
// within the go:func.* symbol (gofuncAddr, gofuncSize; 0 when unknown).
func pclnShares(f *elf.File, gofuncAddr, gofuncSize uint64) (pcln, gofunc map[string]uint64, err error) {
	sec := f.Section(".gopclntab")
	if sec == nil {
		return nil, nil, errors.New("no .gopclntab")
	}
	tab, err := sec.Data()
	if err != nil {
		return nil, nil, err
	}
	bo := f.ByteOrder
	if len(tab) < 8 || bo.Uint32(tab) != pclnMagic {
		return nil, nil, fmt.Errorf(".gopclntab: not the Go 1.20+ layout")
	}
	ptr := int(tab[7])
	if ptr != 4 && ptr != 8 {
		return nil, nil, fmt.Errorf(".gopclntab: pointer size %d", ptr)
	}
	word := func(i int) (uint64, error) { // header field i (after the first 8 bytes)
		o := 8 + i*ptr
		if o+ptr > len(tab) {
			return 0, errors.New(".gopclntab: short header")
		}
		if ptr == 4 {
			return uint64(bo.Uint32(tab[o:])), nil
		}
		return bo.Uint64(tab[o:]), nil
	}
	var h [8]uint64 // nfunc, nfiles, (unused), funcname, cu, filetab, pctab, pcln
	for i := range h {
		if h[i], err = word(i); err != nil {
			return nil, nil, err
		}
	}
	nfunc, names, pctab, pclnOff := h[0], h[3], h[6], h[7]
	if pclnOff > uint64(len(tab)) || names > uint64(len(tab)) || pctab > uint64(len(tab)) ||
		pclnOff+(nfunc+1)*8 > uint64(len(tab)) {
		return nil, nil, errors.New(".gopclntab: offsets out of range")
	}
	ftab := tab[pclnOff:]
	pcln = map[string]uint64{}
	gofunc = map[string]uint64{}
	seenTable := map[uint32]bool{}
	type fd struct {
		off uint32
		pkg string
	}
	var fds []fd
	seenFD := map[uint32]bool{}
	for i := uint64(0); i < nfunc; i++ {
		foff := uint64(bo.Uint32(ftab[i*8+4:]))
		if foff+funcFixed > uint64(len(ftab)) {
			return nil, nil, errors.New(".gopclntab: _func out of range")
		}
		fn := ftab[foff:]
		name := cstring(tab, names+uint64(int32(bo.Uint32(fn[4:]))))
		pkg := pkgOf(name)
		npcdata, nfuncdata := uint64(bo.Uint32(fn[28:])), uint64(fn[43])
		size := funcFixed + 4*npcdata + 4*nfuncdata
		if foff+size > uint64(len(ftab)) {
			return nil, nil, errors.New(".gopclntab: _func tables out of range")
		}
		size += uint64(len(name)) + 1
		offs := []uint32{bo.Uint32(fn[16:]), bo.Uint32(fn[20:]), bo.Uint32(fn[24:])} // pcsp, pcfile, pcln
		for j := uint64(0); j < npcdata; j++ {
			offs = append(offs, bo.Uint32(fn[funcFixed+4*j:]))
		}
		for _, o := range offs {
			if o == 0 || seenTable[o] {
				continue
			}
			seenTable[o] = true
			size += tableLen(tab, pctab+uint64(o))
		}
		pcln[pkg] += size
		for j := uint64(0); j < nfuncdata; j++ {
			o := bo.Uint32(fn[funcFixed+4*npcdata+4*j:])
			if o != noFuncdata && !seenFD[o] {
				seenFD[o] = true
				fds = append(fds, fd{o, pkg})
			}
		}
	}
	var sum uint64
	for _, s := range pcln {
		sum += s
	}
	if sum > uint64(len(tab)) {
		return nil, nil, errors.New(".gopclntab: counted more than the section holds")
	}
	// go:func.* lies inside .gopclntab (Go 1.26 puts it there); its bytes
	// are counted per package below, not as left over.
	left := uint64(len(tab)) - sum
	if gofuncAddr >= sec.Addr && gofuncAddr+gofuncSize <= sec.Addr+sec.Size && gofuncSize <= left {
		left -= gofuncSize
	}
	pcln["(function tables: index, files, names of inlined calls)"] += left
	if gofuncSize > 0 {
		sort.Slice(fds, func(i, j int) bool { return fds[i].off < fds[j].off })
		for i, d := range fds {
			end := gofuncSize
			if i+1 < len(fds) {
				end = uint64(fds[i+1].off)
			}
			if uint64(d.off) < end {
				gofunc[d.pkg] += end - uint64(d.off)
			}
		}
		if len(fds) > 0 && fds[0].off > 0 {
			gofunc["(linker tables: go:func.*, pclntab, ...)"] += uint64(fds[0].off)
		}
	}
	return pcln, gofunc, nil
}

// tableLen is the length of the pc-value table at off: (value delta, pc
// delta) varint pairs up to a zero value delta after the first pair.
func tableLen(tab []byte, off uint64) uint64 {
	p := off
	for first := true; p < uint64(len(tab)); first = false {
		if tab[p] == 0 && !first {
			return p + 1 - off
		}
		for n := 0; n < 2 && p < uint64(len(tab)); n++ { // value delta, then pc delta
			_, k := binary.Uvarint(tab[p:])
			if k <= 0 {
				return uint64(len(tab)) - off
			}
			p += uint64(k)
		}
	}
	return p - off
}

// cstring is the NUL-terminated string at off in b.
func cstring(b []byte, off uint64) string {
	if off >= uint64(len(b)) {
		return ""
	}
	end := off
	for end < uint64(len(b)) && b[end] != 0 {
		end++
	}
	return string(b[off:end])
}
