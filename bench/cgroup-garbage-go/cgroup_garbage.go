// SPDX-License-Identifier: MIT
//
// cgroup-garbage - Go counterpart of bench/cgroup-garbage.c: a live heap of
// LIVE_MiB in 1 KiB objects, then GARBAGE_MiB of 1 KiB garbage, each
// touched.  Run with GOGC=400 and GOMEMLIMIT unset inside a cgroup by
// cgroup-garbage-run; prints one line, or nothing if it is OOM-killed.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

const obj = 1024

var sink []byte

func main() {
	liveMB, garbageMB := 24, 512
	if len(os.Args) > 2 {
		liveMB, _ = strconv.Atoi(os.Args[1])
		garbageMB, _ = strconv.Atoi(os.Args[2])
	}
	t0 := time.Now()
	live := make([][]byte, liveMB*1024*1024/obj)
	for i := range live {
		live[i] = make([]byte, obj)
	}
	for i := 0; i < garbageMB*1024; i++ {
		sink = make([]byte, obj)
		sink[0] = byte(i)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("bench=cgroup alloc=go variant=\"%s GOGC=%s\" live_mb=%d "+
		"garbage_mb=%d wall_s=%.2f gcs=%d pressure_cycles=0 limit_mb=0\n",
		runtime.Version(), os.Getenv("GOGC"), liveMB, garbageMB,
		time.Since(t0).Seconds(), ms.NumGC)
	runtime.KeepAlive(live)
}
