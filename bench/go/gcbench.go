// SPDX-License-Identifier: MIT
//
// gcbench - Go counterpart of bench/gcbench.c (Ellis/Kovac/Boehm shape).
package main

import (
	"fmt"
	"os"
	"time"
)

const (
	stretchDepth = 18
	longDepth    = 16
	arraySize    = 500000
	minDepth     = 4
	maxDepth     = 16
)

type node struct {
	left, right *node
	i, j        int
}

func treeSize(i int) int { return (1 << uint(i+1)) - 1 }
func numIters(i int) int { return 2 * treeSize(stretchDepth) / treeSize(i) }

func populate(d int, n *node) {
	if d <= 0 {
		return
	}
	n.left, n.right = &node{}, &node{}
	populate(d-1, n.left)
	populate(d-1, n.right)
}

func count(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + count(n.left) + count(n.right)
}

func makeTree(d int) *node {
	if d <= 0 {
		return &node{}
	}
	return &node{left: makeTree(d - 1), right: makeTree(d - 1)}
}

var sink *node

func timeConstruction(d int) {
	n := numIters(d)
	for i := 0; i < n; i++ {
		t := &node{}
		populate(d, t)
		sink = t
	}
	for i := 0; i < n; i++ {
		sink = makeTree(d)
	}
}

func main() {
	t0 := time.Now()
	sink = makeTree(stretchDepth)
	sink = nil
	long := &node{}
	populate(longDepth, long)
	array := make([]float64, arraySize)
	for i := 0; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}
	for d := minDepth; d <= maxDepth; d += 2 {
		timeConstruction(d)
	}
	// walk the long-lived tree: it must be intact (and so stays live)
	if count(long) != treeSize(longDepth) || array[1000] != 1.0/1000 {
		fmt.Fprintln(os.Stderr, "gcbench: long-lived data lost")
		os.Exit(1)
	}
	report("gcbench", t0, "")
}
