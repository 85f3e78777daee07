// SPDX-License-Identifier: MIT
//
// bigheap - Go counterpart of bench/bigheap.c: pauses and per-operation
// latency on a big heap of small linked objects.
//
// What it measures and how: the same hash table as the C program -- a
// chained table of ENTRIES entries (argv[1] or env ENTRIES, default 10
// million), each entry three separately allocated objects: the entry
// {next, key, val, hash} (32 B), its key {len, hash, text [16]byte} (24 B,
// no pointers) and its value {key, entry, seq, stamp, data[2]} (48 B); the
// buckets are 64 Ki-pointer chunks found through a directory.  Then
// DURATION seconds (argv[2] or env DURATION, default 10) of operations back
// to back: look up a random entry by its key text, check it, store a new
// value (one time in eight a new key object too).  The latency of every
// operation (end of the previous one to end of this one) goes into a
// log-linear histogram (16 sub-buckets per power of two, max exact).
//
// Pauses, marking time and GC CPU come from the runtime's own gctrace
// lines (GODEBUG=gctrace=1), the only place Go 1.19 gives them per cycle:
// the program runs itself as a child with gctrace on and reads the child's
// stderr, forwarding every other line; the child prints its figures and
// the cycle numbers at which its churn began and ended.  Per cycle that
// ended during the churn: two pauses (sweep termination, mark
// termination), marking wall time (the three clock phases), GC CPU (the
// five cpu fields: Go's own accounting, pauses counted as wall x
// GOMAXPROCS, idle marking included; gc_cpu_share_mark_noidle leaves out
// the fourth, the idle workers'); all_pause* cover build and churn.  /cpu/classes/gc/total:cpu-seconds,
// which the issue names, appeared only in Go 1.20.  lib_pause_* are the
// runtime/metrics /gc/pauses:seconds histogram over the whole run (bucket
// upper bounds), as a cross-check.
//
// The result line has the keys of bigheap.c's (bg_cpu_s and maps-related
// figures where Go has them; "-" where it has none).
package main

import (
	"bufio"
	"fmt"
	"math"
	"math/bits"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ---- log-linear histogram ---------------------------------------------

const histBuckets = 1040

type hist struct {
	n, max, sum uint64
	b           [histBuckets]uint64
}

func histIndex(v uint64) int {
	if v < 16 {
		return int(v)
	}
	e := 63 - bits.LeadingZeros64(v)
	return (e-3)*16 + int((v>>(e-4))&15)
}

func histUpper(i int) uint64 {
	if i < 16 {
		return uint64(i)
	}
	e := i/16 + 3
	sub := uint64(i % 16)
	return ((16 + sub) << (e - 4)) + (uint64(1)<<(e-4) - 1)
}

func (h *hist) add(v uint64) {
	h.b[histIndex(v)]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

func (h *hist) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(h.n)))
	if want < 1 {
		want = 1
	}
	var seen uint64
	for i := range h.b {
		seen += h.b[i]
		if seen >= want {
			if u := histUpper(i); u < h.max {
				return u
			}
			return h.max
		}
	}
	return h.max
}

// ---- the table ---------------------------------------------------------

type key struct {
	n    uint32
	hash uint32
	text [16]byte
}

type val struct {
	key   *key
	entry *entry
	seq   uint64
	stamp uint64
	data  [2]uint64
}

type entry struct {
	next *entry
	key  *key
	val  *val
	hash uint64
}

const chunkShift = 16

var (
	dir      [][]*entry
	nbuckets uint64
	mask     uint64
	chunkLen uint64
	nentries uint64
	rng      uint64 = 0x2545f4914f6cdd1d
	badOps   uint64
	digits32 = "0123456789abcdefghijklmnopqrstuv"
)

func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func keyText(i uint64, out *[16]byte) int {
	x := mix64(i)
	n := 8 + int(x%9)
	k := 0
	for ; k < 8; k++ {
		out[k] = digits32[(i>>(5*uint(k)))&31]
	}
	for ; k < n; k++ {
		x >>= 5
		out[k] = digits32[x&31]
	}
	return n
}

func textHash(s []byte) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, c := range s {
		h ^= uint64(c)
		h *= 0x100000001b3
	}
	return h
}

func slot(h uint64) **entry {
	b := h & mask
	return &dir[b>>chunkShift][b&(chunkLen-1)]
}

func newKey(text *[16]byte, n int, h uint64) *key {
	k := &key{n: uint32(n), hash: uint32(h)}
	copy(k.text[:], text[:n])
	return k
}

func build() {
	nbuckets = 1
	for nbuckets < nentries {
		nbuckets <<= 1
	}
	mask = nbuckets - 1
	chunkLen = nbuckets
	if chunkLen > 1<<chunkShift {
		chunkLen = 1 << chunkShift
	}
	dir = make([][]*entry, nbuckets/chunkLen)
	for c := range dir {
		dir[c] = make([]*entry, chunkLen)
	}
	var text [16]byte
	for i := uint64(0); i < nentries; i++ {
		n := keyText(i, &text)
		h := textHash(text[:n])
		s := slot(h)
		e := &entry{hash: h, next: *s}
		k := newKey(&text, n, h)
		e.key = k
		e.val = &val{key: k, entry: e, seq: i}
		*s = e
	}
}

func lookup(text []byte, h uint64) *entry {
	for e := *slot(h); e != nil; e = e.next {
		if e.hash == h && int(e.key.n) == len(text) &&
			string(e.key.text[:e.key.n]) == string(text) {
			return e
		}
	}
	return nil
}

func rnd() uint64 {
	rng ^= rng << 13
	rng ^= rng >> 7
	rng ^= rng << 17
	return rng
}

func churnOp(seq uint64) {
	var text [16]byte
	r := rnd()
	i := r % nentries
	n := keyText(i, &text)
	h := textHash(text[:n])
	e := lookup(text[:n], h)
	if e == nil {
		badOps++
		return
	}
	k := e.key
	if e.val.entry != e || e.val.key != k || k.hash != uint32(h) {
		badOps++
	}
	if r>>61 == 0 { // one time in eight: a new key too
		k = newKey(&text, n, h)
		e.key = k
	}
	e.val = &val{key: k, entry: e, seq: seq, stamp: r, data: [2]uint64{i, 0}}
}

func check() uint64 {
	var bad, seen uint64
	for b := uint64(0); b < nbuckets; b++ {
		for e := dir[b>>chunkShift][b&(chunkLen-1)]; e != nil; e = e.next {
			seen++
			k, v := e.key, e.val
			if e.hash&mask != b || k == nil || v == nil || k.n < 8 || k.n > 16 ||
				k.hash != uint32(e.hash) || textHash(k.text[:k.n]) != e.hash ||
				v.entry != e || v.key != k {
				bad++
			}
		}
	}
	if seen > nentries {
		return bad + seen - nentries
	}
	return bad + nentries - seen
}

// ---- the child: the benchmark itself ------------------------------------

func argU64(i int, env string, def uint64) uint64 {
	s := os.Getenv(env)
	if i < len(os.Args) {
		s = os.Args[i]
	}
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		fmt.Fprintf(os.Stderr, "bigheap: bad %s '%s'\n", env, s)
		os.Exit(2)
	}
	return v
}

func readMetrics() (cycles uint64, pauses *metrics.Float64Histogram) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/pauses:seconds"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Float64Histogram()
}

func countMaps() int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return -1
	}
	return strings.Count(string(b), "\n")
}

func maxMapCount() string {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return "-1"
	}
	return strings.TrimSpace(string(b))
}

func child() {
	nentries = argU64(1, "ENTRIES", 10000000)
	duration := argU64(2, "DURATION", 10)
	t0 := time.Now()
	build()
	built := time.Since(t0)
	var bru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &bru)

	c0, _ := readMetrics()
	var opH hist
	var ops uint64
	base := time.Now()
	end := int64(duration) * 1e9
	prev := int64(0)
	for {
		churnOp(ops)
		t := int64(time.Since(base))
		opH.add(uint64(t - prev))
		prev = t
		ops++
		if t >= end {
			break
		}
	}
	c1, ph := readMetrics()
	churnS := float64(prev) / 1e9

	bad := check() + badOps
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6

	// the runtime's own pause record, whole run
	var pn uint64
	for _, c := range ph.Counts {
		pn += c
	}
	libMax, libP99 := 0.0, 0.0
	var seen uint64
	for i, c := range ph.Counts {
		if c == 0 {
			continue
		}
		seen += c
		up := ph.Buckets[i+1]
		if math.IsInf(up, 1) {
			up = ph.Buckets[i]
		}
		if libP99 == 0 && float64(seen) >= math.Ceil(0.99*float64(pn)) {
			libP99 = up
		}
		libMax = up
	}
	chk := "ok"
	if bad != 0 {
		chk = fmt.Sprintf("bad:%d", bad)
	}
	tableMB := float64(nentries)*(32+24+48)/1048576 + float64(nbuckets)*8/1048576
	ncpu := runtime.GOMAXPROCS(0)
	fmt.Fprintf(os.Stderr, "bigheap-churn: %d %d %.6f %d\n", c0, c1, churnS, ncpu)
	fmt.Fprintf(os.Stderr, "bigheap-result-a: bench=bigheap alloc=go entries=%d duration_s=%d "+
		"build_s=%.2f churn_s=%.2f wall_s=%.2f cpu_s=%.2f maxrss_mb=%.1f "+
		"build_maxrss_mb=%.1f table_mb=%.1f\n",
		nentries, duration, built.Seconds(), churnS, time.Since(t0).Seconds(), cpu,
		float64(ru.Maxrss)/1024, float64(bru.Maxrss)/1024, tableMB)
	fmt.Fprintf(os.Stderr, "bigheap-result-b: ops=%d mops=%.3f op_p50_us=%.3f op_p99_us=%.3f "+
		"op_p999_us=%.3f op_max_us=%.1f gcs=%d gcs_total=%d\n",
		ops, float64(ops)/churnS/1e6, float64(opH.quantile(0.5))/1e3,
		float64(opH.quantile(0.99))/1e3, float64(opH.quantile(0.999))/1e3,
		float64(opH.max)/1e3, c1-c0, c1)
	fmt.Fprintf(os.Stderr, "bigheap-result-c: lib_pause_p99_ms=%.3f lib_pause_max_ms=%.3f\n",
		libP99*1e3, libMax*1e3)
	fmt.Fprintf(os.Stderr, "bigheap-result-d: maps=%d max_map_count=%s check=%s "+
		"variant=\"%s GOMAXPROCS=%d\"\n", countMaps(), maxMapCount(), chk,
		runtime.Version(), ncpu)
	if bad != 0 {
		os.Exit(1)
	}
}

// ---- the parent: run the child with gctrace on, read its stderr ---------

type cycle struct {
	n                     uint64
	sweepTerm, mark, term float64 // ms, clock
	cpu                   float64 // ms
	idle                  float64 // ms of cpu: idle-time marking
	live                  float64 // MB
}

// "gc 7 @2.104s 3%: 0.021+1.8+0.012 ms clock, 0.020+0.1/1.8/0+0.011 ms cpu, 9->9->4 MB, ..."
func parseTrace(line string) (cycle, bool) {
	var c cycle
	f := strings.Fields(line)
	if len(f) < 11 || f[0] != "gc" || f[5] != "ms" || f[6] != "clock," || f[9] != "cpu," {
		return c, false
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return c, false
	}
	c.n = n
	clk := strings.Split(f[4], "+")
	if len(clk) != 3 {
		return c, false
	}
	var v [3]float64
	for i, s := range clk {
		if v[i], err = strconv.ParseFloat(s, 64); err != nil {
			return c, false
		}
	}
	c.sweepTerm, c.mark, c.term = v[0], v[1], v[2]
	// sweep termination + assist/background/idle + mark termination
	parts := strings.FieldsFunc(f[7], func(r rune) bool { return r == '+' || r == '/' })
	for _, part := range parts {
		x, err := strconv.ParseFloat(part, 64)
		if err != nil {
			return c, false
		}
		c.cpu += x
	}
	if len(parts) == 5 {
		c.idle, _ = strconv.ParseFloat(parts[3], 64)
	}
	if heap := strings.Split(f[10], "->"); len(heap) == 3 {
		c.live, _ = strconv.ParseFloat(heap[2], 64)
	}
	return c, true
}

func parent() int {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	godebug := os.Getenv("GODEBUG")
	fwdGC := strings.Contains(godebug, "gctrace=1")
	if godebug != "" {
		godebug += ","
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), "BIGHEAP_GO_CHILD=1", "GODEBUG="+godebug+"gctrace=1")
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	errp, err := cmd.StderrPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigheap:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bigheap:", err)
		return 2
	}
	var cycles []cycle
	var res [4]string
	var c0, c1 uint64
	var churnS float64
	var ncpu int
	churnSeen := false
	sc := bufio.NewScanner(errp)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := parseTrace(line); ok {
			cycles = append(cycles, c)
			if fwdGC {
				fmt.Fprintln(os.Stderr, line)
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "bigheap-churn: "):
			if _, err := fmt.Sscanf(line[15:], "%d %d %f %d", &c0, &c1, &churnS, &ncpu); err == nil {
				churnSeen = true
			}
		case strings.HasPrefix(line, "bigheap-result-") && len(line) > 18 &&
			line[15] >= 'a' && line[15] <= 'd' && line[16] == ':':
			res[line[15]-'a'] = line[18:]
		default:
			fmt.Fprintln(os.Stderr, line)
		}
	}
	werr := cmd.Wait()
	rc := 0
	if werr != nil {
		rc = 1
		if ee, ok := werr.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			rc = ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bigheap: go child:", werr)
	}
	if !churnSeen || res[0] == "" || res[3] == "" {
		if rc == 0 {
			rc = 1
		}
		return rc
	}

	var ph, pall hist
	var markNs, gcCPU, idleCPU float64
	var nmark uint64
	live := "-"
	for _, c := range cycles {
		if c.n > c1 {
			continue
		}
		pall.add(uint64(c.sweepTerm * 1e6))
		pall.add(uint64(c.term * 1e6))
		if c.n <= c0 {
			continue
		}
		nmark++
		ph.add(uint64(c.sweepTerm * 1e6))
		ph.add(uint64(c.term * 1e6))
		markNs += (c.sweepTerm + c.mark + c.term) * 1e6
		gcCPU += c.cpu * 1e6
		idleCPU += c.idle * 1e6
		live = fmt.Sprintf("%.1f", c.live)
	}
	shareMark, shareNoIdle := "-", "-"
	if markNs > 0 {
		shareMark = fmt.Sprintf("%.3f", gcCPU/(markNs*float64(ncpu)))
		shareNoIdle = fmt.Sprintf("%.3f", (gcCPU-idleCPU)/(markNs*float64(ncpu)))
	}
	fmt.Printf("%s live_mb=%s %s pauses=%d pause_p50_ms=%.3f pause_p99_ms=%.3f "+
		"pause_max_ms=%.3f all_pauses=%d all_pause_p99_ms=%.3f all_pause_max_ms=%.3f "+
		"%s gc_cpu_s=%.3f bg_cpu_s=- mark_wall_s=%.3f mark_cycles=%d "+
		"gc_cpu_share_wall=%.3f gc_cpu_share_mark=%s gc_cpu_share_mark_noidle=%s %s\n",
		res[0], live, res[1], ph.n, float64(ph.quantile(0.5))/1e6,
		float64(ph.quantile(0.99))/1e6, float64(ph.max)/1e6, pall.n,
		float64(pall.quantile(0.99))/1e6, float64(pall.max)/1e6, res[2], gcCPU/1e9,
		markNs/1e9, nmark, gcCPU/(churnS*1e9*float64(ncpu)), shareMark, shareNoIdle, res[3])
	return rc
}

func main() {
	if os.Getenv("BIGHEAP_GO_CHILD") == "1" {
		child()
		return
	}
	os.Exit(parent())
}
