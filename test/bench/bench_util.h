// Measurements the hand-run benchmarks share: a process's CPU time and percentiles of latency
// samples.
#ifndef SIGSHIM_TEST_BENCH_BENCH_UTIL_H_
#define SIGSHIM_TEST_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <vector>

namespace sigshim::bench {

// Returns the CPU time (user + system) process `pid` has used so far, in microseconds, read from
// /proc/<pid>/stat; 0 when the process is gone or the file cannot be parsed. Thread-safe.
double CpuMicros(pid_t pid);

// Returns the `p`-th percentile (0 ≤ p ≤ 1) of `samples` by the nearest rank; 0 for no samples.
// Takes `samples` by value and sorts the copy.
double Percentile(std::vector<double> samples, double p);

}  // namespace sigshim::bench

#endif  // SIGSHIM_TEST_BENCH_BENCH_UTIL_H_
