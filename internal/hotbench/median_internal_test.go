package hotbench

import (
	"testing"
	"time"
)

func TestMedianOfRounds(t *testing.T) {
	if got := median([]float64{0.9, 0.5, 0.7}); got != 0.7 {
		t.Errorf("median of three = %v, want 0.7", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Errorf("median of four = %v, want 2 (the mean of the middle two, 2 and 3, in integer nanoseconds)", got)
	}
}
