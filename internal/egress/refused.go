package egress

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Rule says which rule of the policy refused an address.
type Rule int

const (
	// RuleBuiltin is a built-in denial: link-local, cloud metadata,
	// unspecified, multicast or broadcast. No flag lifts it.
	RuleBuiltin Rule = iota + 1
	// RuleOwn is an address of the edge's own listeners or of the control
	// plane.
	RuleOwn
	// RuleDeny is a range of --backend-deny.
	RuleDeny
	// RuleLoopback is loopback, which is refused unless --backend-allow
	// covers it.
	RuleLoopback
)

// String names the rule in a word, for a log field or a metric label.
func (r Rule) String() string {
	switch r {
	case RuleBuiltin:
		return "builtin"
	case RuleOwn:
		return "own"
	case RuleDeny:
		return "deny"
	case RuleLoopback:
		return "loopback"
	}
	return "Rule(" + strconv.Itoa(int(r)) + ")"
}

// RefusedError reports an address the policy does not let the edge
// connect to. Nothing was sent to it.
type RefusedError struct {
	// Host is the name that resolved to Addr, or "" when an address was
	// dialled as such.
	Host string
	// Addr is the address refused, as it would have been dialled. Only its
	// port is set when Host was refused as it is named, before a lookup.
	Addr netip.AddrPort
	Rule Rule
	// Reason says what the address is, e.g. "link-local address",
	// "the edge's own listener --admin-listen" or "denied by
	// --backend-deny 10.0.0.0/8".
	Reason string
}

func (e *RefusedError) Error() string {
	var target string
	switch {
	case !e.Addr.Addr().IsValid():
		// Refused by name, before any lookup.
		target = net.JoinHostPort(e.Host, strconv.Itoa(int(e.Addr.Port())))
	case e.Host != "":
		target = strconv.Quote(e.Host) + " (" + e.Addr.String() + ")"
	default:
		target = e.Addr.String()
	}
	return fmt.Sprintf("connection to %s refused by the edge's egress policy: %s%s", target, e.Reason, e.hint())
}

// hint says what to change, for the rules whose reason does not say it.
func (e *RefusedError) hint() string {
	switch e.Rule {
	case RuleBuiltin:
		return "; no flag allows it (point the route at the backend's own address)"
	case RuleOwn:
		return "; a route must not lead back to the edge or its control plane (point it at the backend)"
	case RuleDeny:
		return " (point the route at an allowed backend, or take the range out of --backend-deny)"
	}
	return ""
}
