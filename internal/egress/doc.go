// Package egress decides which addresses the edge may connect to on behalf
// of a route, and dials only those.
//
// A route's baseUrl or rewritePattern is written by whoever deploys, so
// without a policy a route could send requests, with the edge's network
// position, to the edge itself (a loop), to its admin listener (whose
// /metrics would then be readable through the public port), to the control
// plane, or to a cloud metadata service that hands out the machine's
// credentials. A Policy says no to those; a Dialer applies it to the
// address it actually connects to, after name resolution, so a name that
// resolves to a refused address is caught as surely as the address itself.
//
// # Precedence
//
// An address is checked against these rules in order; the first that
// matches decides. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are checked
// as the IPv4 address they carry, and an IPv6 zone (%eth0) is ignored.
//
//  1. Built-in denials, which no flag lifts: unspecified addresses
//     (0.0.0.0/8, ::), link-local addresses (169.254.0.0/16, fe80::/10),
//     cloud metadata services (169.254.169.254, fd00:ec2::254,
//     100.100.100.200 and the others in builtins.go), multicast
//     (224.0.0.0/4, ff00::/8) and the IPv4 broadcast address. An address in
//     the NAT64 prefix 64:ff9b::/96 is also refused when the IPv4 address
//     it embeds is.
//  2. The edge's own listeners and the control plane's addresses
//     (Config.Listeners, Config.ControlPlane): the address and port of each,
//     where a listener on 0.0.0.0:P or [::]:P stands for every local
//     address with port P, loopback included.
//  3. Config.Deny (--backend-deny): refused.
//  4. Config.Allow (--backend-allow): allowed.
//  5. Loopback (127.0.0.0/8, ::1): refused. A local backend needs
//     --backend-allow 127.0.0.0/8 (or ::1/128); certbind dev passes both.
//  6. Everything else: allowed.
//
// So Deny wins over Allow where both match, and Allow only ever opens
// loopback, which is the one range refused by default; neither reaches the
// rules above them.
//
// # Errors
//
// A refusal is a *RefusedError naming the address, the rule and what to
// change. The Dialer returns it before any socket is made when the
// resolved address is refused, and its net.Dialer Control hook checks the
// address again right before connect, so no packet is ever sent to a
// refused address.
package egress
