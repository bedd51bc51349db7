package doorlog_test

import (
	"testing"

	"github.com/doorlog/doorlog/internal/doorlog"
)

func TestScopeConfines(t *testing.T) {
	every := doorlog.Scope{All: true}
	ab := doorlog.Scope{SiteIDs: []string{"a", "b"}}
	a := doorlog.Scope{SiteIDs: []string{"a"}}
	tests := []struct {
		name  string
		scope doorlog.Scope
		tok   doorlog.Token
		site  string // the device's site, for a device token
		want  bool
	}{
		{"every site confines an admin of every site", every, doorlog.Token{Role: doorlog.RoleAdmin}, "", true},
		{"sites do not confine an admin of every site", ab, doorlog.Token{Role: doorlog.RoleAdmin}, "", false},
		{"an admin of a subset", ab, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{"b"}}, "", true},
		{"a manager of the same sites", ab, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"b", "a"}}, "", true},
		{"a manager reaching outside", a, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"a", "b"}}, "", false},
		{"a manager without sites", a, doorlog.Token{Role: doorlog.RoleManager}, "", false},
		{"a device of a site in scope", a, doorlog.Token{Role: doorlog.RoleDevice, DeviceID: "d"}, "a", true},
		{"a device of another site", a, doorlog.Token{Role: doorlog.RoleDevice, DeviceID: "d"}, "b", false},
		{"a device of an unknown site", a, doorlog.Token{Role: doorlog.RoleDevice, DeviceID: "d"}, "", false},
		{"no scope confines nothing", doorlog.Scope{}, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"a"}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scope.Confines(&tt.tok, tt.site); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
