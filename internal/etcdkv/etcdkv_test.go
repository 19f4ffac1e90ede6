package etcdkv

import "testing"

func TestCheckKeyParts(t *testing.T) {
	for _, tt := range []struct {
		parts []string
		ok    bool
	}{
		{[]string{"acme", "shop", "crt-1"}, true},
		{[]string{"acme", "shop", "my$Cert_2"}, true},
		{[]string{"acme", "", "crt-1"}, false},
		{[]string{"acme/shop", "crt-1"}, false},
		{[]string{"acme", "shop", "a/"}, false},
		{[]string{"/"}, false},
		{[]string{"acme", "shop", "../x"}, false},
	} {
		if err := CheckKeyParts(tt.parts...); (err == nil) != tt.ok {
			t.Errorf("CheckKeyParts(%q) = %v, want ok %v", tt.parts, err, tt.ok)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for prefix, ok := range map[string]bool{
		"/certbind/": true, "/": true, "/a/b/": true,
		"": false, "certbind/": false, "/certbind": false, "certbind": false,
	} {
		if err := CheckPrefix(prefix); (err == nil) != ok {
			t.Errorf("CheckPrefix(%q) = %v, want ok %v", prefix, err, ok)
		}
	}
}
