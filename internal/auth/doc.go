// Package auth authenticates API keys and says what each may do.
//
// A key is a random secret shown once; certmgr keeps only its SHA-256 (the
// secret has 256 bits of entropy, so a slow hash would add nothing). The
// admin key comes from the environment and is held only in memory.
package auth
