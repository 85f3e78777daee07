;; SPDX-License-Identifier: MIT
;; compat-guile.scm - bench/compat-run's Guile workload: binary trees (a
;; long-lived tree of depth DEPTH beside many short-lived ones, the
;; benchmarks game's shape) and a hash table churned with strings, so
;; that most of what is allocated dies young and some lives long.
(define depth (string->number (or (getenv "GUILE_DEPTH") "16")))
(define (make-tree d)
  (if (= d 0) (cons #f #f) (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (check t) (if (car t) (+ 1 (check (car t)) (check (cdr t))) 1))
(define long-lived (make-tree depth))
(do ((d 4 (+ d 2))) ((> d depth))
  (let ((n (expt 2 (+ (- depth d) 4))))
    (do ((i 0 (+ i 1)) (sum 0 (+ sum (check (make-tree d)))))
        ((= i n) (format #t "~a trees of depth ~a check ~a\n" n d sum)))))
(define h (make-hash-table))
(do ((i 0 (+ i 1))) ((= i 400000))
  (hash-set! h (modulo i 50000) (number->string (* i i))))
(format #t "table ~a ~a\n" (hash-count (const #t) h) (hash-ref h 4242))
(format #t "long lived tree of depth ~a check ~a\n" depth (check long-lived))
