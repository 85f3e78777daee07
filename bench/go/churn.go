// SPDX-License-Identifier: MIT
//
// churn - Go counterpart of bench/churn.c: 2^17 slots, each step replaces
// a random slot with a new 16..512-byte object (half pointer-free: []byte,
// half with pointers: []*byte).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const slots = 1 << 17

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
