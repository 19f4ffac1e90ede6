// Package deploytracker is certbind's deploytracker service. It is built in later work (see the
// design in DESIGN.md); this module exists now so the workspace layout is final.
package deploytracker
