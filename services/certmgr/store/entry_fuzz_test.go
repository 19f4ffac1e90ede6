package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
)

// TestDecodeEntryRefuses: a changelog entry that is not a JSON object of
// the expected shape is an error (which Follow answers with a resync),
// never a guess.
func TestDecodeEntryRefuses(t *testing.T) {
	for _, in := range []string{
		``,
		`{`,
		`null x`,
		`[]`,
		`"created"`,
		`{"revision": "seven"}`,
		`{"revision": -1}`,
		`{"afterPlace": []}`,
		`{"before": "a certificate"}`,
		`{"after": {"environmentTypes": "production"}}`,
		`{"version": 1e99}`,
		`{"at": "yesterday"}`,
	} {
		if e, err := decodeEntry([]byte(in)); err == nil {
			t.Errorf("decodeEntry(%q) = %+v, want an error", in, e)
		}
	}
}

// FuzzDecodeEntry: any bytes either fail to decode or give an Entry that
// encodes and decodes again to itself.
func FuzzDecodeEntry(f *testing.F) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range []any{
		Entry{Revision: 7, Type: ChangeRotated, CertificateID: "crt_1", Account: "acme", Project: "shop", Version: 2, At: at,
			Before: &changefeed.Place{Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}},
			After:  &changefeed.Place{Account: "acme", Project: "shop", EnvironmentTypes: []string{"development"}}},
		legacyEntry{Revision: 3, Type: ChangeDeleted, CertificateID: "crt_2", Account: "acme", Project: "shop", At: at,
			Before: &Certificate{ID: "crt_2", Account: "acme", Project: "shop", EnvironmentTypes: []string{"preview"}, Version: 4, SealedKey: []byte("sealed")}},
	} {
		data, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"before":null,"after":null,"beforePlace":{"account":"a"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("decoded entry %+v does not encode: %v", e, err)
		}
		back, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry %s does not decode: %v", again, err)
		}
		if !reflect.DeepEqual(normal(back), normal(e)) {
			t.Fatalf("entry changed through encoding: %+v, then %+v", e, back)
		}
	})
}

// normal clears what JSON does not keep exactly: a time's location and
// the difference between an empty and a missing list.
func normal(e Entry) Entry {
	e.At = e.At.UTC()
	for _, p := range []*changefeed.Place{e.Before, e.After} {
		if p != nil && len(p.EnvironmentTypes) == 0 {
			p.EnvironmentTypes = nil
		}
	}
	return e
}
