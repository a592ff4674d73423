package team

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OTLP/JSON is the protobuf JSON mapping of the same messages: members
// named in lowerCamelCase or by their proto names, 64-bit integers as
// numbers or decimal strings, bytes in base64, null for an absent member,
// unknown members ignored (receivers must, so that newer exporters keep
// working). As with the binary form, every member the protobuf module
// would check is checked, not only those Records reads: a member named
// twice, a second member of a oneof, a value of the wrong JSON type.
//
// The body is read as one stream of tokens, so the cost stays linear in
// its size however deeply AnyValue arrays nest.

// errOTLPJSON is every malformed JSON request.
var errOTLPJSON = errors.New("invalid OTLP JSON")

// jsonReader reads an OTLP/JSON body token by token.
type jsonReader struct {
	dec   *json.Decoder
	depth int
}

// decodeOTLPJSON decodes an OTLP/JSON logs request.
func decodeOTLPJSON(body []byte) (*otlpLogs, error) {
	// encoding/json would turn invalid UTF-8 into U+FFFD; the protobuf
	// mapping refuses it.
	if !utf8.Valid(body) {
		return nil, errOTLPJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	r := &jsonReader{dec: dec}
	data := &otlpLogs{}
	tok, err := r.token()
	if err != nil {
		return nil, err
	}
	err = r.object(tok, []string{"resourceLogs", "resource_logs"}, func(_ int, tok json.Token) error {
		return r.list(tok, func(tok json.Token) error {
			var rl otlpResourceLogs
			err := rl.decodeJSON(r, tok)
			data.resourceLogs = append(data.resourceLogs, rl)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errOTLPJSON // more after the object
	}
	return data, nil
}

func (r *jsonReader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return nil, errOTLPJSON
	}
	return tok, nil
}

// object reads a message whose first token is tok. fields lists each
// member as its JSON name then its proto name; fn reads the value of
// member i, whose first token it is given. Unknown members are skipped
// and null members left unset; a member named twice (by either name) is
// an error.
func (r *jsonReader) object(tok json.Token, fields []string, fn func(i int, tok json.Token) error) error {
	if tok != json.Delim('{') {
		return errOTLPJSON
	}
	if r.depth++; r.depth > maxOTLPDepth {
		return errOTLPJSON
	}
	var seen uint64 // no message here has more than 64 members
	for {
		tok, err := r.token()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			r.depth--
			return nil
		}
		name, _ := tok.(string) // a key is always a string
		i := fieldIndex(fields, name)
		if tok, err = r.token(); err != nil {
			return err
		}
		if i < 0 {
			if err := r.skip(tok); err != nil {
				return err
			}
			continue
		}
		if seen&(1<<i) != 0 {
			return errOTLPJSON
		}
		seen |= 1 << i
		if tok == nil {
			continue // null: absent
		}
		if err := fn(i, tok); err != nil {
			return err
		}
	}
}

// fieldIndex returns the number of the member that name names in fields
// (a JSON name and a proto name each), or -1.
func fieldIndex(fields []string, name string) int {
	if i := slices.Index(fields, name); i >= 0 {
		return i / 2
	}
	return -1
}

// list reads an array whose first token is tok; fn reads each element,
// given its first token.
func (r *jsonReader) list(tok json.Token, fn func(tok json.Token) error) error {
	if tok != json.Delim('[') {
		return errOTLPJSON
	}
	for {
		tok, err := r.token()
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			return nil
		}
		if err := fn(tok); err != nil {
			return err
		}
	}
}

// skip reads past a value whose first token is tok.
func (r *jsonReader) skip(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := r.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// jsonString reads a string member.
func jsonString(tok json.Token) (string, error) {
	s, ok := tok.(string)
	if !ok {
		return "", errOTLPJSON
	}
	return s, nil
}

// jsonInt reads an integer member of bits bits, signed or not: a JSON
// number, or a decimal string holding one, in any notation whose value is
// a whole number (1e3 is 1000, 1.5 is refused).
func jsonInt(tok json.Token, bits int, signed bool) (uint64, error) {
	var text string
	switch v := tok.(type) {
	case json.Number:
		text = string(v)
	case string:
		if strings.TrimSpace(v) != v || !isJSONNumber(v) {
			return 0, errOTLPJSON
		}
		text = v
	default:
		return 0, errOTLPJSON
	}
	digits, ok := wholeNumber(text)
	if !ok {
		return 0, errOTLPJSON
	}
	if signed {
		n, err := strconv.ParseInt(digits, 10, bits)
		if err != nil {
			return 0, errOTLPJSON
		}
		return uint64(n), nil
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	if err != nil {
		return 0, errOTLPJSON
	}
	return n, nil
}

// isJSONNumber reports whether s is exactly one JSON number.
func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	var n json.Number
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&n); err != nil || string(n) != s {
		return false
	}
	return true
}

// wholeNumber returns the JSON number s as decimal digits with an
// optional sign and no exponent or fraction, or false when it is not a
// whole number or has more than 20 digits (beyond any 64-bit integer).
func wholeNumber(s string) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" && frac == "" {
		return "0", true
	}
	exp := 0
	if hasExp {
		e, err := strconv.ParseInt(expText, 10, 32)
		if err != nil {
			return "", false
		}
		exp = int(e)
	}
	var digits string
	if exp >= 0 {
		if len(frac) > exp || len(intPart)+exp > 20 {
			return "", false
		}
		digits = intPart + frac + strings.Repeat("0", exp-len(frac))
	} else {
		point := len(intPart) + exp
		if frac != "" || point < 0 || strings.TrimRight(intPart[point:], "0") != "" {
			return "", false
		}
		digits = intPart[:point]
	}
	if neg {
		digits = "-" + digits
	}
	return digits, true
}

// jsonDouble reads a double member: a number, a string holding one, or
// "NaN", "Infinity" or "-Infinity".
func jsonDouble(tok json.Token) (float64, error) {
	var text string
	switch v := tok.(type) {
	case json.Number:
		text = string(v)
	case string:
		switch v {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		if strings.TrimSpace(v) != v || !isJSONNumber(v) {
			return 0, errOTLPJSON
		}
		text = v
	default:
		return 0, errOTLPJSON
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, errOTLPJSON
	}
	return f, nil
}

// jsonBytes checks a bytes member: base64, standard or URL-safe, with or
// without padding.
func jsonBytes(tok json.Token) error {
	s, ok := tok.(string)
	if !ok {
		return errOTLPJSON
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	if _, err := enc.DecodeString(s); err != nil {
		return errOTLPJSON
	}
	return nil
}

// jsonEnum checks an enum member: a name (any, as unknown names are
// ignored) or a 32-bit number.
func jsonEnum(tok json.Token) error {
	if _, ok := tok.(string); ok {
		return nil
	}
	if _, ok := tok.(json.Number); !ok {
		return errOTLPJSON
	}
	_, err := jsonInt(tok, 32, true)
	return err
}

// The messages, each field as its JSON name then its proto name.
var (
	jsonResourceLogs = []string{"resource", "resource", "scopeLogs", "scope_logs", "schemaUrl", "schema_url"}
	jsonResource     = []string{"attributes", "attributes", "droppedAttributesCount", "dropped_attributes_count",
		"entityRefs", "entity_refs"}
	jsonEntityRef = []string{"schemaUrl", "schema_url", "type", "type", "idKeys", "id_keys",
		"descriptionKeys", "description_keys"}
	jsonScopeLogs = []string{"scope", "scope", "logRecords", "log_records", "schemaUrl", "schema_url"}
	jsonScope     = []string{"name", "name", "version", "version", "attributes", "attributes",
		"droppedAttributesCount", "dropped_attributes_count"}
	jsonLogRecord = []string{"timeUnixNano", "time_unix_nano", "observedTimeUnixNano", "observed_time_unix_nano",
		"severityNumber", "severity_number", "severityText", "severity_text", "body", "body",
		"attributes", "attributes", "droppedAttributesCount", "dropped_attributes_count", "flags", "flags",
		"traceId", "trace_id", "spanId", "span_id", "eventName", "event_name"}
	jsonKeyValue = []string{"key", "key", "value", "value"}
	jsonAnyValue = []string{"stringValue", "string_value", "boolValue", "bool_value", "intValue", "int_value",
		"doubleValue", "double_value", "arrayValue", "array_value", "kvlistValue", "kvlist_value",
		"bytesValue", "bytes_value"}
	jsonValues = []string{"values", "values"}
)

func (rl *otlpResourceLogs) decodeJSON(r *jsonReader, tok json.Token) error {
	return r.object(tok, jsonResourceLogs, func(i int, tok json.Token) error {
		switch i {
		case 0:
			return r.object(tok, jsonResource, func(i int, tok json.Token) error {
				switch i {
				case 0:
					return r.keyValues(tok, &rl.resource)
				case 1:
					_, err := jsonInt(tok, 32, false)
					return err
				}
				return r.list(tok, func(tok json.Token) error {
					return r.object(tok, jsonEntityRef, func(i int, tok json.Token) error {
						if i < 2 {
							_, err := jsonString(tok)
							return err
						}
						return r.list(tok, func(tok json.Token) error {
							_, err := jsonString(tok)
							return err
						})
					})
				})
			})
		case 1:
			return r.list(tok, func(tok json.Token) error {
				var sl otlpScopeLogs
				err := sl.decodeJSON(r, tok)
				rl.scopeLogs = append(rl.scopeLogs, sl)
				return err
			})
		}
		_, err := jsonString(tok)
		return err
	})
}

func (sl *otlpScopeLogs) decodeJSON(r *jsonReader, tok json.Token) error {
	return r.object(tok, jsonScopeLogs, func(i int, tok json.Token) error {
		switch i {
		case 0:
			var attrs []otlpKeyValue
			return r.object(tok, jsonScope, func(i int, tok json.Token) error {
				switch i {
				case 2:
					return r.keyValues(tok, &attrs)
				case 3:
					_, err := jsonInt(tok, 32, false)
					return err
				}
				_, err := jsonString(tok)
				return err
			})
		case 1:
			return r.list(tok, func(tok json.Token) error {
				var lr otlpLogRecord
				err := lr.decodeJSON(r, tok)
				sl.logRecords = append(sl.logRecords, lr)
				return err
			})
		}
		_, err := jsonString(tok)
		return err
	})
}

func (lr *otlpLogRecord) decodeJSON(r *jsonReader, tok json.Token) error {
	return r.object(tok, jsonLogRecord, func(i int, tok json.Token) error {
		var err error
		switch i {
		case 0:
			lr.timeUnixNano, err = jsonInt(tok, 64, false)
		case 1:
			lr.observedTimeUnixNano, err = jsonInt(tok, 64, false)
		case 2:
			err = jsonEnum(tok)
		case 3:
			_, err = jsonString(tok)
		case 4:
			lr.body = &otlpValue{}
			err = lr.body.decodeJSON(r, tok)
		case 5:
			err = r.keyValues(tok, &lr.attributes)
		case 6, 7:
			_, err = jsonInt(tok, 32, false)
		case 8, 9:
			err = jsonBytes(tok)
		case 10:
			lr.eventName, err = jsonString(tok)
		}
		return err
	})
}

// keyValues reads a list of KeyValue messages and appends them to kvs.
func (r *jsonReader) keyValues(tok json.Token, kvs *[]otlpKeyValue) error {
	return r.list(tok, func(tok json.Token) error {
		var kv otlpKeyValue
		err := r.object(tok, jsonKeyValue, func(i int, tok json.Token) error {
			if i == 0 {
				var err error
				kv.key, err = jsonString(tok)
				return err
			}
			kv.value = &otlpValue{}
			return kv.value.decodeJSON(r, tok)
		})
		*kvs = append(*kvs, kv)
		return err
	})
}

// decodeJSON reads an AnyValue, of which at most one member may be set.
func (v *otlpValue) decodeJSON(r *jsonReader, tok json.Token) error {
	set := false
	return r.object(tok, jsonAnyValue, func(i int, tok json.Token) error {
		if set {
			return errOTLPJSON
		}
		set = true
		var err error
		switch i {
		case 0:
			v.kind = otlpString
			v.str, err = jsonString(tok)
		case 1:
			v.kind = otlpBool
			if _, ok := tok.(bool); !ok {
				err = errOTLPJSON
			}
		case 2:
			var n uint64
			n, err = jsonInt(tok, 64, true)
			v.kind, v.num = otlpInt, int64(n)
		case 3:
			v.kind = otlpDouble
			v.dbl, err = jsonDouble(tok)
		case 4:
			v.kind = otlpOther
			err = r.object(tok, jsonValues, func(_ int, tok json.Token) error {
				return r.list(tok, func(tok json.Token) error {
					var elem otlpValue
					return elem.decodeJSON(r, tok)
				})
			})
		case 5:
			v.kind = otlpOther
			var kvs []otlpKeyValue
			err = r.object(tok, jsonValues, func(_ int, tok json.Token) error {
				return r.keyValues(tok, &kvs)
			})
		case 6:
			v.kind = otlpOther
			err = jsonBytes(tok)
		}
		return err
	})
}
