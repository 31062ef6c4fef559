package sensenet

import "strings"

// The fake's model of sensenet's default ContentNamingProvider
// (CharReplacementContentNamingProvider, FACTS.md §5.6), written apart from
// the adapter's prediction (naming.go) so that neither can hide the
// other's mistake: every character of InvalidNameCharsPattern becomes the
// ReplacementChar '-', runs of '-' collapse to one, and trailing '.' and
// '-' are trimmed from the whole name, extension included.

// fakeInvalidNameChars are the characters of the default
// InvalidNameCharsPattern.
const fakeInvalidNameChars = "$&+\\,/:;=?@\"<>#%{}|^~[]'’`*\t\r\n"

// fakeContentName is the name the server gives a content requested as
// name.
func fakeContentName(name string) string {
	var b strings.Builder
	last := rune(0)
	for _, r := range name {
		if strings.ContainsRune(fakeInvalidNameChars, r) {
			r = '-'
		}
		if r == '-' && last == '-' {
			continue
		}
		b.WriteRune(r)
		last = r
	}
	return strings.TrimRight(b.String(), ".-")
}
