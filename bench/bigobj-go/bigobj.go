// SPDX-License-Identifier: MIT
//
// bigobj - Go counterpart of bench/bigobj.c: ROUNDS rounds of one OBJ_MiB
// []byte (zeroed, noscan), a byte written in every 4 KiB page and read
// back, then dropped; mode "gc" calls runtime.GC() after each round, "auto"
// leaves it to the pacer (GOGC as set).  Prints the same one line.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"
)

var sink []byte

//go:noinline
func roundOnce(n int, r int) bool {
	p := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		p[i] = byte(r + i/4096)
	}
	ok := 0
	for i := 0; i < n; i += 4096 {
		if p[i] == byte(r+i/4096) {
			ok++
		}
	}
	sink = p
	sink = nil
	return ok == (n+4095)/4096
}

func main() {
	mode, mb, rounds := "gc", 1024, 6
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if len(os.Args) > 2 {
		mb, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		rounds, _ = strconv.Atoi(os.Args[3])
	}
	times := make([]float64, rounds)
	allOK := true
	t0 := time.Now()
	for r := 0; r < rounds; r++ {
		t := time.Now()
		allOK = roundOnce(mb<<20, r) && allOK
		if mode == "gc" {
			runtime.GC()
		}
		times[r] = time.Since(t).Seconds()
	}
	wall := time.Since(t0).Seconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	rest := append([]float64(nil), times[1:]...)
	sort.Float64s(rest)
	ok := 0
	if allOK {
		ok = 1
	}
	fmt.Printf("bench=bigobj alloc=go variant=%s mode=%s obj_mb=%d rounds=%d "+
		"wall_s=%.2f first_round_s=%.2f round_s=%.2f gcs=%d maxrss_mb=%d ok=%d\n",
		runtime.Version(), mode, mb, rounds, wall, times[0],
		rest[(rounds-1)/2], ms.NumGC, ru.Maxrss/1024, ok)
	if !allOK {
		os.Exit(1)
	}
}
