package shell

import (
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/camagent/camagent/agent/config"
)

// Complete completes the word before pos in line: a command name as the
// first word, then what the command takes (subcommands, config keys, help
// topics). It returns the new line and cursor position, and the candidates
// when several remain and the word cannot be extended (for the shell to list
// them). With no candidate, or when nothing changes, it returns line and pos
// unchanged. Quotes are not interpreted: completion is for plain words.
func (s *Shell) Complete(line string, pos int) (newLine string, newPos int, candidates []string) {
	if pos < 0 || pos > len(line) {
		return line, pos, nil
	}
	head, tail := line[:pos], line[pos:]
	words := strings.Fields(head)
	partial := ""
	if len(words) > 0 && !strings.HasSuffix(head, " ") && !strings.HasSuffix(head, "\t") {
		partial = words[len(words)-1]
		words = words[:len(words)-1]
	}
	var all []string
	if len(words) == 0 {
		all = s.names
	} else if c := s.lookup(words[0]); c != nil && c.complete != nil {
		all = c.complete(words[1:])
	}
	var cands []string
	for _, c := range all {
		if strings.HasPrefix(c, partial) {
			cands = append(cands, c)
		}
	}
	switch len(cands) {
	case 0:
		return line, pos, nil
	case 1:
		word := cands[0]
		if !strings.HasSuffix(word, ".") && !strings.HasPrefix(tail, " ") {
			word += " "
		}
		head = head[:len(head)-len(partial)] + word
		return head + tail, len(head), nil
	}
	prefix := commonPrefix(cands)
	if len(prefix) > len(partial) {
		head = head[:len(head)-len(partial)] + prefix
		return head + tail, len(head), nil
	}
	return line, pos, cands
}

func commonPrefix(words []string) string {
	p := words[0]
	for _, w := range words[1:] {
		for !strings.HasPrefix(w, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// completeWords completes the first argument from a fixed list.
func completeWords(words ...string) func([]string) []string {
	return func(prev []string) []string {
		if len(prev) == 0 {
			return words
		}
		return nil
	}
}

// configKeys lists the keys `config get` and `config set` take: every key of
// the agent's config file and every table, dotted.
func configKeys() []string {
	data, err := config.Marshal(config.Default())
	if err != nil {
		return nil
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			keys = append(keys, key)
			if sub, ok := v.(map[string]any); ok {
				walk(key+".", sub)
			}
		}
	}
	walk("", raw)
	sort.Strings(keys)
	return slices.Compact(keys)
}
