package gateway

import "strings"

// suggest returns the choice that s most likely misspells, or "" when none
// is close. It catches what people get wrong in hand-written JSON: letter
// case ("baseURL"), a letter or two ("rewritePatern") and a shortened word
// ("UrlForward"). When two choices fit equally well it gives no guess,
// since a wrong suggestion is worse than none.
func suggest(s string, choices ...string) string {
	ls := strings.ToLower(s)
	if len(ls) < 3 || len(ls) > 64 {
		return ""
	}
	best, bestScore, tie := "", 4, false
	for _, c := range choices {
		lc := strings.ToLower(c)
		score := 4
		switch {
		case ls == lc:
			score = 0
		case editDistance(ls, lc) <= 2:
			score = editDistance(ls, lc)
		case len(ls) >= 5 && strings.Contains(lc, ls):
			score = 3
		}
		switch {
		case score < bestScore:
			best, bestScore, tie = c, score, false
		case score == bestScore && score < 4:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes. The
// callers only compare short keys, so the quadratic cost does not matter.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
