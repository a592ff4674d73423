package team

import (
	"net/http/httptest"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestTokenAuth(t *testing.T) {
	users := newMemStore()
	users.tokens["ctm_ann"] = "ann"
	for _, tc := range []struct {
		name     string
		resolver TokenResolver
		admin    string
		header   string
		want     Principal
		code     string
	}{
		{"Admin", users, "s3cret", "Bearer s3cret", Principal{Admin: true}, ""},
		{"AdminSchemeCase", users, "s3cret", "bearer s3cret", Principal{Admin: true}, ""},
		{"User", users, "s3cret", "Bearer ctm_ann", Principal{User: "ann"}, ""},
		{"UserWithoutAdminToken", users, "", "Bearer ctm_ann", Principal{User: "ann"}, ""},
		{"WrongToken", users, "s3cret", "Bearer nope", Principal{}, usage.EUNAUTHORIZED},
		{"AdminPrefix", users, "s3cret", "Bearer s3cre", Principal{}, usage.EUNAUTHORIZED},
		{"EmptyAdminNeverMatches", nil, "", "Bearer x", Principal{}, usage.EUNAUTHORIZED},
		{"NoHeader", users, "s3cret", "", Principal{}, usage.EUNAUTHORIZED},
		{"BasicScheme", users, "s3cret", "Basic czNjcmV0", Principal{}, usage.EUNAUTHORIZED},
		{"EmptyBearer", users, "s3cret", "Bearer  ", Principal{}, usage.EUNAUTHORIZED},
		{"NoResolver", nil, "s3cret", "Bearer ctm_ann", Principal{}, usage.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, err := TokenAuth(tc.resolver, tc.admin)(r)
			if code := usage.ErrorCode(err); code != tc.code {
				t.Fatalf("auth(%q) error = %v (code %q), want code %q", tc.header, err, code, tc.code)
			}
			if got != tc.want {
				t.Errorf("auth(%q) = %+v, want %+v", tc.header, got, tc.want)
			}
		})
	}
}
