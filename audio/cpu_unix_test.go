//go:build unix

package audio

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user+system) used so far by this process and its
// waited-for children (the lame processes).
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
