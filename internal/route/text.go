package route

// charCount counts the characters of s, counting each stray byte as one.
func charCount(s string) int {
	n := 0
	for range s {
		n++
	}
	return n
}
