package promquery

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Matcher is one label matcher of the memory metric selector.
type Matcher struct {
	// Name is the label's name.
	Name string
	// Op is =, !=, =~ or !~.
	Op string
	// Value is the unquoted value (a regular expression for =~ and !~).
	Value string
}

// Selector is the extra label matchers the query puts on the memory metric
// (--memory-metric-selector), for example the one scrape job whose series to
// read when two jobs export the same containers.
type Selector []Matcher

// String writes the matchers as the query does, every value quoted again
// with strconv.Quote: a value can never end the string, the braces or the
// query, whatever the command line said.
func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, m := range s {
		parts[i] = m.Name + m.Op + strconv.Quote(m.Value)
	}
	return strings.Join(parts, ", ")
}

// operators of a matcher, the two-character ones first.
var operators = []string{"=~", "!~", "!=", "="}

// ParseSelector reads comma-separated label matchers, name op "value", in
// PromQL's syntax without the braces: `job="kubelet", metrics_path="/metrics/cadvisor"`.
// It is stricter than PromQL, on purpose: values in double quotes (Go's
// escapes) or backticks only, no trailing comma, and neither namespace,
// which the scaler sets itself, nor a reserved __ label such as __name__.
// Regular expressions must compile as Prometheus would compile them
// (RE2, anchored). An empty or blank selector adds nothing.
func ParseSelector(s string) (Selector, error) {
	p := selectorParser{in: s}
	p.skipSpace()
	if p.done() {
		return nil, nil
	}
	var sel Selector
	for {
		m, err := p.matcher()
		if err != nil {
			return nil, fmt.Errorf("memory metric selector %q: %w", s, err)
		}
		sel = append(sel, m)
		p.skipSpace()
		if p.done() {
			return sel, nil
		}
		if p.in[p.pos] != ',' {
			return nil, fmt.Errorf("memory metric selector %q: unexpected %q at offset %d, want a comma between matchers", s, p.in[p.pos], p.pos)
		}
		p.pos++
		p.skipSpace()
	}
}

type selectorParser struct {
	in  string
	pos int
}

func (p *selectorParser) done() bool { return p.pos >= len(p.in) }

func (p *selectorParser) skipSpace() {
	for !p.done() && strings.IndexByte(" \t", p.in[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *selectorParser) matcher() (Matcher, error) {
	var m Matcher
	start := p.pos
	for !p.done() && isLabelChar(p.in[p.pos], p.pos == start) {
		p.pos++
	}
	m.Name = p.in[start:p.pos]
	switch {
	case m.Name == "":
		return m, fmt.Errorf("want a label name at offset %d", start)
	case strings.HasPrefix(m.Name, "__"):
		return m, fmt.Errorf("label %s is reserved", m.Name)
	case m.Name == "namespace":
		return m, fmt.Errorf("the scaler sets namespace itself, to the namespaces of the MemHpas")
	}
	p.skipSpace()
	for _, op := range operators {
		if strings.HasPrefix(p.in[p.pos:], op) {
			m.Op = op
			break
		}
	}
	if m.Op == "" {
		return m, fmt.Errorf("want an operator (=, !=, =~ or !~) after %s at offset %d", m.Name, p.pos)
	}
	p.pos += len(m.Op)
	p.skipSpace()
	value, err := p.quoted()
	if err != nil {
		return m, fmt.Errorf("value of %s: %w", m.Name, err)
	}
	m.Value = value
	if m.Op == "=~" || m.Op == "!~" {
		// Prometheus anchors the expression at both ends.
		if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
			return m, fmt.Errorf("value of %s is not a regular expression: %w", m.Name, err)
		}
	}
	return m, nil
}

// quoted reads a value in double quotes or backticks and unquotes it.
func (p *selectorParser) quoted() (string, error) {
	if p.done() || (p.in[p.pos] != '"' && p.in[p.pos] != '`') {
		return "", fmt.Errorf("want a value quoted in double quotes or backticks at offset %d", p.pos)
	}
	quote, start := p.in[p.pos], p.pos
	p.pos++
	for ; !p.done(); p.pos++ {
		c := p.in[p.pos]
		if c == '\\' && quote == '"' {
			p.pos++ // the escaped character cannot end the value
			continue
		}
		if c == quote {
			p.pos++
			raw := p.in[start:p.pos]
			v, err := strconv.Unquote(raw)
			if err != nil {
				return "", fmt.Errorf("invalid quoted value %s: %w", raw, err)
			}
			// Unquote turns a stray byte into U+FFFD; an escape such as
			// \xff makes one: refuse both.
			if !utf8.ValidString(raw) || !utf8.ValidString(v) {
				return "", fmt.Errorf("value %s is not valid UTF-8", raw)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("unterminated value starting at offset %d", start)
}

// isLabelChar tells whether c may be part of a label name (Prometheus's
// legacy names: [a-zA-Z_][a-zA-Z0-9_]*).
func isLabelChar(c byte, first bool) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || (!first && '0' <= c && c <= '9')
}
