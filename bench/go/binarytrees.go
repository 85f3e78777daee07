// SPDX-License-Identifier: MIT
//
// binarytrees - Go counterpart of bench/binarytrees.c: the same algorithm,
// single goroutine, default depth 21, and the same report line.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

type node struct{ left, right *node }

func bottomUp(d int) *node {
	if d <= 0 {
		return &node{}
	}
	return &node{bottomUp(d - 1), bottomUp(d - 1)}
}

func (n *node) check() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func main() {
	max, min := 21, 4
	if len(os.Args) > 1 {
		max, _ = strconv.Atoi(os.Args[1])
	}
	t0 := time.Now()
	fmt.Printf("stretch tree of depth %d\t check: %d\n", max+1, bottomUp(max+1).check())
	long := bottomUp(max)
	total := 0
	for d := min; d <= max; d += 2 {
		iters := 1 << uint(max-d+min)
		c := 0
		for i := 0; i < iters; i++ {
			c += bottomUp(d).check()
		}
		total += c
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iters, d, c)
	}
	fmt.Printf("long lived tree of depth %d\t check: %d\n", max, long.check())
	report("binarytrees", t0, fmt.Sprintf("depth=%d check=%d", max, total))
}
