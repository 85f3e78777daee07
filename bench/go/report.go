// SPDX-License-Identifier: MIT
//
// report - the one result line every Go benchmark prints, in the same
// key=value shape as the C benchmarks' so gcrun parses them alike.  Built
// into each benchmark beside its own file (see ../gcbench.mk).
package main

import (
	"fmt"
	"runtime"
	"sort"
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
	// pause_p99_ms: the 99th percentile (nearest rank) of the pauses the
	// runtime keeps, the last 256 (MemStats.PauseNs is that ring); each
	// entry is one cycle's stop-the-world pauses added up, as PauseTotalNs
	p99 := 0.0
	if n > 0 {
		p := append([]uint64(nil), ms.PauseNs[:n]...)
		sort.Slice(p, func(i, j int) bool { return p[i] < p[j] })
		p99 = float64(p[(n*99+99)/100-1]) / 1e6
	}
	cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	fmt.Printf("bench=%s alloc=go wall_s=%.2f cpu_s=%.2f maxrss_mb=%.1f gcs=%d "+
		"pause_total_ms=%.1f pause_max_ms=%.2f pause_p99_ms=%.2f variant=\"%s GOMAXPROCS=%d\" %s\n",
		bench, time.Since(t0).Seconds(), cpu, float64(ru.Maxrss)/1024, ms.NumGC,
		float64(ms.PauseTotalNs)/1e6, float64(max)/1e6, p99, runtime.Version(),
		runtime.GOMAXPROCS(0), extra)
}
