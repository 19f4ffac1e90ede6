package gateway

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Names of JSON types, as messages use them.
const (
	jsonObject = "an object"
	jsonArray  = "an array"
	jsonString = "a string"
)

// kindOf names the JSON type of a valid JSON value.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return jsonObject
	case '[':
		return jsonArray
	case '"':
		return jsonString
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// object is a JSON object split into its members. encoding/json would keep
// only the last of two equal keys without a word; in a config that decides
// which certificate a backend sees, a repeated key is more likely a mistake
// than an intent, so object records it for the caller to refuse.
type object struct {
	fields map[string]json.RawMessage
	keys   []string // in input order
	dup    string   // the first key that appears twice, or ""
}

// decodeObject splits raw, which must be valid JSON, into its members. It
// returns false when raw is not an object.
func decodeObject(raw json.RawMessage) (*object, bool) {
	if kindOf(raw) != jsonObject {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	o := &object{fields: make(map[string]json.RawMessage)}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, false
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		if _, seen := o.fields[key]; seen {
			if o.dup == "" {
				o.dup = key
			}
			continue
		}
		o.fields[key] = value
		o.keys = append(o.keys, key)
	}
	return o, true
}

// unknown returns the keys of o that are not in known, in input order.
func (o *object) unknown(known ...string) []string {
	var out []string
	for _, k := range o.keys {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	return out
}

// stringOf decodes raw if it is a JSON string.
func stringOf(raw json.RawMessage) (string, bool) {
	if kindOf(raw) != jsonString {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// arrayOf splits raw into its elements if it is a JSON array.
func arrayOf(raw json.RawMessage) ([]json.RawMessage, bool) {
	if kindOf(raw) != jsonArray {
		return nil, false
	}
	var items []json.RawMessage
	return items, json.Unmarshal(raw, &items) == nil
}
