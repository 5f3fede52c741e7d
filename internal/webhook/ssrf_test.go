package webhook

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestIsBlockedAddr(t *testing.T) {
	blocked := []string{
		// IPv4
		"0.0.0.0", "0.1.2.3", // this network, unspecified
		"10.0.0.1", "10.255.255.255", // RFC 1918
		"172.16.0.1", "172.31.255.254", // RFC 1918
		"192.168.0.1", "192.168.255.255", // RFC 1918
		"127.0.0.1", "127.255.255.254", // loopback
		"169.254.169.254", "169.254.0.1", // link-local, cloud metadata
		"100.64.0.1", "100.127.255.254", // CGNAT
		"224.0.0.1", "239.255.255.250", // multicast
		"255.255.255.255", "240.0.0.1", // broadcast, reserved
		"192.0.0.8", "192.0.2.1", "198.51.100.7", "203.0.113.9", // IETF, documentation
		"198.18.0.1", "198.19.255.255", "192.88.99.1", // benchmarking, 6to4 relay
		// IPv6
		"::", "::1", // unspecified, loopback
		"fe80::1", "fe80::1%eth0", "febf::1", // link-local, with a zone
		"fc00::1", "fd00:ec2::254", "fdff::1", // ULA, AWS metadata over IPv6
		"ff02::1", "ff0e::1", // multicast
		"fec0::1",                // site-local
		"100::1",                 // discard-only
		"2001:db8::1", "3fff::1", // documentation
		"2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
		"2002:7f00:1::1", "2002:0808:0808::1", // 6to4
		"64:ff9b:1::1", // local-use NAT64
		"4000::1",      // outside 2000::/3
		// IPv6 forms of blocked IPv4
		"::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
		"::ffff:192.168.1.1", "::ffff:100.64.0.1", "::ffff:0.0.0.0", "::ffff:255.255.255.255",
		"::127.0.0.1", "::10.0.0.1", "::169.254.169.254", "::8.8.8.8", // IPv4-compatible (deprecated)
		"64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.1.2.3", // NAT64 of private
	}
	for _, s := range blocked {
		ip := netip.MustParseAddr(s)
		if !IsBlockedAddr(ip) {
			t.Errorf("IsBlockedAddr(%s) = false, want true", s)
		}
	}
	if !IsBlockedAddr(netip.Addr{}) {
		t.Error("IsBlockedAddr(zero Addr) = false, want true")
	}

	allowed := []string{
		"8.8.8.8", "1.1.1.1", "93.184.215.14", "52.95.110.1",
		"100.63.255.255", "100.128.0.0", // just outside CGNAT
		"172.15.255.255", "172.32.0.0", // just outside 172.16/12
		"169.253.255.255", "11.0.0.1", "126.255.255.255", "128.0.0.1",
		"223.255.255.255",  // last unicast before multicast
		"::ffff:8.8.8.8",   // IPv4-mapped public
		"64:ff9b::8.8.8.8", // NAT64 of public
		"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1",
	}
	for _, s := range allowed {
		if IsBlockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("IsBlockedAddr(%s) = true, want false", s)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		wantErr      string // "" means valid
	}{
		{"https://client.example/hooks/reports", false, ""},
		{"https://client.example:8443/hooks?token=abc", false, ""},
		{"https://8.8.8.8/hook", false, ""},
		{"https://[2606:4700:4700::1111]/hook", false, ""},
		{"HTTPS://Client.Example/hook", false, ""},
		{"http://client.example/hook", false, "scheme must be https"},
		{"http://client.example/hook", true, ""},
		{"http://127.0.0.1:8080/hook", true, ""},
		{"http://localhost:8080/hook", true, ""},
		{"https://127.0.0.1/hook", false, "not public"},
		{"https://10.1.2.3/hook", false, "not public"},
		{"https://169.254.169.254/latest/meta-data", false, "not public"},
		{"https://[::1]/hook", false, "not public"},
		{"https://[::ffff:127.0.0.1]/hook", false, "not public"},
		{"https://[fe80::1%25eth0]/hook", false, "not public"},
		{"https://[fd00:ec2::254]/hook", false, "not public"},
		{"https://0.0.0.0/hook", false, "not public"},
		{"ftp://client.example/hook", false, "scheme must be https"},
		{"javascript:alert(1)", true, "scheme must be http or https"},
		{"https:client.example", false, "no host"},
		{"https:///hook", false, "no host"},
		{"https://:443/hook", false, "no host"},
		{"/hooks/reports", false, "scheme must be https"},
		{"client.example/hook", false, "scheme must be https"},
		{"", false, "scheme must be https"},
		{"https://user:pass@client.example/hook", false, "user info"},
		{"https://user@client.example/hook", true, "user info"},
		{"https://client.example:0/hook", false, "invalid port"},
		{"https://client.example:70000/hook", false, "invalid port"},
		{"https://client.example:abc/hook", false, "malformed URL"},
		{"https://client .example/hook", false, "malformed URL"},
		{"https://client.example/\x7f", false, "malformed URL"},
		{"https://client.example/" + strings.Repeat("a", 2100), false, "longer than"},
	} {
		err := ValidateURL(tc.url, tc.allowPrivate)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateURL(%.60q, %t) = %v, want nil", tc.url, tc.allowPrivate, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("ValidateURL(%.60q, %t) = nil, want an error containing %q", tc.url, tc.allowPrivate, tc.wantErr)
		case err != nil && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("ValidateURL(%.60q, %t) = %q, want it to contain %q", tc.url, tc.allowPrivate, err, tc.wantErr)
		case err != nil && !errors.Is(err, ErrBlocked):
			t.Errorf("ValidateURL(%.60q, %t) = %v, want it to wrap ErrBlocked", tc.url, tc.allowPrivate, err)
		case err != nil && strings.Contains(err.Error(), "pass@"):
			t.Errorf("ValidateURL error %q repeats the URL's credentials", err)
		}
	}
}
