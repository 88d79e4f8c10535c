// ThreadSanitizer's settings for every executable of the TSan build (-DSIGSHIM_TSAN=ON), so that
// ctest, a test run by hand and a daemon started by a test all run with the same ones; a
// TSAN_OPTIONS variable still overrides each.
//
//   ignore_noninstrumented_modules=1  Debian's gRPC, protobuf, abseil and libstdc++ are not built
//       with TSan: their own memory accesses are invisible, and so are the lock-free handoffs
//       inside them (gRPC's completion queues and thread pools), so the accesses they make through
//       TSan's interceptors (malloc/free, memcpy, send) would be reported as races with nothing to
//       order them. This ignores only those interceptor accesses made directly from such a
//       library; every access by sigshim's (instrumented) code is still checked, and the locks
//       those libraries take still count.
//   suppressions=test/tsan/tsan.supp  (the path is compiled in.)
//   halt_on_error=1  the first race fails the test, with its report.
//   second_deadlock_stack=1  lock-order reports show both stacks.
#ifndef SIGSHIM_TSAN_SUPPRESSIONS
#error "SIGSHIM_TSAN_SUPPRESSIONS must name test/tsan/tsan.supp"
#endif

extern "C" const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1 halt_on_error=1 second_deadlock_stack=1 "
         "suppressions=" SIGSHIM_TSAN_SUPPRESSIONS;
}
