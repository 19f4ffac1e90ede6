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
		`"deployed"`,
		`{"revision": "seven"}`,
		`{"revision": -1}`,
		`{"beforePlace": []}`,
		`{"after": "a deployment"}`,
		`{"before": {"routes": {}}}`,
		`{"generation": 1e99}`,
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
	old := Change{Revision: 3, Type: ChangeDeployed, DeploymentID: "dep_1", Account: "acme", Project: "shop", At: at,
		After: &Deployment{ID: "dep_1", Account: "acme", Project: "shop", Environment: "prod", EnvironmentType: "production", Generation: 2,
			Config: json.RawMessage(`{"routes":[]}`), Variables: map[string]string{"A": "b"}}}
	for _, e := range []any{
		old.Entry(),
		struct {
			Revision     uint64      `json:"revision"`
			Type         string      `json:"type"`
			DeploymentID string      `json:"deploymentId"`
			After        *Deployment `json:"after"`
		}{old.Revision, old.Type, old.DeploymentID, old.After},
	} {
		data, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
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
