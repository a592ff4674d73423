package views

// SetPerSessionPrompts sets the session count up to which Prompts reads
// prompts session by session, so that tests can take both paths, and
// returns the previous value.
func SetPerSessionPrompts(n int) int {
	old := perSessionPrompts
	perSessionPrompts = n
	return old
}
