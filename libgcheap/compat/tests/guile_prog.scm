;; SPDX-License-Identifier: MIT
;; guile_prog - guile_test's program: every line it prints is deterministic
;; (the same on Debian's libgc and on ours), so the two runs must match.
(use-modules (ice-9 threads))
(define (make-tree d)
  (if (= d 0) (cons #f #f) (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (check t) (if (car t) (+ 1 (check (car t)) (check (cdr t))) 1))
;; binary trees: a long-lived tree beside 300 short-lived ones
(define long-lived (make-tree 16))
(display (let loop ((i 0) (sum 0))
           (if (< i 300) (loop (+ i 1) (+ sum (check (make-tree 13)))) sum)))
(newline)
;; a hash table of strings, vectors and bignums
(define h (make-hash-table))
(do ((i 0 (+ i 1))) ((= i 100000))
  (hash-set! h i (vector (number->string i) (expt 3 (modulo i 200)))))
(display (vector-ref (hash-ref h 77777) 0)) (newline)
(display (modulo (vector-ref (hash-ref h 199) 1) 1000007)) (newline)
;; weak keys: entries whose keys are dropped go (the count is not printed:
;; conservative scanning may keep a few), entries whose keys live stay
(define kept (map (lambda (i) (list i)) (iota 1000)))
(define wk (make-weak-key-hash-table))
(for-each (lambda (k) (hashq-set! wk k (car k))) kept)
(do ((i 0 (+ i 1))) ((= i 50000)) (hashq-set! wk (list i) i))
(gc) (gc)
(define live (hash-fold (lambda (k v acc) (+ acc 1)) 0 wk))
(display (and (>= live 1000) (< live 51000))) (newline)
(display (apply + (map (lambda (k) (hashq-ref wk k 0)) kept))) (newline)
;; guardians: dropped objects come back through them
(define g (make-guardian))
(do ((i 0 (+ i 1))) ((= i 1000)) (g (make-string 100 #\x)))
(gc) (gc) (gc)
(define back (let loop ((n 0)) (if (g) (loop (+ n 1)) n)))
(display (> back 900)) (newline)
;; threads allocating at once
(display (apply + (par-map (lambda (i) (check (make-tree 12))) (iota 8))))
(newline)
(display (check long-lived)) (newline)
(display (> (assq-ref (gc-stats) 'gc-times) 5)) (newline)
(display "done") (newline)
