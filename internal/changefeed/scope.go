package changefeed

import "slices"

// Place is where an item lives, as far as a subscriber's scope is
// concerned: its account, project and the environment types it belongs to
// (a certificate's allowed types, a deployment's one type).
type Place struct {
	Account          string   `json:"account"`
	Project          string   `json:"project"`
	EnvironmentTypes []string `json:"environmentTypes,omitempty"`
}

// Scope is what one subscriber receives. An empty field keeps everything.
type Scope struct {
	Account, Project string
	// EnvironmentTypes keeps items of any of them.
	EnvironmentTypes []string
}

// Contains reports whether an item at p is in the scope; nil (an item that
// does not exist) is in none.
func (sc Scope) Contains(p *Place) bool {
	return p != nil &&
		(sc.Account == "" || p.Account == sc.Account) &&
		(sc.Project == "" || p.Project == sc.Project) &&
		(len(sc.EnvironmentTypes) == 0 || slices.ContainsFunc(p.EnvironmentTypes, func(t string) bool { return slices.Contains(sc.EnvironmentTypes, t) }))
}

// Transition is what a change means to one subscriber.
type Transition int

// The transitions. A change of an item neither before nor after in the
// scope means nothing to the subscriber and is not sent.
const (
	// Outside: neither before nor after the change is the item in scope.
	Outside Transition = iota
	// Stays: the item is in scope after the change and was before it, or
	// is new.
	Stays
	// Enters: the item existed outside the scope and is in it now: it is
	// new to the subscriber.
	Enters
	// Leaves: the item was in scope and is not after the change (it moved
	// out of it or is gone).
	Leaves
)

// Transit says what a change of an item from before to after (nil where
// it did not or no longer exists) means to a subscriber with this scope.
func (sc Scope) Transit(before, after *Place) Transition {
	switch {
	case sc.Contains(after) && before != nil && !sc.Contains(before):
		return Enters
	case sc.Contains(after):
		return Stays
	case sc.Contains(before):
		return Leaves
	}
	return Outside
}
