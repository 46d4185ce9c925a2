package netlimit

import "testing"

func TestBudgetOf(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, 0},
		{100, 50},             // at most half is headroom
		{1024, 768},           // at least 256
		{65536, 65536 - 6553}, // a tenth
		{1 << 40, maxBudget - maxBudget/10},
	} {
		if got := budgetOf(tc.limit); got != tc.want {
			t.Errorf("budgetOf(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}
