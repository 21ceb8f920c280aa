package storm

import (
	"image"
	"image/color"
	"strings"
)

// glyphs is a 3x5 pixel font for the plot's labels (upper case, digits and
// a few signs): five rows of three, '#' lit. Pure Go, no font files.
var glyphs = map[rune]string{
	'A': ".#.#.#####.##.#", 'B': "##.#.###.#.###.", 'C': ".###..#..#...##", 'D': "##.#.##.##.###.",
	'E': "####..##.#..###", 'F': "####..##.#..#..", 'G': ".###..#.##.#.##", 'H': "#.##.#####.##.#",
	'I': "###.#..#..#.###", 'J': "..#..#..##.#.#.", 'K': "#.##.###.#.##.#", 'L': "#..#..#..#..###",
	'M': "#.########.##.#", 'N': "##.#.##.##.##.#", 'O': ".#.#.##.##.#.#.", 'P': "##.#.###.#..#..",
	'Q': ".#.#.##.###..##", 'R': "##.#.###.#.##.#", 'S': ".###...#...###.", 'T': "###.#..#..#..#.",
	'U': "#.##.##.##.####", 'V': "#.##.##.##.#.#.", 'W': "#.##.########.#", 'X': "#.##.#.#.#.##.#",
	'Y': "#.##.#.#..#..#.", 'Z': "###..#.#.#..###", '0': "####.##.##.####", '1': ".#.##..#..#.###",
	'2': "##...#.#.#..###", '3': "##...#.#...###.", '4': "#.##.####..#..#", '5': "####..##...###.",
	'6': ".###..####.####", '7': "###..#.#..#..#.", '8': "####.#####.####", '9': "####.####..###.",
	'.': ".............#.", '%': "#.#..#.#.#..#.#", '/': "..#..#.#.#..#..", ':': "....#.....#....",
	'-': "......###......", '(': "..#.#..#..#...#", ')': "#...#..#..#.#..", ',': "..........#.#..",
	'=': "...###...###...", '+': "....#.###.#....",
}

// drawText draws s (upper-cased) at (x, y), each font pixel scale x scale.
func drawText(img *image.RGBA, x, y, scale int, s string, c color.Color) {
	for _, r := range strings.ToUpper(s) {
		g := glyphs[r]
		for i := 0; i < len(g); i++ {
			if g[i] != '#' {
				continue
			}
			px, py := x+(i%3)*scale, y+(i/3)*scale
			for dy := range scale {
				for dx := range scale {
					img.Set(px+dx, py+dy, c)
				}
			}
		}
		x += 4 * scale
	}
}

// textWidth is the width drawText takes for s.
func textWidth(s string, scale int) int { return len(s) * 4 * scale }
