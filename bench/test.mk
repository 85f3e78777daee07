# SPDX-License-Identifier: MIT
# bench's tests (included by bench/Makefile; scripts/check runs `make -C
# bench test` in its host phase):
#   test   build tests/heapshape.c (a heap of known shape, against
#          libgcheap.a: what gcbench needs, no Go), then tests/heapplot_test:
#          heapplot on its GCHEAP_TRACE=heap log, checked as data; ends
#          "N passed, N failed".  Outputs in $(OUT)/tests.
TEST_OUT := $(OUT)/tests

.PHONY: test
test: $(TEST_OUT)/heapshape
	timeout -k 10 300 ./tests/heapplot_test $(TEST_OUT)/heapshape $(TEST_OUT)

$(TEST_OUT)/heapshape: tests/heapshape.c $(LIB)
	@mkdir -p $(TEST_OUT)
	$(CC) $(CFLAGS) $(WARN) $(INC) -pthread $< $(LIB) -o $@
