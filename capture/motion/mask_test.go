package motion

import (
	"math/rand/v2"
	"testing"
)

func randomMask(w, h int, density float64, seed uint64) bitmask {
	r := rand.New(rand.NewPCG(seed, 3))
	m := newBitmask(w, h)
	for y := range h {
		for x := range w {
			if r.Float64() < density {
				m.bits[y*m.words+x/64] |= 1 << (uint(x) & 63)
			}
		}
	}
	return m
}

// naiveMorph is the textbook definition, cells outside the grid being 0.
func naiveMorph(src *bitmask, op byte) bitmask {
	dst := newBitmask(src.w, src.h)
	at := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < src.w && y < src.h && src.get(x, y)
	}
	for y := range src.h {
		for x := range src.w {
			var nb [][2]int
			if op == 'E' || op == 'D' {
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						nb = append(nb, [2]int{dx, dy})
					}
				}
			} else {
				nb = [][2]int{{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}}
			}
			erode := op == 'e' || op == 'E'
			v := erode
			for _, d := range nb {
				if erode {
					v = v && at(x+d[0], y+d[1])
				} else {
					v = v || at(x+d[0], y+d[1])
				}
			}
			if v {
				dst.bits[y*dst.words+x/64] |= 1 << (uint(x) & 63)
			}
		}
	}
	return dst
}

func TestMorph(t *testing.T) {
	for _, size := range [][2]int{{5, 4}, {64, 10}, {65, 9}, {160, 120}, {130, 7}} {
		for _, density := range []float64{0.1, 0.5, 0.9} {
			src := randomMask(size[0], size[1], density, uint64(size[0]))
			for _, op := range []byte("eEdD") {
				want := naiveMorph(&src, op)
				got := newBitmask(size[0], size[1])
				morph(&got, &src, op, make([]uint64, len(src.bits)), 0, src.h)
				for i := range want.bits {
					if got.bits[i] != want.bits[i] {
						t.Fatalf("%v density %.1f op %c: word %d = %x, want %x", size, density, op, i, got.bits[i], want.bits[i])
					}
				}
			}
		}
	}
}

// naiveLabel flood-fills 8-connected regions and returns their areas and
// boxes, sorted for comparison.
func naiveLabel(m *bitmask) map[[5]int32]int {
	seen := make([]bool, m.w*m.h)
	out := map[[5]int32]int{}
	for y := range m.h {
		for x := range m.w {
			if !m.get(x, y) || seen[y*m.w+x] {
				continue
			}
			stack := [][2]int{{x, y}}
			seen[y*m.w+x] = true
			area, x0, y0, x1, y1 := 0, x, y, x+1, y+1
			for len(stack) > 0 {
				p := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				area++
				x0, y0, x1, y1 = min(x0, p[0]), min(y0, p[1]), max(x1, p[0]+1), max(y1, p[1]+1)
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						nx, ny := p[0]+dx, p[1]+dy
						if nx >= 0 && ny >= 0 && nx < m.w && ny < m.h && m.get(nx, ny) && !seen[ny*m.w+nx] {
							seen[ny*m.w+nx] = true
							stack = append(stack, [2]int{nx, ny})
						}
					}
				}
			}
			out[[5]int32{int32(area), int32(x0), int32(y0), int32(x1), int32(y1)}]++
		}
	}
	return out
}

func TestLabel(t *testing.T) {
	for _, size := range [][2]int{{5, 4}, {64, 10}, {65, 9}, {160, 120}, {200, 3}} {
		for _, density := range []float64{0.05, 0.3, 0.5, 0.7, 1} {
			m := randomMask(size[0], size[1], density, uint64(size[1]))
			r := newRegions(size[0], size[1])
			r.labelMask(&m)
			got := map[[5]int32]int{}
			for k := range r.n {
				got[[5]int32{r.area[k], r.x0[k], r.y0[k], r.x1[k], r.y1[k]}]++
			}
			want := naiveLabel(&m)
			if len(got) != len(want) {
				t.Fatalf("%v density %.2f: %d distinct regions, want %d", size, density, len(got), len(want))
			}
			for k, n := range want {
				if got[k] != n {
					t.Fatalf("%v density %.2f: region %v found %d times, want %d", size, density, k, got[k], n)
				}
			}
		}
	}
	// The worst case for the run buffers: a checkerboard.
	m := newBitmask(9, 5)
	for y := range 5 {
		for x := range 9 {
			if (x+y)%2 == 0 {
				m.bits[y*m.words] |= 1 << uint(x)
			}
		}
	}
	r := newRegions(9, 5)
	r.labelMask(&m)
	if r.n != 1 || r.area[0] != 23 {
		t.Fatalf("checkerboard: %d regions, area %d; want 1 of 23", r.n, r.area[0])
	}
}

func TestZoneMask(t *testing.T) {
	square := [][2]float64{{0, 0}, {0.5, 0}, {0.5, 0.5}, {0, 0.5}}
	tests := []struct {
		name  string
		zones []Zone
		want  int // cells analysed of 10x10
	}{
		{"none", nil, 100},
		{"include quarter", []Zone{{Polygon: square}}, 25},
		{"exclude quarter", []Zone{{Polygon: square, Exclude: true}}, 75},
		{"include minus exclude", []Zone{{Polygon: [][2]float64{{0, 0}, {1, 0}, {1, 0.5}, {0, 0.5}}}, {Polygon: square, Exclude: true}}, 25},
		{"triangle", []Zone{{Polygon: [][2]float64{{0, 0}, {0.95, 0}, {0, 0.95}}}}, 45},
	}
	for _, tt := range tests {
		m := zoneMask(tt.zones, 10, 10)
		if got := m.count(); got != tt.want {
			t.Errorf("%s: %d cells, want %d", tt.name, got, tt.want)
		}
	}
}
