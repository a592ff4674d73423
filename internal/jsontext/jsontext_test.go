package jsontext

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// FuzzWriter checks the writer against encoding/json and json.Indent on
// a document of arbitrary strings, integers and floats.
func FuzzWriter(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\back`, "<a&b>", "tab\tnl\ncr\r\x00\x1f\b\f", "\u2028\u2029", "\xff\xfe bad", "é日本", "\xe2\x80"} {
		f.Add(s, int64(len(s)), 0.5)
	}
	for _, v := range []float64{1e-7, 1e21, 123456789.125, math.Copysign(0, -1), 5e-324, math.MaxFloat64, math.NaN(), math.Inf(-1)} {
		f.Add("k", int64(-1), v)
	}
	f.Fuzz(func(t *testing.T, s string, n int64, x float64) {
		doc := map[string]any{"a": s, "b": []any{n, x, []any{}, map[string]any{}}, "c": map[string]any{s: n}}
		want, wantErr := json.Marshal(doc)
		for _, indent := range []string{"", "  ", "\t"} {
			w := Writer{Indent: indent}
			w.Open('{')
			w.Key("a")
			w.String(s)
			w.Key("b")
			w.Open('[')
			w.Elem()
			w.Int(n)
			w.Elem()
			w.Float(x)
			w.Elem()
			w.Open('[')
			w.Close(']')
			w.Elem()
			w.Open('{')
			w.Close('}')
			w.Close(']')
			w.Key("c")
			w.Open('{')
			w.Key(s)
			w.Int(n)
			w.Close('}')
			w.Close('}')
			if (w.Err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, encoding/json %v", w.Err, wantErr)
			}
			if wantErr != nil {
				continue
			}
			var ind bytes.Buffer
			if indent == "" {
				ind.Write(want)
			} else if err := json.Indent(&ind, want, "", indent); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.B, ind.Bytes()) {
				t.Fatalf("indent %q:\n got %s\nwant %s", indent, w.B, ind.Bytes())
			}
		}
	})
}
