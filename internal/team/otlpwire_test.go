package team

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The protobuf module and the generated OTLP types are the reference of
// the hand-written decoders: the tests decode each body with both and
// compare what Records reads, and whether the body is refused.

// fromProto converts a decoded LogsData to the decoder's model.
func fromProto(d *logspb.LogsData) *otlpLogs {
	out := &otlpLogs{}
	for _, rl := range d.GetResourceLogs() {
		var r otlpResourceLogs
		r.resource = kvsFromProto(rl.GetResource().GetAttributes())
		for _, sl := range rl.GetScopeLogs() {
			var s otlpScopeLogs
			for _, lr := range sl.GetLogRecords() {
				l := otlpLogRecord{timeUnixNano: lr.GetTimeUnixNano(), observedTimeUnixNano: lr.GetObservedTimeUnixNano(),
					eventName: lr.GetEventName(), attributes: kvsFromProto(lr.GetAttributes())}
				if lr.Body != nil {
					l.body = valueFromProto(lr.Body)
				}
				s.logRecords = append(s.logRecords, l)
			}
			r.scopeLogs = append(r.scopeLogs, s)
		}
		out.resourceLogs = append(out.resourceLogs, r)
	}
	return out
}

func kvsFromProto(kvs []*commonpb.KeyValue) []otlpKeyValue {
	var out []otlpKeyValue
	for _, kv := range kvs {
		o := otlpKeyValue{key: kv.GetKey()}
		if kv.Value != nil {
			o.value = valueFromProto(kv.Value)
		}
		out = append(out, o)
	}
	return out
}

func valueFromProto(v *commonpb.AnyValue) *otlpValue {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return &otlpValue{kind: otlpString, str: x.StringValue}
	case *commonpb.AnyValue_BoolValue:
		return &otlpValue{kind: otlpBool}
	case *commonpb.AnyValue_IntValue:
		return &otlpValue{kind: otlpInt, num: x.IntValue}
	case *commonpb.AnyValue_DoubleValue:
		return &otlpValue{kind: otlpDouble, dbl: x.DoubleValue}
	case nil:
		return &otlpValue{}
	}
	return &otlpValue{kind: otlpOther}
}

// dump writes the model as text, so that NaN compares equal to NaN.
func dump(d *otlpLogs) string {
	var b strings.Builder
	val := func(v *otlpValue) {
		if v == nil {
			b.WriteString("<nil>")
			return
		}
		fmt.Fprintf(&b, "%d/%q/%d/%x", v.kind, v.str, v.num, math.Float64bits(v.dbl))
	}
	kvs := func(kvs []otlpKeyValue) {
		for _, kv := range kvs {
			fmt.Fprintf(&b, " %q=", kv.key)
			val(kv.value)
		}
	}
	for _, rl := range d.resourceLogs {
		b.WriteString("resource")
		kvs(rl.resource)
		for _, sl := range rl.scopeLogs {
			b.WriteString("\n scope")
			for _, lr := range sl.logRecords {
				fmt.Fprintf(&b, "\n  log %d %d %q body=", lr.timeUnixNano, lr.observedTimeUnixNano, lr.eventName)
				val(lr.body)
				kvs(lr.attributes)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkBothDecoders compares the hand-written decoders with the protobuf
// module on body, as protobuf and as JSON.
func checkBothDecoders(t *testing.T, body []byte) {
	t.Helper()
	var want logspb.LogsData
	wantErr := proto.Unmarshal(body, &want)
	got, err := decodeOTLPProto(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("protobuf %q: error %v, protobuf module %v", body, err, wantErr)
	}
	if err == nil && dump(got) != dump(fromProto(&want)) {
		t.Fatalf("protobuf %q:\n got %s\nwant %s", body, dump(got), dump(fromProto(&want)))
	}

	var wantJSON logspb.LogsData
	wantErr = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, &wantJSON)
	got, err = decodeOTLPJSON(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("JSON %s: error %v, protojson %v", body, err, wantErr)
	}
	if err == nil && dump(got) != dump(fromProto(&wantJSON)) {
		t.Fatalf("JSON %s:\n got %s\nwant %s", body, dump(got), dump(fromProto(&wantJSON)))
	}
}

// richLogs is a request with every field of every message set.
func richLogs() *logspb.LogsData {
	attrs := []*commonpb.KeyValue{
		{Key: "s", Value: sv("x")}, {Key: "i", Value: iv(-7)}, {Key: "d", Value: dv(2.5)}, {Key: "b", Value: bv(true)},
		{Key: "none"}, {Key: "empty", Value: &commonpb.AnyValue{}},
		{Key: "bytes", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 255}}}},
		{Key: "arr", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{
			Values: []*commonpb.AnyValue{sv("a"), iv(1), {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}}}}}}},
		{Key: "kv", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
			Values: []*commonpb.KeyValue{{Key: "k", Value: dv(math.Inf(-1))}}}}}},
	}
	lr := event(goodAttrs())
	lr.ObservedTimeUnixNano, lr.SeverityNumber, lr.SeverityText = 99, logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "WARN"
	lr.Attributes = append(lr.Attributes, attrs...)
	lr.DroppedAttributesCount, lr.Flags, lr.TraceId, lr.SpanId, lr.EventName = 3, 1, []byte("0123456789abcdef"), []byte("01234567"), apiRequestEvent
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: attrs, DroppedAttributesCount: 2,
			EntityRefs: []*commonpb.EntityRef{{SchemaUrl: "u", Type: "service", IdKeys: []string{"a"}, DescriptionKeys: []string{"b"}}}},
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope:      &commonpb.InstrumentationScope{Name: "n", Version: "v", Attributes: attrs[:2], DroppedAttributesCount: 1},
			LogRecords: []*logspb.LogRecord{lr, {}}, SchemaUrl: "s",
		}, {}},
		SchemaUrl: "r",
	}, {}}}
}

// otlpSeeds are bodies for the decoder tests: the fixtures, the rich
// request in each encoding and naming, and hand-made edge cases.
func otlpSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, f := range []string{"otlp_logs.json", "otlp_logs.pb"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	rich := richLogs()
	pb, _ := proto.Marshal(rich)
	camel, _ := protojson.Marshal(rich)
	snake, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(rich)
	seeds = append(seeds, pb, camel, snake)
	for _, s := range []string{
		"", "{}", "null", "[]", `{"resourceLogs":null}`, `{"resourceLogs":[null]}`, `{"resourceLogs":[{}]}{}`,
		`{"resourceLogs":[],"resource_logs":[]}`, `{"resourceLogs":[],"resourceLogs":[]}`, `{"unknown":{"a":[1,{"b":2}]}}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1e3","body":{"stringValue":"a","intValue":"1"}}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":1.5}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":" 1"}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"-1"}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"observedTimeUnixNano":"18446744073709551615","severityNumber":"NOPE"}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"a","value":{"doubleValue":"-Infinity"}},{"key":"b","value":{"intValue":"100e-2"}}]}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"a","value":{"stringValue":null,"boolValue":true}}],"traceId":"AAEC","spanId":"-_8"}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"x"}]}}]}}}]}]}]}`,
		"\n\x00", "\x0a\x02\x12\x00", "\x0b\x0c", "\x0a\x80", "\x0d\x01\x02\x03\x04", "\x0c", "\x0a\x03\x12\x01\xff",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

func TestOTLPDecodersAgreeWithProtobuf(t *testing.T) {
	for _, s := range otlpSeeds(t) {
		checkBothDecoders(t, s)
	}
	// The rich request loses nothing Records reads.
	pb, _ := proto.Marshal(richLogs())
	got, err := decodeOTLPProto(pb)
	if err != nil {
		t.Fatal(err)
	}
	lr := got.resourceLogs[0].scopeLogs[0].logRecords[0]
	if len(got.resourceLogs) != 2 || len(got.resourceLogs[0].resource) != 9 || lr.eventName != apiRequestEvent ||
		lr.observedTimeUnixNano != 99 || lr.body.stringValue() != apiRequestEvent {
		t.Errorf("rich request decoded as %s", dump(got))
	}
}

func TestOTLPDecodersRefuseDeepNesting(t *testing.T) {
	// AnyValue arrays nested past the limit: refused, by both forms,
	// without exhausting the stack.
	deep := []byte{}
	for range maxOTLPDepth + 10 {
		// AnyValue{array_value: ArrayValue{values: [deep]}}
		inner := append([]byte{0x0a}, appendLen(nil, len(deep))...)
		inner = append(inner, deep...)
		deep = append([]byte{0x2a}, appendLen(nil, len(inner))...)
		deep = append(deep, inner...)
	}
	r := wireReader{b: deep}
	var v otlpValue
	if err := v.decode(&r); err == nil {
		t.Error("protobuf nested past the limit was accepted")
	}
	js := strings.Repeat(`{"arrayValue":{"values":[`, maxOTLPDepth) + strings.Repeat(`]}}`, maxOTLPDepth)
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` + js + `}]}]}]}`
	if _, err := decodeOTLPJSON([]byte(body)); err == nil {
		t.Error("JSON nested past the limit was accepted")
	}
}

func appendLen(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func FuzzOTLPDecoders(f *testing.F) {
	for _, s := range otlpSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkBothDecoders(t, body)
	})
}
