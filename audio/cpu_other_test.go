//go:build !unix

package audio

import "time"

// cpuTime is not measured on this platform; the xRT_cpu metric reads 0.
func cpuTime() time.Duration { return 0 }
