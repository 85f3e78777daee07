// SPDX-License-Identifier: MIT
//
// churn - Go counterpart of bench/churn.c: 2^17 slots, each step replaces
// a random slot with a new 16..512-byte object (half pointer-free: []byte,
// half with pointers: []*byte).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

const slots = 1 << 17

func report(bench string, t0 time.Time, extra string) {
	var ru syscall.Rusage
	var ms runtime.MemStats
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	runtime.ReadMemStats(&ms)
	var max uint64
	n := int(ms.NumGC)
	if n > len(ms.PauseNs) {
		n = len(ms.PauseNs)
	}
	for i := 0; i < n; i++ {
		if ms.PauseNs[i] > max {
			max = ms.PauseNs[i]
		}
	}
	cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	fmt.Printf("bench=%s alloc=go wall_s=%.2f cpu_s=%.2f maxrss_mb=%.1f gcs=%d "+
		"pause_total_ms=%.1f pause_max_ms=%.2f variant=\"%s GOMAXPROCS=%d\" %s\n",
		bench, time.Since(t0).Seconds(), cpu, float64(ru.Maxrss)/1024, ms.NumGC,
		float64(ms.PauseTotalNs)/1e6, float64(max)/1e6, runtime.Version(),
		runtime.GOMAXPROCS(0), extra)
}

func main() {
	steps := 20000000
	if len(os.Args) > 1 {
		steps, _ = strconv.Atoi(os.Args[1])
	}
	t0 := time.Now()
	table := make([]interface{}, slots)
	rng := uint64(88172645463325252)
	start := time.Now()
	for i := 0; i < steps; i++ {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		slot := rng & (slots - 1)
		size := 16 + (rng>>32)%497
		if (rng>>60)&1 != 0 {
			p := make([]*byte, size/8)
			table[slot] = p
		} else {
			b := make([]byte, size)
			b[0] = byte(i)
			table[slot] = b
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(steps)
	report("churn", t0, fmt.Sprintf("ns_per_alloc=%.1f steps=%d", ns, steps))
}
