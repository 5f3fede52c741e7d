package webhook

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
)

// ErrBlocked is wrapped by errors about a destination the SSRF guard refuses:
// a blocked address, a scheme other than https in production, or a URL that
// cannot be a webhook receiver.
var ErrBlocked = errors.New("webhook destination blocked")

// maxURLLength bounds a webhook URL; real receivers need far less.
const maxURLLength = 2048

// ValidateURL reports whether raw may be stored as a webhook URL: an absolute
// http(s) URL with a host, no user info and a valid port; https unless
// allowPrivate; and, unless allowPrivate, a literal IP host that is not in a
// blocked range. Host names are checked at dial time, after DNS resolution.
// Errors wrap [ErrBlocked] and are fit to show the client.
func ValidateURL(raw string, allowPrivate bool) error {
	if len(raw) > maxURLLength {
		return fmt.Errorf("%w: URL longer than %d characters", ErrBlocked, maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: malformed URL: %w", ErrBlocked, unwrapURLError(err))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	case u.Scheme == "http":
		return fmt.Errorf("%w: scheme must be https", ErrBlocked)
	case allowPrivate:
		return fmt.Errorf("%w: scheme must be http or https, not %.16q", ErrBlocked, u.Scheme)
	default:
		return fmt.Errorf("%w: scheme must be https, not %.16q", ErrBlocked, u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("%w: URL has no host", ErrBlocked)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URL must not contain user info", ErrBlocked)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: invalid port %.8q", ErrBlocked, p)
		}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !allowPrivate && IsBlockedAddr(ip) {
		return fmt.Errorf("%w: address %s is not public", ErrBlocked, ip)
	}
	return nil
}

// guardControl is a net.Dialer Control hook. It runs for every connection
// after DNS resolution, with the IP address about to be dialled, so neither a
// host name pointing at a private address nor DNS rebinding gets through.
func guardControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable dial address", ErrBlocked) // fail closed
	}
	if IsBlockedAddr(ap.Addr()) {
		return fmt.Errorf("%w: address %s is not public", ErrBlocked, ap.Addr())
	}
	return nil
}

// IsBlockedAddr reports whether ip must never be the destination of a webhook:
// anything that is not public unicast. That covers loopback, RFC 1918 private
// space, link-local (including the 169.254.169.254 metadata service),
// CGNAT, multicast, broadcast, unspecified, documentation, benchmarking and
// reserved ranges, IPv6 ULA (including fd00:ec2::254), site-local and
// everything outside 2000::/3. IPv4-mapped and NAT64 addresses are judged by
// the IPv4 address inside; IPv4-compatible, 6to4 and Teredo addresses, which
// are deprecated or tunnel to arbitrary IPv4, are blocked outright.
func IsBlockedAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("").Unmap() // ::ffff:a.b.c.d is IPv4 on the wire
	if ip.Is4() {
		return isBlocked4(ip)
	}
	a := ip.As16()
	switch {
	case v6(96).Contains(ip): // ::/96: unspecified, loopback, deprecated IPv4-compatible
		return true
	case v6(96, 0x64, 0xff9b).Contains(ip): // NAT64 well-known prefix (RFC 6052): judge the IPv4 inside
		return isBlocked4(netip.AddrFrom4([4]byte(a[12:16])))
	case !v6(3, 0x2000).Contains(ip): // not global unicast: ULA, link-local, site-local, multicast, reserved
		return true
	}
	for _, p := range [...]netip.Prefix{
		v6(23, 0x2001),         // 2001::/23 IETF protocol assignments, including Teredo 2001::/32 (RFC 2928, 4380)
		v6(32, 0x2001, 0x0db8), // 2001:db8::/32 documentation (RFC 3849)
		v6(16, 0x2002),         // 2002::/16 6to4, deprecated and may embed any IPv4 (RFC 3056, 7526)
		v6(20, 0x3fff),         // 3fff::/20 documentation (RFC 9637)
	} {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func isBlocked4(ip netip.Addr) bool {
	for _, p := range [...]netip.Prefix{
		v4(8, 0),             // 0.0.0.0/8 "this network", including 0.0.0.0 (RFC 791)
		v4(8, 10),            // 10.0.0.0/8 private (RFC 1918)
		v4(10, 100, 64),      // 100.64.0.0/10 CGNAT shared address space (RFC 6598)
		v4(8, 127),           // 127.0.0.0/8 loopback
		v4(16, 169, 254),     // 169.254.0.0/16 link-local, cloud metadata services (RFC 3927)
		v4(12, 172, 16),      // 172.16.0.0/12 private (RFC 1918)
		v4(24, 192, 0, 0),    // 192.0.0.0/24 IETF protocol assignments (RFC 6890)
		v4(24, 192, 0, 2),    // 192.0.2.0/24 TEST-NET-1 (RFC 5737)
		v4(24, 192, 88, 99),  // 192.88.99.0/24 6to4 relay anycast, deprecated (RFC 7526)
		v4(16, 192, 168),     // 192.168.0.0/16 private (RFC 1918)
		v4(15, 198, 18),      // 198.18.0.0/15 benchmarking (RFC 2544)
		v4(24, 198, 51, 100), // 198.51.100.0/24 TEST-NET-2 (RFC 5737)
		v4(24, 203, 0, 113),  // 203.0.113.0/24 TEST-NET-3 (RFC 5737)
		v4(4, 224),           // 224.0.0.0/4 multicast
		v4(4, 240),           // 240.0.0.0/4 reserved, including broadcast 255.255.255.255
	} {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// v4 builds a prefix from its leading octets.
func v4(bits int, octets ...byte) netip.Prefix {
	var a [4]byte
	copy(a[:], octets)
	return netip.PrefixFrom(netip.AddrFrom4(a), bits)
}

// v6 builds a prefix from its leading 16-bit groups.
func v6(bits int, groups ...uint16) netip.Prefix {
	var a [16]byte
	for i, g := range groups {
		binary.BigEndian.PutUint16(a[2*i:], g)
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), bits)
}
