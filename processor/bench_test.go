package processor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// Each benchmark feeds one line per iteration through a chain as the
// harvester does: ns/op and allocs/op are per line.
func benchChain(b *testing.B, cfg string, lines []string) {
	p := mustNew(b, input(b, cfg))
	c := p.Chain(&event.Source{ID: "x", Path: "/var/log/pods/shop_cart-1_uid-1/cart/0.log", Input: &event.Input{Type: "log"}})
	raws := make([]event.Raw, len(lines))
	var off int64
	for i, l := range lines {
		end := off + int64(len(l)) + 1
		raws[i] = event.Raw{Text: []byte(l), Offset: off, End: end, After: fileid.Position{Offset: end}, Time: t0}
		off = end
	}
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l)) + 1
	}
	b.SetBytes(bytes / int64(len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Line(&raws[i])
		_ = c.Events()
		if i++; i == len(raws) {
			i = 0
		}
	}
}

// line200 is a typical ~200-byte application log line.
func line200(i int) string {
	s := fmt.Sprintf("2026-11-21T12:00:00.%03dZ INFO  [worker-%d] c.e.OrderService - order %d placed for customer %d, total 42.50 EUR, items 3, payment card, shipping standard", i%1000, i%8, i, i*7)
	return s + strings.Repeat(" ", max(0, 200-len(s)))
}

func lines200(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = line200(i)
	}
	return out
}

func BenchmarkMultilineJava(b *testing.B) {
	benchChain(b, `multiline: {pattern: '^\d{4}-\d{2}-\d{2}', negate: true, match: after}`, readLines(b, "java.log"))
}

func BenchmarkMultilineSingleLines(b *testing.B) {
	benchChain(b, `multiline: {pattern: '^[[:space:]]', match: after}`, lines200(64))
}

func BenchmarkContainerCRI(b *testing.B) {
	lines := make([]string, 64)
	for i := range lines {
		lines[i] = "2026-11-21T12:00:00.123456789Z stdout F " + line200(i)
	}
	benchChain(b, "type: container\nformat: cri", lines)
}

func BenchmarkContainerDocker(b *testing.B) {
	lines := make([]string, 64)
	for i := range lines {
		lines[i] = `{"log":"` + line200(i) + `\n","stream":"stdout","time":"2026-11-21T12:00:00.123456789Z"}`
	}
	benchChain(b, "type: container\nformat: docker", lines)
}

func BenchmarkNDJSON(b *testing.B) {
	lines := make([]string, 64)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"ts":"2026-11-21T12:00:00.%03dZ","level":"info","msg":"order %d placed","customer":%d,"total":42.5,"items":3}`, i, i, i*7)
	}
	benchChain(b, "parsers: [{ndjson: {message_key: msg}}]", lines)
}

func BenchmarkExcludeLinesLiteral(b *testing.B) {
	benchChain(b, "exclude_lines: ['^DEBUG']", lines200(64))
}

func BenchmarkExcludeLinesRegexp(b *testing.B) {
	benchChain(b, `exclude_lines: ['^\d+ DEBUG']`, lines200(64))
}

func BenchmarkIncludeLinesLiteral(b *testing.B) {
	benchChain(b, "include_lines: ['INFO']", lines200(64))
}

func BenchmarkAddFields(b *testing.B) {
	benchChain(b, "processors: [{add_fields: {fields: {team: payments}}}]", lines200(64))
}

func BenchmarkDropFields(b *testing.B) {
	benchChain(b, "processors: [{drop_fields: {fields: [log.offset]}}]", lines200(64))
}

func BenchmarkRename(b *testing.B) {
	benchChain(b, "processors: [{rename: {fields: [{from: message, to: msg}]}}]", lines200(64))
}

func BenchmarkDropEvent(b *testing.B) {
	benchChain(b, "processors: [{drop_event: {when: {contains: {message: DEBUG}}}}]", lines200(64))
}

func BenchmarkDissect(b *testing.B) {
	benchChain(b, "processors: [{dissect: {tokenizer: '%{ts} %{level->} [%{thread}] %{logger} - %{msg}'}}]", lines200(64))
}

func BenchmarkTimestamp(b *testing.B) {
	benchChain(b, `processors: [{dissect: {tokenizer: '%{ts} %{}'}}, {timestamp: {field: dissect.ts, layouts: ['2006-01-02T15:04:05.000Z07:00']}}]`, lines200(64))
}

func BenchmarkAddHostMetadata(b *testing.B) {
	benchChain(b, "processors: [{add_host_metadata: {}}]", lines200(64))
}
