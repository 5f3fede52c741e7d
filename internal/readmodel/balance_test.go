package readmodel

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFairShareCoversEveryPartition(t *testing.T) {
	for _, tc := range []struct{ partitions, workers, want int }{
		{8, 1, 8}, {8, 2, 4}, {8, 3, 3}, {8, 8, 1}, {8, 9, 1}, {1, 3, 1}, {16, 5, 4}, {8, 0, 8},
	} {
		got := fairShare(tc.partitions, tc.workers)
		if got != tc.want {
			t.Errorf("fairShare(%d, %d) = %d, want %d", tc.partitions, tc.workers, got, tc.want)
		}
		if got*max(tc.workers, 1) < tc.partitions {
			t.Errorf("fairShare(%d, %d) = %d leaves partitions to no one", tc.partitions, tc.workers, got)
		}
	}
}

func TestSurplusGivesBackTheHighestPartitions(t *testing.T) {
	held := func(idx ...int) []lease {
		out := make([]lease, len(idx))
		for i, x := range idx {
			out[i] = lease{partition: partition{index: x, count: 8}, token: int64(10 + x)}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		held []lease
		fair int
		want []lease
	}{
		{"at its share", held(0, 1, 2, 3), 4, nil},
		{"below its share", held(5), 4, nil},
		{"all eight, share four", held(3, 7, 0, 5, 1, 6, 2, 4), 4, held(4, 5, 6, 7)},
		{"one too many", held(6, 2, 4), 2, held(6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := surplus(tc.held, tc.fair)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(lease{}, partition{}, projection{})); diff != "" {
				t.Errorf("surplus (-want +got):\n%s", diff)
			}
		})
	}
}
