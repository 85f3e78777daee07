// SPDX-License-Identifier: MIT
//
// report - the one result line every Go benchmark prints, in the same
// key=value shape as the C benchmarks' so gcrun parses them alike.  Built
// into each benchmark beside its own file (see ../gc.mk).
package main

import (
	"fmt"
	"runtime"
	"syscall"
	"time"
)

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
