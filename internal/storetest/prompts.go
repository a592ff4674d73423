package storetest

import (
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func prompt(session string, d time.Duration, text string) usage.Prompt {
	return usage.Prompt{
		Key:       session + ":" + text,
		SessionID: session,
		Project:   "/p/" + session,
		Timestamp: at(d),
		Text:      text,
	}
}

func testPrompts(t *testing.T, s usage.Store) {
	a1 := prompt("s1", time.Minute, "first ü 'quoted' \"prompt\"")
	a2 := prompt("s1", 3*time.Minute, "second")
	b1 := prompt("s0", 2*time.Minute, "other session")
	b1.User, b1.Machine = "ann@example.com", "ann-laptop"
	apply(t, s, usage.Batch{Prompts: []usage.Prompt{a2, b1}})
	// The same lines read again, one changed in between: a prompt is a
	// line of a transcript, the stored copy stays.
	again := a2
	again.Text = "changed"
	apply(t, s, usage.Batch{Prompts: []usage.Prompt{a1, again, b1}})

	for _, tc := range []struct {
		name string
		f    usage.Filter
		want []usage.Prompt
	}{
		{"All", usage.Filter{}, []usage.Prompt{b1, a1, a2}},
		{"Session", usage.Filter{SessionID: "s1"}, []usage.Prompt{a1, a2}},
		{"Project", usage.Filter{Project: "/p/s0"}, []usage.Prompt{b1}},
		{"User", usage.Filter{User: "ann@example.com"}, []usage.Prompt{b1}},
		{"Range", usage.Filter{Since: at(time.Minute + time.Millisecond), Until: at(3 * time.Minute)}, []usage.Prompt{b1}},
		{"ModelIgnored", usage.Filter{Model: "claude-opus-4-6", SessionID: "s1"}, []usage.Prompt{a1, a2}},
		{"None", usage.Filter{SessionID: "nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Prompts(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Prompts(%+v) = %+v, want %+v", tc.f, got, tc.want)
			}
			for i := range got {
				if w := tc.want[i]; !got[i].Timestamp.Equal(w.Timestamp) || !sameExceptTime(got[i], w) {
					t.Errorf("Prompts(%+v)[%d] = %+v, want %+v", tc.f, i, got[i], w)
				}
			}
		})
	}
}

func sameExceptTime(a, b usage.Prompt) bool {
	a.Timestamp, b.Timestamp = time.Time{}, time.Time{}
	return a == b
}

func testPromptsInvalid(t *testing.T, s usage.Store) {
	good := prompt("s1", 0, "kept out")
	for _, p := range []usage.Prompt{
		{SessionID: "s1", Timestamp: at(0), Text: "no key"},
		{Key: "k", SessionID: "s1", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Text: "far"},
	} {
		err := s.Apply(t.Context(), usage.Batch{Prompts: []usage.Prompt{good, p}})
		wantCode(t, "Apply(prompt "+p.Text+")", err, usage.EINVALID)
	}
	if got, err := s.Prompts(t.Context(), usage.Filter{}); err != nil || len(got) != 0 {
		t.Errorf("after rejected batches Prompts() = %v, %v; want none stored", got, err)
	}
}
