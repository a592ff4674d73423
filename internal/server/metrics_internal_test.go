package server

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// A latency on a bucket's bound counts in that bucket (le is "less than or
// equal"), one above every bound only in +Inf, and the buckets are written
// cumulative.
func TestHistogramBuckets(t *testing.T) {
	m := newMetrics(&Server{})
	for _, d := range []time.Duration{500 * time.Microsecond, 501 * time.Microsecond, 7 * time.Second} {
		m.observe("GET /x", "GET", 200, d)
	}
	m.observe("GET /x", "BREW", 418, time.Millisecond)
	var e exposition
	m.writeRequests(&e)
	text := string(e.b)
	for _, want := range []string{
		`ctm_http_request_duration_seconds_bucket{method="GET",route="GET /x",le="0.0005"} 1` + "\n",
		`ctm_http_request_duration_seconds_bucket{method="GET",route="GET /x",le="0.001"} 2` + "\n",
		`ctm_http_request_duration_seconds_bucket{method="GET",route="GET /x",le="5"} 2` + "\n",
		`ctm_http_request_duration_seconds_bucket{method="GET",route="GET /x",le="+Inf"} 3` + "\n",
		`ctm_http_request_duration_seconds_count{method="GET",route="GET /x"} 3` + "\n",
		`ctm_http_request_duration_seconds_sum{method="GET",route="GET /x"} 7.001001` + "\n",
		`ctm_http_requests_total{method="GET",route="GET /x",status="200"} 3` + "\n",
		`ctm_http_requests_total{method="OTHER",route="GET /x",status="418"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	checkExposition(t, text)
}

// Label values and help texts are escaped; a sample whose label is not
// UTF-8 is left out, and a family without samples has no header.
func TestExpositionEscapes(t *testing.T) {
	var e exposition
	e.family("a_total", "counter", "Help with \\ and\nnewline.")
	e.sample("a_total", 1, "model", "q\"b\\s\nn")
	e.sample("a_total", 2, "model", "bad\xff")
	e.family("empty", "gauge", "No samples.")
	e.family("b", "gauge", "B.")
	e.sample("b", 0.25)
	want := "# HELP a_total Help with \\\\ and\\nnewline.\n# TYPE a_total counter\n" +
		`a_total{model="q\"b\\s\nn"} 1` + "\n" +
		"# HELP b B.\n# TYPE b gauge\nb 0.25\n"
	if got := string(e.b); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$`)
	typeLine   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary)$`)
)

// checkExposition checks the text format's grammar: every sample belongs
// to the family declared last, and no family is declared twice.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	seen := map[string]bool{}
	family := ""
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
		case strings.HasPrefix(line, "# TYPE "):
			m := typeLine.FindStringSubmatch(line)
			if m == nil || seen[m[1]] {
				t.Fatalf("bad or repeated TYPE line %q", line)
			}
			family, seen[m[1]] = m[1], true
		default:
			m := sampleLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("bad sample line %q", line)
			}
			base := m[1]
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(base, suffix); ok && b == family {
					base = b
				}
			}
			if base != family {
				t.Fatalf("sample %q outside its family (last declared: %q)", line, family)
			}
		}
	}
}

// The runtime's and the process' figures, the bulk of the page, keep to
// the text format.
func TestMetricsPageGrammar(t *testing.T) {
	var e exposition
	writeRuntime(&e)
	writeProcess(&e)
	checkExposition(t, string(e.b))
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_start_time_seconds "} {
		if !strings.Contains(string(e.b), "\n"+name) {
			t.Errorf("no %s", name)
		}
	}
}
