// Measurements the hand-run benchmarks share: a process's CPU time, percentiles of latency
// samples, and what a report's header names (the load, the command to reproduce it).
#ifndef SIGSHIM_TEST_BENCH_BENCH_UTIL_H_
#define SIGSHIM_TEST_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace sigshim::bench {

// Returns the CPU time (user + system) process `pid` has used so far, in microseconds, read from
// /proc/<pid>/stat; 0 when the process is gone or the file cannot be parsed. Thread-safe.
double CpuMicros(pid_t pid);

// Returns the `p`-th percentile (0 ≤ p ≤ 1) of `samples` by the nearest rank; 0 for no samples.
// Takes `samples` by value and sorts the copy.
double Percentile(std::vector<double> samples, double p);

// Returns /proc/loadavg without its newline ("?" when it cannot be read), for the header of a
// report.
std::string LoadAverage();

// Returns the running executable's path (/proc/self/exe), or `fallback` when it cannot be read:
// for the command line a report prints to reproduce it.
std::string ExecutablePath(const char* fallback);

}  // namespace sigshim::bench

#endif  // SIGSHIM_TEST_BENCH_BENCH_UTIL_H_
