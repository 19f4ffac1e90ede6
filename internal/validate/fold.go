package validate

import "unicode"

// asciiSpelling maps characters that read as ASCII letters to those letters:
// accented Latin letters to their base letter (as a person would type the
// name on a US keyboard), and the Cyrillic and Greek letters that are drawn
// exactly like a Latin one. A name is refused if it holds any of them; the
// map only lets the error suggest the ASCII name the user meant.
var asciiSpelling = func() map[rune]string {
	m := make(map[rune]string)
	for ascii, chars := range map[string]string{
		"A": "ÀÁÂÃÄÅĀĂĄǍΑАＡ", "a": "àáâãäåāăąǎаα",
		"B": "ΒВ", "b": "Ь",
		"C": "ÇĆĈĊČС", "c": "çćĉċčс",
		"D": "ĎĐ", "d": "ďđԁ",
		"E": "ÈÉÊËĒĔĖĘĚΕЕ", "e": "èéêëēĕėęěе",
		"G": "ĜĞĠĢ", "g": "ĝğġģ",
		"H": "ĤĦΗН", "h": "ĥħһ",
		"I": "ÌÍÎÏĨĪĬĮİΙІ", "i": "ìíîïĩīĭįıіι",
		"J": "ĴЈ", "j": "ĵј",
		"K": "ĶΚК", "k": "ķκ",
		"L": "ĹĻĽĿŁ", "l": "ĺļľŀł",
		"M": "ΜМ",
		"N": "ÑŃŅŇΝ", "n": "ñńņňŉ",
		"O": "ÒÓÔÕÖØŌŎŐΟО", "o": "òóôõöøōŏőοо",
		"P": "ΡР", "p": "рρ",
		"q": "ԛ",
		"R": "ŔŖŘ", "r": "ŕŗř",
		"S": "ŚŜŞŠЅ", "s": "śŝşšѕ",
		"T": "ŢŤŦΤТ", "t": "ţťŧ",
		"U": "ÙÚÛÜŨŪŬŮŰŲ", "u": "ùúûüũūŭůűų",
		"v": "ν",
		"W": "Ŵ", "w": "ŵԝ",
		"X": "ΧХ", "x": "х",
		"Y": "ÝŶŸΥҮ", "y": "ýÿŷу",
		"Z": "ŹŻŽΖ", "z": "źżž",
		"AE": "Æ", "ae": "æ", "OE": "Œ", "oe": "œ", "ss": "ß", "TH": "Þ", "th": "þ",
	} {
		for _, r := range chars {
			m[r] = ascii
		}
	}
	return m
}()

// foldRune returns the ASCII spelling of r: r itself if it is ASCII, "" if it
// is invisible (a zero-width character, a byte order mark, a soft hyphen or a
// combining mark, which only decorates the letter before it, as in NFD
// "cafe\u0301"), and ok == false if it has no ASCII reading at all.
func foldRune(r rune) (s string, ok bool) {
	switch {
	case r < unicode.MaxASCII:
		return string(r), true
	case isInvisible(r) || unicode.Is(unicode.Mn, r):
		return "", true
	case r >= '！' && r <= '～': // fullwidth forms of the printable ASCII
		return string(r - '！' + '!'), true
	}
	s, ok = asciiSpelling[r]
	return s, ok
}

// isInvisible reports whether r takes no space on screen, so that a name with
// it looks exactly like the name without it.
func isInvisible(r rune) bool {
	switch r {
	case '\u00AD', '\u034F', '\u180E', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
		return true
	}
	return false
}
