// SPDX-License-Identifier: MIT
//
// kmod-scavenge-go: the kmod-scavenge scenario under Go's own policy, for
// comparison.  8 MiB live, 256 MiB allocated, touched, dropped and collected
// (runtime.GC) at t0; then the time until the heap memory Go retains
// (HeapSys - HeapReleased, what gcheap's resident_bytes measures) is at Go's
// retained target: heap goal + 10% (GOGC=100 with 8 MiB live: goal 16 MiB,
// so 17.6 MiB).  Rss is printed too; it keeps the runtime's own metadata.
// Go's background scavenger paces itself to about 1% of the CPU (Go 1.19:
// scavengePercent = 1).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const mib = 1 << 20

func rssKiB() int64 {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "Rss:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return -1
}

var live [][]byte

func main() {
	runtime.GC()
	base := rssKiB()
	for i := 0; i < 8; i++ {
		b := make([]byte, mib)
		for j := range b {
			b[j] = 7
		}
		live = append(live, b)
	}
	big := make([][]byte, 256)
	for i := range big {
		big[i] = make([]byte, mib)
		for j := 0; j < mib; j += 4096 {
			big[i][j] = 1
		}
	}
	peak := rssKiB()
	big = nil
	const target = 16 * mib / 10 * 11
	t0 := time.Now()
	runtime.GC()
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapSys-ms.HeapReleased <= target || time.Since(t0) > 600*time.Second {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("go-%s-bgscavenger      %9.3f s  retained heap %d KiB (target %d), Rss %d -> %d KiB (runtime alone %d), NumGC %d\n",
		runtime.Version(), time.Since(t0).Seconds(),
		(ms.HeapSys-ms.HeapReleased)>>10, target>>10, peak, rssKiB(), base,
		ms.NumGC)
	runtime.KeepAlive(live)
}
