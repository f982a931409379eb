package access

import "testing"

func TestAllowsMatrix(t *testing.T) {
	want := map[Role]map[Action]bool{
		Owner:    {View: true, ReadEvents: true, ReadClips: true, Command: true, Arm: true, Share: true, Configure: true, Manage: true},
		Admin:    {View: true, ReadEvents: true, ReadClips: true, Command: true, Arm: true, Share: true, Configure: true},
		Operator: {View: true, ReadEvents: true, ReadClips: true, Command: true, Arm: true},
		Viewer:   {View: true, ReadEvents: true, ReadClips: true},
		None:     {},
		"bogus":  {},
	}
	for role, allowed := range want {
		for _, a := range Actions {
			if got := Allows(role, a); got != allowed[a] {
				t.Errorf("Allows(%q, %q) = %v, want %v", role, a, got, allowed[a])
			}
		}
		if Allows(role, "bogus") {
			t.Errorf("Allows(%q, bogus) = true", role)
		}
	}
}
