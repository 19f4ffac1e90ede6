// Package edge is certbind's edge service. It is built in later work (see the
// design in DESIGN.md); this module exists now so the workspace layout is final.
package edge
