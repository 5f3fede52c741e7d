package apikey

import "testing"

func TestNewParseRoundTrip(t *testing.T) {
	k := New()
	id, hash, err := Parse(k.Plain)
	if err != nil {
		t.Fatalf("Parse(%q): %v", k.Plain, err)
	}
	if id != k.ID || !Equal(hash, k.Hash) {
		t.Fatalf("Parse gave id %q, want %q; hashes equal: %v", id, k.ID, Equal(hash, k.Hash))
	}
	if other := New(); Equal(other.Hash, k.Hash) || other.ID == k.ID {
		t.Fatal("two keys collided")
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	k := New()
	for _, bad := range []string{"", "rk_", "sk_" + k.Plain[3:], k.Plain[:len(k.Plain)-1], k.Plain + "x", "rk_abc_def", "Bearer " + k.Plain} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a malformed key", bad)
		}
	}
}
