// SPDX-License-Identifier: MIT
//
// kmod-scavenge-go: the kmod-scavenge scenario under Go's own policy, for
// comparison.  8 MiB live, 256 MiB allocated, touched, dropped and collected
// (runtime.GC) at t0; then the time until the heap memory Go retains
// (HeapSys - HeapReleased, what gcheap's resident_bytes measures) is at Go's
// retained target: heap goal + 10% (GOGC=100 with 8 MiB live: goal 16 MiB,
// so 17.6 MiB).  Rss is printed too; it keeps the runtime's own metadata.
// Go's background scavenger paces itself to about 1% of the CPU (Go 1.19:
// scavengePercent = 1, of GOMAXPROCS CPUs: 2% of one CPU in a 2-vCPU guest).
//
// CPU: Go 1.19 does not expose its scavenger's CPU time, so it is estimated
// from the process's: CPU from the end of the runtime.GC() at t0 until the
// target (the scavenger, plus the polling loop), minus what the same polling
// loop costs afterwards for as long with nothing left to scavenge.  Polling
// reads runtime/metrics, which does not stop the world (ReadMemStats would).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const mib = 1 << 20

func rssKiB() int64 {
	return smapsKiB("Rss:")
}

// smapsKiB reads one field of /proc/self/smaps_rollup, in KiB.
func smapsKiB(key string) int64 {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, key) {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return -1
}

var live [][]byte

// cpuNs is the process's user + system CPU time.
func cpuNs() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// retained reads HeapSys - HeapReleased without stopping the world:
// heap objects + unused span space + free, not yet released, pages.
var samples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
}

func retained() uint64 {
	metrics.Read(samples)
	var n uint64
	for _, s := range samples {
		n += s.Value.Uint64()
	}
	return n
}

// poll waits until the retained heap is at most target (or for d if target
// is 0), polling every 5 ms for the first fast of it and every 50 ms after;
// returns how long it waited.  (Under TCG a 5 ms poll costs this process
// about a fifth of a CPU, which would bury the scavenger's 2%: fast is 0
// for the measured run.)
func poll(target uint64, d, fast time.Duration) time.Duration {
	t0 := time.Now()
	for {
		r := retained()
		if (target != 0 && r <= target) || time.Since(t0) > d {
			return time.Since(t0)
		}
		if time.Since(t0) < fast {
			time.Sleep(5 * time.Millisecond)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

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
	// with THP "always" the heap sits in 2 MiB pages, which are freed whole
	thp := smapsKiB("AnonHugePages:")
	big = nil
	const target = 16 * mib / 10 * 11
	t0 := time.Now()
	c0 := cpuNs()
	runtime.GC()
	c1 := cpuNs()
	waited := poll(target, 600*time.Second, 0)
	c2 := cpuNs()
	elapsed := time.Since(t0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// the polling loop alone, as long as the run (at least 1 s, at most
	// 10 s), scaled to the run's length
	d := waited
	if d < time.Second {
		d = time.Second
	} else if d > 10*time.Second {
		d = 10 * time.Second
	}
	c4 := cpuNs()
	d = poll(0, d, 0)
	pollNs := float64(cpuNs()-c4) / float64(d) * float64(waited)
	scav := float64(c2-c1) - pollNs
	fmt.Printf("go-%s-bgscavenger      %9.3f s  cpu: gc %.1f ms, then %.1f ms (polling ~%.1f ms) => scavenger ~%.1f ms (%.2f%% of one CPU); retained heap %d KiB (target %d), Rss %d -> %d KiB (runtime alone %d, in THP at peak %d), NumGC %d\n",
		runtime.Version(), elapsed.Seconds(),
		float64(c1-c0)/1e6, float64(c2-c1)/1e6, pollNs/1e6, scav/1e6,
		scav/float64(waited)*100,
		(ms.HeapSys-ms.HeapReleased)>>10, target>>10, peak, rssKiB(), base,
		thp, ms.NumGC)
	runtime.KeepAlive(live)
}
